//! Test fixtures for tongdao's end-to-end tests: loopback platform emulators
//! (the platform's side of each documented protocol), the platform's signing
//! of webhooks, and a harness that runs the real host on loopback.
//!
//! The emulators implement the protocols independently of the plugins (their
//! own signing and crypto), so a bug in a plugin cannot hide behind the same
//! bug in its test peer.

pub mod emulators;
pub mod harness;
pub mod wechat_push;
