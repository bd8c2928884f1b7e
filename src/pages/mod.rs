pub mod landing;
pub mod prejoin;
pub mod room;
