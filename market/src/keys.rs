//! Ed25519 keys and signatures. A public key is written
//! `ed25519:<64 hex digits>`; its id is the first 16 hex digits of its
//! SHA-256. A secret key file holds `ed25519-secret:<64 hex digits>` and is
//! created readable by its owner only. Signatures are checked with
//! `verify_strict`, which refuses malleable signatures and weak keys.

use crate::MarketError;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::path::Path;

const PUBLIC_PREFIX: &str = "ed25519:";
const SECRET_PREFIX: &str = "ed25519-secret:";

/// A public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Reads `ed25519:<hex>`.
    pub fn parse(text: &str) -> Result<PublicKey, MarketError> {
        let hex_part = text
            .trim()
            .strip_prefix(PUBLIC_PREFIX)
            .ok_or_else(|| MarketError::Key(format!("`{text}` does not start with ed25519:")))?;
        let bytes: [u8; 32] = hex::decode(hex_part)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| MarketError::Key(format!("`{text}` is not 32 bytes of hex")))?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|err| MarketError::Key(format!("`{text}`: {err}")))?;
        if key.is_weak() {
            return Err(MarketError::Key(format!("`{text}` is a weak key")));
        }
        Ok(PublicKey(key))
    }

    /// Its id: the first 16 hex digits of its SHA-256.
    pub fn id(&self) -> String {
        crate::sha256_hex(self.0.as_bytes())[..16].to_owned()
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &SignatureEntry) -> bool {
        let Some(bytes) = hex::decode(&signature.sig)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
        else {
            return false;
        };
        self.0
            .verify_strict(message, &Signature::from_bytes(&bytes))
            .is_ok()
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{PUBLIC_PREFIX}{}", hex::encode(self.0.as_bytes()))
    }
}

impl Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        PublicKey::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A secret key.
pub struct SecretKey(SigningKey);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.public().id())
    }
}

impl SecretKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> SecretKey {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("the operating system's random source");
        SecretKey(SigningKey::from_bytes(&seed))
    }

    /// Reads `ed25519-secret:<hex>`.
    pub fn parse(text: &str) -> Result<SecretKey, MarketError> {
        let seed: [u8; 32] = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .and_then(|h| hex::decode(h).ok())
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| MarketError::Key("not an ed25519-secret: key".into()))?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    /// Reads a key file.
    pub fn read(path: &Path) -> Result<SecretKey, MarketError> {
        let text = std::fs::read_to_string(path).map_err(|source| MarketError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        SecretKey::parse(&text)
            .map_err(|err| MarketError::Key(format!("{}: {err}", path.display())))
    }

    /// Writes a new key file, readable by its owner only; refuses to
    /// overwrite one.
    pub fn write_new(&self, path: &Path) -> Result<(), MarketError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let io = |source| MarketError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        writeln!(file, "{SECRET_PREFIX}{}", hex::encode(self.0.to_bytes())).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// Its public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> SignatureEntry {
        SignatureEntry {
            key_id: self.public().id(),
            sig: hex::encode(self.0.sign(message).to_bytes()),
        }
    }
}

/// One signature: the signing key's id and the signature in hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureEntry {
    /// The key's id.
    pub key_id: String,
    /// 64 bytes of signature, hex.
    pub sig: String,
}

/// The most signatures a signature file may hold (each is checked).
pub const MAX_SIGNATURES: usize = 16;

/// A detached signature file (`X.sig`): signatures over the exact bytes of
/// `X`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signatures {
    /// The signatures.
    pub signatures: Vec<SignatureEntry>,
}

impl Signatures {
    /// Reads a signature file's bytes (at most [`MAX_SIGNATURES`]).
    pub fn parse(bytes: &[u8], what: &str) -> Result<Signatures, MarketError> {
        let signatures: Signatures = serde_json::from_slice(bytes).map_err(|err| {
            MarketError::Signature(format!("{what} is not a signature file: {err}"))
        })?;
        if signatures.signatures.len() > MAX_SIGNATURES {
            return Err(MarketError::Signature(format!(
                "{what} holds {} signatures, more than {MAX_SIGNATURES}",
                signatures.signatures.len()
            )));
        }
        Ok(signatures)
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("signatures serialize")
    }

    /// The keys among `keys` whose valid signature of `message` is here.
    pub fn signers<'k>(&self, message: &[u8], keys: &'k [PublicKey]) -> Vec<&'k PublicKey> {
        keys.iter()
            .filter(|key| {
                let id = key.id();
                self.signatures
                    .iter()
                    .any(|s| s.key_id == id && key.verifies(message, s))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sign_verify_and_round_trip_through_their_text() {
        let secret = SecretKey::generate();
        let public = PublicKey::parse(&secret.public().to_string()).unwrap();
        assert_eq!(public, secret.public());
        let signature = secret.sign(b"release");
        assert!(public.verifies(b"release", &signature));
        assert!(!public.verifies(b"releasE", &signature));
        let other = SecretKey::generate();
        assert!(!other.public().verifies(b"release", &signature));
        let mut flipped = signature.clone();
        flipped.sig.replace_range(
            0..2,
            if &flipped.sig[0..2] == "00" {
                "01"
            } else {
                "00"
            },
        );
        assert!(!public.verifies(b"release", &flipped));
        assert!(PublicKey::parse("ed25519:00").is_err());
        assert!(PublicKey::parse("rsa:abcd").is_err());
    }

    #[test]
    fn a_key_file_is_private_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("isv.key");
        let key = SecretKey::generate();
        key.write_new(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(SecretKey::read(&path).unwrap().public(), key.public());
        assert!(SecretKey::generate().write_new(&path).is_err());
    }
}
