pub mod chat;
pub mod header;
pub mod peers;
pub mod strength;
