pub mod landing;
pub mod room;
