pub mod chat;
pub mod files;
pub mod header;
pub mod media;
pub mod peers;
pub mod share;
pub mod strength;
pub mod wakelock;
