//! Loopback emulators of the platforms' APIs: a reusable loopback HTTP server
//! and, on top of it, one emulator per platform.

pub mod http;
pub mod wechat_api;
