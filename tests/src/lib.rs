//! Test fixtures for tongdao's end-to-end tests: loopback platform emulators
//! (the platform's side of each documented API), the platform's side of
//! webhooks (signing, sealing and sending pushes), and a harness that runs
//! the real host on loopback.
//!
//! The emulators and signers implement the protocols independently of the
//! plugins (their own signing and crypto), so a bug in a plugin cannot hide
//! behind the same bug in its test peer.

pub mod emulators;
pub mod harness;
pub mod wechat_signing;
