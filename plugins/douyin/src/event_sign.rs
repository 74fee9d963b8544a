//! The `event-sign` header of 抖店 message pushes: a digest of
//! `app_key + raw body + app_secret`, MD5 (the original scheme) or
//! HMAC-SHA256 keyed with the app secret (announced by `sign-method:
//! hmac-sha256`), as lowercase hex. Always computed over the raw body bytes.

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;
use tongdao_sdk::constant_time_eq;

/// How a push was signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushSignMethod {
    /// `lowercase_hex(MD5(app_key + body + app_secret))`.
    Md5,
    /// `lowercase_hex(HMAC-SHA256(key = app_secret, app_key + body + app_secret))`.
    HmacSha256,
}

impl PushSignMethod {
    /// The method a `sign-method` header names (case-insensitive), or `None`
    /// for a value the plugin does not know.
    pub fn from_header(value: &str) -> Option<PushSignMethod> {
        match value.trim().to_ascii_lowercase().as_str() {
            "md5" => Some(PushSignMethod::Md5),
            "hmac-sha256" => Some(PushSignMethod::HmacSha256),
            _ => None,
        }
    }

    /// The header value that names this method.
    pub fn name(self) -> &'static str {
        match self {
            PushSignMethod::Md5 => "md5",
            PushSignMethod::HmacSha256 => "hmac-sha256",
        }
    }
}

/// The `event-sign` value for `body`, lowercase hex.
pub fn event_sign(method: PushSignMethod, app_key: &str, app_secret: &str, body: &[u8]) -> String {
    match method {
        PushSignMethod::Md5 => {
            let mut digest = Md5::new();
            digest.update(app_key.as_bytes());
            digest.update(body);
            digest.update(app_secret.as_bytes());
            hex::encode(digest.finalize())
        }
        PushSignMethod::HmacSha256 => {
            let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes())
                .expect("HMAC accepts keys of any length");
            mac.update(app_key.as_bytes());
            mac.update(body);
            mac.update(app_secret.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
    }
}

/// Whether `given` (the header, compared case-insensitively and in constant
/// time) is the signature of `body`.
pub fn verify(
    method: PushSignMethod,
    app_key: &str,
    app_secret: &str,
    body: &[u8],
    given: &str,
) -> bool {
    let expected = event_sign(method, app_key, app_secret, body);
    let given = given.trim().to_ascii_lowercase();
    constant_time_eq(expected.as_bytes(), given.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP_KEY: &str = "7000000000000000001";
    const SECRET: &str = "test_secret";
    const BODY: &str = r#"[{"tag":"100","msg_id":"7000000000000000000:100:1700000000","data":"{\"p_id\":6900000000000000000,\"shop_id\":12345,\"order_status\":1}"}]"#;

    #[test]
    fn md5_vector() {
        assert_eq!(
            event_sign(PushSignMethod::Md5, APP_KEY, SECRET, BODY.as_bytes()),
            "b16b00cbf39698f45614f23b7cbd442f"
        );
    }

    #[test]
    fn hmac_sha256_vector() {
        assert_eq!(
            event_sign(PushSignMethod::HmacSha256, APP_KEY, SECRET, BODY.as_bytes()),
            "4f3da5a04b4e4bae965b092c1753e1243eb42f4f91e89fa1f3fb13f10dd44ac9"
        );
    }

    #[test]
    fn verification_ignores_case_but_not_content() {
        let body = BODY.as_bytes();
        for (method, sign) in [
            (PushSignMethod::Md5, "B16B00CBF39698F45614F23B7CBD442F"),
            (
                PushSignMethod::HmacSha256,
                "4F3DA5A04B4E4BAE965B092C1753E1243EB42F4F91E89FA1F3FB13F10DD44AC9",
            ),
        ] {
            assert!(verify(method, APP_KEY, SECRET, body, sign));
            assert!(!verify(method, APP_KEY, "other", body, sign));
            assert!(!verify(method, "7000000000000000002", SECRET, body, sign));
            let mut tampered = body.to_vec();
            tampered[10] ^= 1;
            assert!(!verify(method, APP_KEY, SECRET, &tampered, sign));
        }
        // An MD5 signature is not accepted as HMAC and vice versa.
        assert!(!verify(
            PushSignMethod::HmacSha256,
            APP_KEY,
            SECRET,
            body,
            "b16b00cbf39698f45614f23b7cbd442f"
        ));
    }

    #[test]
    fn header_names() {
        assert_eq!(
            PushSignMethod::from_header(" HMAC-SHA256 "),
            Some(PushSignMethod::HmacSha256)
        );
        assert_eq!(
            PushSignMethod::from_header("md5"),
            Some(PushSignMethod::Md5)
        );
        assert_eq!(PushSignMethod::from_header("sha1"), None);
        assert_eq!(PushSignMethod::HmacSha256.name(), "hmac-sha256");
    }
}
