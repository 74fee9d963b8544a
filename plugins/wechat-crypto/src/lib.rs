//! WeChat / WeCom message security, shared by tongdao's WeChat Official
//! Account and WeCom plugins:
//!
//! - [`signature`]: the SHA-1 over lexicographically sorted parts that signs
//!   webhook URLs (`signature` over token, timestamp, nonce; `msg_signature`
//!   over those plus the `Encrypt` payload);
//! - [`MsgCrypt`]: the "WXBizMsgCrypt" AES-256-CBC envelope of safe mode,
//!   with its 32-byte PKCS#7 padding and receive-id check.

mod envelope;
mod signature;

pub use envelope::{CryptoError, MsgCrypt};
pub use signature::{signature, verify_signature};
