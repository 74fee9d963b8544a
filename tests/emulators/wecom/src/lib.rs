//! WeCom's side of the 微信客服 protocol, for tongdao's tests: the kf API
//! emulator and the callback signer.

pub mod api;
pub mod callbacks;
