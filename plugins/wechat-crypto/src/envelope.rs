//! The WXBizMsgCrypt envelope of WeChat safe mode and WeCom callbacks:
//! `base64(AES-256-CBC(random16 ‖ u32be(len) ‖ message ‖ receive_id))`,
//! key = base64(EncodingAESKey + "="), IV = the key's first 16 bytes, padded
//! PKCS#7-style to a multiple of 32 bytes (not AES's 16: a pad byte may be up
//! to 32, which is why the padding is handled here and not by the cipher).

use aes::Aes256;
use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use std::fmt;

/// The padding block size of the envelope.
const PAD_BLOCK: usize = 32;
/// The length of an EncodingAESKey.
const KEY_CHARS: usize = 43;
/// EncodingAESKeys are 43 arbitrary base64 characters: the last one may carry
/// trailing bits a strict decoder would refuse.
const KEY_DECODER: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// Why an envelope could not be opened or a key could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// The EncodingAESKey is not 43 base64 characters decoding to 32 bytes.
    InvalidKey(String),
    /// The payload is not base64.
    InvalidBase64,
    /// The ciphertext length is not a positive multiple of the AES block.
    InvalidLength(usize),
    /// The padding after decryption is not valid (wrong key or tampering).
    InvalidPadding,
    /// The declared message length does not fit the plaintext.
    InvalidMessageLength,
    /// The message is not UTF-8.
    InvalidUtf8,
    /// The receive id in the envelope is not ours.
    ReceiveIdMismatch,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CryptoError::InvalidKey(why) => write!(f, "the EncodingAESKey is unusable: {why}"),
            CryptoError::InvalidBase64 => write!(f, "the encrypted payload is not base64"),
            CryptoError::InvalidLength(len) => write!(
                f,
                "the ciphertext is {len} bytes, not a positive multiple of 16"
            ),
            CryptoError::InvalidPadding => write!(
                f,
                "the decrypted payload has invalid padding (wrong key or tampered payload)"
            ),
            CryptoError::InvalidMessageLength => write!(
                f,
                "the decrypted payload's message length does not fit (wrong key or tampered payload)"
            ),
            CryptoError::InvalidUtf8 => write!(f, "the decrypted message is not UTF-8"),
            CryptoError::ReceiveIdMismatch => write!(
                f,
                "the payload was encrypted for another account (receive id mismatch)"
            ),
        }
    }
}

impl std::error::Error for CryptoError {}

/// Opens and seals envelopes for one account.
#[derive(Clone)]
pub struct MsgCrypt {
    key: [u8; 32],
    receive_id: String,
}

impl fmt::Debug for MsgCrypt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the key.
        f.debug_struct("MsgCrypt")
            .field("receive_id", &self.receive_id)
            .finish_non_exhaustive()
    }
}

impl MsgCrypt {
    /// Envelopes for `receive_id` (the AppID, CorpID or SuiteID) under
    /// `encoding_aes_key` (43 characters of base64 without the trailing `=`).
    pub fn new(encoding_aes_key: &str, receive_id: &str) -> Result<Self, CryptoError> {
        let trimmed = encoding_aes_key.trim();
        if trimmed.len() != KEY_CHARS {
            return Err(CryptoError::InvalidKey(format!(
                "it has {} characters; it must have {KEY_CHARS}",
                trimmed.len()
            )));
        }
        let decoded = KEY_DECODER
            .decode(format!("{trimmed}="))
            .map_err(|_| CryptoError::InvalidKey("it is not base64".into()))?;
        let key: [u8; 32] = decoded
            .try_into()
            .map_err(|_| CryptoError::InvalidKey("it does not decode to 32 bytes".into()))?;
        Ok(MsgCrypt {
            key,
            receive_id: receive_id.to_string(),
        })
    }

    /// Open an envelope: decrypt, unpad, check the receive id, return the message.
    pub fn decrypt(&self, encrypted: &str) -> Result<String, CryptoError> {
        let mut buffer = STANDARD
            .decode(encrypted.trim())
            .map_err(|_| CryptoError::InvalidBase64)?;
        if buffer.is_empty() || buffer.len() % 16 != 0 {
            return Err(CryptoError::InvalidLength(buffer.len()));
        }
        let length = buffer.len();
        let decryptor = cbc::Decryptor::<Aes256>::new(&self.key.into(), &self.iv().into());
        let plain = decryptor
            .decrypt_padded::<NoPadding>(&mut buffer)
            .map_err(|_| CryptoError::InvalidLength(length))?;
        let unpadded = unpad(plain)?;
        // random(16) ‖ u32be(len) ‖ message ‖ receive_id
        let header = unpadded
            .get(16..20)
            .ok_or(CryptoError::InvalidMessageLength)?;
        let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let message_end = 20usize
            .checked_add(length)
            .filter(|&end| end <= unpadded.len())
            .ok_or(CryptoError::InvalidMessageLength)?;
        let message = &unpadded[20..message_end];
        let receive_id = &unpadded[message_end..];
        if receive_id != self.receive_id.as_bytes() {
            return Err(CryptoError::ReceiveIdMismatch);
        }
        String::from_utf8(message.to_vec()).map_err(|_| CryptoError::InvalidUtf8)
    }

    /// Seal `message` in an envelope with the given 16 random bytes.
    pub fn encrypt(&self, message: &str, random: [u8; 16]) -> String {
        let mut plain = Vec::with_capacity(message.len() + self.receive_id.len() + 20 + PAD_BLOCK);
        plain.extend_from_slice(&random);
        plain.extend_from_slice(&(message.len() as u32).to_be_bytes());
        plain.extend_from_slice(message.as_bytes());
        plain.extend_from_slice(self.receive_id.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
        plain.resize(plain.len() + pad, pad as u8);
        let length = plain.len();
        let encryptor = cbc::Encryptor::<Aes256>::new(&self.key.into(), &self.iv().into());
        let sealed = encryptor
            .encrypt_padded::<NoPadding>(&mut plain, length)
            .expect("the buffer is padded to a multiple of the block size");
        STANDARD.encode(sealed)
    }

    /// The XML a safe-mode passive reply is wrapped in.
    pub fn reply_xml(&self, encrypt: &str, token: &str, timestamp: &str, nonce: &str) -> String {
        let signature = crate::signature(&[token, timestamp, nonce, encrypt]);
        format!(
            "<xml>\n<Encrypt><![CDATA[{encrypt}]]></Encrypt>\n<MsgSignature><![CDATA[{signature}]]></MsgSignature>\n<TimeStamp>{timestamp}</TimeStamp>\n<Nonce><![CDATA[{nonce}]]></Nonce>\n</xml>"
        )
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.key[..16]);
        iv
    }
}

/// Strip PKCS#7-style padding with a block of 32: the last byte `p` is in
/// 1..=32 and the last `p` bytes all equal `p`.
fn unpad(plain: &[u8]) -> Result<&[u8], CryptoError> {
    let &last = plain.last().ok_or(CryptoError::InvalidPadding)?;
    let pad = usize::from(last);
    if pad == 0 || pad > PAD_BLOCK || pad > plain.len() {
        return Err(CryptoError::InvalidPadding);
    }
    let (body, padding) = plain.split_at(plain.len() - pad);
    if padding.iter().any(|&b| b != last) {
        return Err(CryptoError::InvalidPadding);
    }
    Ok(body)
}

#[cfg(test)]
mod tests;
