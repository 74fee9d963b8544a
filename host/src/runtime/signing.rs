//! The hashes and MACs behind 0.2.0's `secrets` imports: the plugin names
//! the secret, the host computes with its value.

use crate::runtime::bindings::v0_2::tongdao::channel::secrets::{DigestAlgorithm, MacAlgorithm};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Digest;

/// The hash of `message`.
pub fn digest(algorithm: DigestAlgorithm, message: &[u8]) -> Vec<u8> {
    match algorithm {
        DigestAlgorithm::Md5 => md5::Md5::digest(message).to_vec(),
        DigestAlgorithm::Sha1 => sha1::Sha1::digest(message).to_vec(),
        DigestAlgorithm::Sha256 => sha2::Sha256::digest(message).to_vec(),
    }
}

/// The MAC of `message` keyed with `key`.
pub fn mac(algorithm: MacAlgorithm, key: &[u8], message: &[u8]) -> Vec<u8> {
    fn keyed<M: Mac + KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
        let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length");
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }
    match algorithm {
        MacAlgorithm::HmacMd5 => keyed::<Hmac<md5::Md5>>(key, message),
        MacAlgorithm::HmacSha1 => keyed::<Hmac<sha1::Sha1>>(key, message),
        MacAlgorithm::HmacSha256 => keyed::<Hmac<sha2::Sha256>>(key, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_known_vectors() {
        assert_eq!(
            hex::encode(digest(DigestAlgorithm::Md5, b"abc")),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            hex::encode(digest(DigestAlgorithm::Sha1, b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex::encode(digest(DigestAlgorithm::Sha256, b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn macs_match_rfc_2202_and_4231() {
        // RFC 2202 test case 2 (HMAC-MD5, HMAC-SHA1) and RFC 4231 test case 2.
        let (key, data) = (b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac(MacAlgorithm::HmacMd5, key, data)),
            "750c783e6ab0b503eaa86e310a5db738"
        );
        assert_eq!(
            hex::encode(mac(MacAlgorithm::HmacSha1, key, data)),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            hex::encode(mac(MacAlgorithm::HmacSha256, key, data)),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
