//! 抖店's signatures, written independently of the plugin:
//!
//! - the `event-sign` header of message pushes: lowercase hex of
//!   `MD5(app_key ‖ body ‖ app_secret)`, or of `HMAC-SHA256(app_secret,
//!   app_key ‖ body ‖ app_secret)` when the push says `sign-method:
//!   hmac-sha256`;
//! - the `sign` query parameter of API calls: the same two digests over
//!   `secret ‖ "app_key" app_key ‖ "method" method ‖ "param_json" param_json ‖
//!   "timestamp" timestamp ‖ "v" "2" ‖ secret`, where `param_json` is the
//!   business parameters with keys sorted at every level.

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use serde_json::Value;
use sha2::Sha256;

/// A digest the platform signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignMethod {
    /// `md5`: the original scheme (and the default of pushes).
    Md5,
    /// `hmac-sha256`: keyed with the app secret.
    HmacSha256,
}

impl SignMethod {
    /// The name on the wire (`sign_method` / `sign-method`).
    pub fn name(self) -> &'static str {
        match self {
            SignMethod::Md5 => "md5",
            SignMethod::HmacSha256 => "hmac-sha256",
        }
    }

    /// The method a wire name denotes (case-insensitive).
    pub fn parse(name: &str) -> Option<SignMethod> {
        if name.eq_ignore_ascii_case("md5") {
            Some(SignMethod::Md5)
        } else if name.eq_ignore_ascii_case("hmac-sha256") {
            Some(SignMethod::HmacSha256)
        } else {
            None
        }
    }

    fn digest_hex(self, secret: &str, parts: &[&[u8]]) -> String {
        match self {
            SignMethod::Md5 => {
                let mut md5 = Md5::new();
                for part in parts {
                    md5.update(part);
                }
                hex::encode(md5.finalize())
            }
            SignMethod::HmacSha256 => {
                let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
                    .expect("HMAC takes keys of any length");
                for part in parts {
                    mac.update(part);
                }
                hex::encode(mac.finalize().into_bytes())
            }
        }
    }
}

/// The `event-sign` of a push body.
pub fn event_sign(method: SignMethod, app_key: &str, app_secret: &str, body: &[u8]) -> String {
    method.digest_hex(
        app_secret,
        &[app_key.as_bytes(), body, app_secret.as_bytes()],
    )
}

/// The `sign` of an API call.
pub fn api_sign(
    method: SignMethod,
    app_key: &str,
    app_secret: &str,
    api_method: &str,
    param_json: &str,
    timestamp: &str,
) -> String {
    let plain = [
        app_secret,
        "app_key",
        app_key,
        "method",
        api_method,
        "param_json",
        param_json,
        "timestamp",
        timestamp,
        "v",
        "2",
        app_secret,
    ]
    .concat();
    method.digest_hex(app_secret, &[plain.as_bytes()])
}

/// `params` as the platform signs them: keys sorted at every level, no
/// whitespace, non-ASCII characters as UTF-8.
pub fn param_json(params: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&map[k])))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    // serde_json's map keeps insertion order only with `preserve_order`;
    // without it the map is a BTreeMap, sorted either way.
    sorted(params).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const APP_KEY: &str = "7000000000000000001";
    const SECRET: &str = "test_secret";
    const PUSH: &str = r#"[{"tag":"100","msg_id":"7000000000000000000:100:1700000000","data":"{\"p_id\":6900000000000000000,\"shop_id\":12345,\"order_status\":1}"}]"#;

    #[test]
    fn push_vectors() {
        assert_eq!(
            event_sign(SignMethod::Md5, APP_KEY, SECRET, PUSH.as_bytes()),
            "b16b00cbf39698f45614f23b7cbd442f"
        );
        assert_eq!(
            event_sign(SignMethod::HmacSha256, APP_KEY, SECRET, PUSH.as_bytes()),
            "4f3da5a04b4e4bae965b092c1753e1243eb42f4f91e89fa1f3fb13f10dd44ac9"
        );
    }

    #[test]
    fn api_vectors() {
        let params = param_json(&json!({"shop_order_id": "6900000000000000000"}));
        assert_eq!(params, r#"{"shop_order_id":"6900000000000000000"}"#);
        assert_eq!(
            api_sign(
                SignMethod::HmacSha256,
                APP_KEY,
                SECRET,
                "order.orderDetail",
                &params,
                "1700000000"
            ),
            "588a56097e463b30c3c904718e1c5608ad584eaaba83c8e452803552dd4301d5"
        );
        assert_eq!(
            api_sign(
                SignMethod::Md5,
                APP_KEY,
                SECRET,
                "order.orderDetail",
                &params,
                "1700000000"
            ),
            "bfdcf7a3aa828d0b8b006adf0070814a"
        );
    }

    #[test]
    fn param_json_is_sorted_and_keeps_chinese() {
        let value = json!({"b": {"z": 1, "a": [{"y": 1, "x": "抖店"}]}, "a": null});
        assert_eq!(
            param_json(&value),
            r#"{"a":null,"b":{"a":[{"x":"抖店","y":1}],"z":1}}"#
        );
    }

    #[test]
    fn names() {
        assert_eq!(
            SignMethod::parse("HMAC-SHA256"),
            Some(SignMethod::HmacSha256)
        );
        assert_eq!(SignMethod::parse("md5"), Some(SignMethod::Md5));
        assert_eq!(SignMethod::parse("sha1"), None);
        assert_eq!(SignMethod::HmacSha256.name(), "hmac-sha256");
    }
}
