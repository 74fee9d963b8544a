//! The SHA-1 signature WeChat and WeCom put on webhook requests.

use sha1::{Digest, Sha1};

/// Lower-case hex SHA-1 of `parts` sorted lexicographically and concatenated
/// without separators.
///
/// ```
/// // The official example: token AAAAA, timestamp 1714037059, nonce 486452656.
/// let sig = wechat_crypto::signature(&["AAAAA", "1714037059", "486452656"]);
/// assert_eq!(sig, "899cf89e464efb63f54ddac96b0a0a235f53aa78");
/// ```
pub fn signature(parts: &[&str]) -> String {
    let mut sorted: Vec<&str> = parts.to_vec();
    sorted.sort_unstable();
    let mut hasher = Sha1::new();
    for part in sorted {
        hasher.update(part.as_bytes());
    }
    hex_lower(&hasher.finalize())
}

/// Whether `expected` (hex, either case) is the signature of `parts`,
/// compared in constant time.
pub fn verify_signature(expected: &str, parts: &[&str]) -> bool {
    let actual = signature(parts);
    let expected = expected.trim().to_ascii_lowercase();
    actual.len() == expected.len()
        && actual
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_plain_mode_example() {
        assert_eq!(
            signature(&["AAAAA", "1714037059", "486452656"]),
            "899cf89e464efb63f54ddac96b0a0a235f53aa78"
        );
    }

    #[test]
    fn order_of_parts_does_not_matter() {
        assert_eq!(signature(&["b", "a", "c"]), signature(&["c", "b", "a"]));
    }

    #[test]
    fn verification_is_exact_but_case_insensitive() {
        let parts = ["AAAAA", "1714037059", "486452656"];
        assert!(verify_signature(
            "899cf89e464efb63f54ddac96b0a0a235f53aa78",
            &parts
        ));
        assert!(verify_signature(
            "899CF89E464EFB63F54DDAC96B0A0A235F53AA78",
            &parts
        ));
        assert!(!verify_signature(
            "899cf89e464efb63f54ddac96b0a0a235f53aa79",
            &parts
        ));
        assert!(!verify_signature("", &parts));
        assert!(!verify_signature("899cf89e", &parts));
    }
}
