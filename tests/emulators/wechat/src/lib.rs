//! WeChat's side of the Official Account protocol, for tongdao's tests:
//!
//! - [`api`]: a loopback emulator of the API tongdao calls (tokens and
//!   客服消息) with the platform's rules and error codes;
//! - [`notices`]: its template and subscription messages (模板消息, 订阅通知);
//! - [`signing`]: the webhooks WeChat sends — signed, sealed in safe mode,
//!   forged or aged on request — and the opening of encrypted replies.
//!
//! Both implement the protocol independently of the plugins (their own
//! signing and crypto), so a bug in a plugin cannot hide behind the same bug
//! in its test peer.

pub mod api;
pub mod notices;
pub mod signing;
