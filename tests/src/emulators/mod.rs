//! Loopback emulators of the platforms' APIs.

pub mod loopback;
pub mod wechat_api;
