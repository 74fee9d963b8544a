//! 抖店's side of the open platform, for tongdao's tests:
//!
//! - [`gateway`]: a loopback emulator of the open-API gateway
//!   (`openapi-fxg.jinritemai.com`): call signatures, access tokens and their
//!   refresh, `/order/orderDetail`, rate limits and injected failures, with
//!   the platform's error codes and a log of every call;
//! - [`push`]: the message pushes the platform sends to an app's push URL —
//!   signed (MD5 or HMAC-SHA256), forged or tampered on request;
//! - [`signing`]: both signature schemes.
//!
//! Everything here is written independently of the plugin (its own signing
//! and parsing), so a bug in the plugin cannot hide behind the same bug in
//! its test peer.

pub mod gateway;
pub mod push;
pub mod signing;
