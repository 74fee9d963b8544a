//! TOP (Taobao Open Platform) signatures: the `sign` of REST calls to the
//! router (`md5`, `hmac` = HMAC-MD5, `hmac-sha256`, all uppercase hex over
//! the sorted `key + value` pairs) and the `sign` of the TMC stream's
//! CONNECT. Timestamps are `tongdao_sdk::beijing_time`'s.

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

/// How a TOP request is signed (the `sign_method` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignMethod {
    /// `upper(md5(secret + pairs + secret))`.
    Md5,
    /// `upper(hmac_md5(key = secret, pairs))`.
    HmacMd5,
    /// `upper(hmac_sha256(key = secret, pairs))`.
    HmacSha256,
}

impl SignMethod {
    /// The method a `sign_method` value names, or `None` if unknown.
    pub fn from_name(name: &str) -> Option<SignMethod> {
        match name.trim().to_ascii_lowercase().as_str() {
            "md5" => Some(SignMethod::Md5),
            "hmac" => Some(SignMethod::HmacMd5),
            "hmac-sha256" => Some(SignMethod::HmacSha256),
            _ => None,
        }
    }

    /// The `sign_method` value.
    pub fn name(self) -> &'static str {
        match self {
            SignMethod::Md5 => "md5",
            SignMethod::HmacMd5 => "hmac",
            SignMethod::HmacSha256 => "hmac-sha256",
        }
    }
}

/// The string TOP signs: every parameter except `sign` with a non-empty
/// name and value, sorted by name, written `name1value1name2value2…`.
pub fn string_to_sign(params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params
        .iter()
        .filter(|(k, v)| k != "sign" && !k.is_empty() && !v.is_empty())
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted.iter().map(|(k, v)| format!("{k}{v}")).collect()
}

/// The `sign` of a TOP request, uppercase hex.
pub fn sign_request(method: SignMethod, secret: &str, params: &[(String, String)]) -> String {
    let plain = string_to_sign(params);
    let digest = match method {
        SignMethod::Md5 => {
            let mut md5 = Md5::new();
            md5.update(secret.as_bytes());
            md5.update(plain.as_bytes());
            md5.update(secret.as_bytes());
            md5.finalize().to_vec()
        }
        SignMethod::HmacMd5 => {
            let mut mac = Hmac::<Md5>::new_from_slice(secret.as_bytes())
                .expect("HMAC accepts keys of any length");
            mac.update(plain.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        SignMethod::HmacSha256 => {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
                .expect("HMAC accepts keys of any length");
            mac.update(plain.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
    };
    hex::encode_upper(digest)
}

/// The `sign` of a TMC CONNECT: `upper(md5(secret + "app_key" + app_key +
/// "group_name" + group + "timestamp" + timestamp_ms + secret))`.
pub fn connect_sign(app_key: &str, secret: &str, group_name: &str, timestamp_ms: i64) -> String {
    let mut md5 = Md5::new();
    md5.update(
        format!("{secret}app_key{app_key}group_name{group_name}timestamp{timestamp_ms}{secret}")
            .as_bytes(),
    );
    hex::encode_upper(md5.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parameters of the example in TOP's signing guide.
    fn guide_params(sign_method: &str) -> Vec<(String, String)> {
        [
            ("method", "taobao.item.seller.get"),
            ("app_key", "12345678"),
            ("session", "test"),
            ("timestamp", "2016-01-01 12:00:00"),
            ("format", "json"),
            ("v", "2.0"),
            ("sign_method", sign_method),
            ("fields", "num_iid,title,nick,price,num"),
            ("num_iid", "11223344"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn the_string_to_sign_matches_the_guide() {
        assert_eq!(
            format!(
                "helloworld{}helloworld",
                string_to_sign(&guide_params("md5"))
            ),
            "helloworldapp_key12345678fieldsnum_iid,title,nick,price,numformatjsonmethodtaobao.item.seller.getnum_iid11223344sessiontestsign_methodmd5timestamp2016-01-01 12:00:00v2.0helloworld"
        );
    }

    #[test]
    fn hmac_vectors() {
        assert_eq!(
            sign_request(SignMethod::HmacMd5, "helloworld", &guide_params("hmac")),
            "D56D7858309C31B6251083A874D48273"
        );
        assert_eq!(
            sign_request(
                SignMethod::HmacSha256,
                "helloworld",
                &guide_params("hmac-sha256")
            ),
            "04DB15AD0774D5CFCE2C837DE43E3FCEA9011ED74F3038FB6AB5F3C4CEA119E8"
        );
    }

    #[test]
    fn md5_is_the_uppercase_digest_of_the_wrapped_string() {
        let params = guide_params("md5");
        let mut md5 = Md5::new();
        md5.update(format!("helloworld{}helloworld", string_to_sign(&params)).as_bytes());
        let expected = hex::encode_upper(md5.finalize());
        assert_eq!(
            sign_request(SignMethod::Md5, "helloworld", &params),
            expected
        );
        assert_eq!(expected.len(), 32);
    }

    #[test]
    fn sign_and_empty_values_are_left_out() {
        let mut params = guide_params("hmac");
        params.push(("sign".into(), "XYZ".into()));
        params.push(("empty".into(), String::new()));
        assert_eq!(
            sign_request(SignMethod::HmacMd5, "helloworld", &params),
            "D56D7858309C31B6251083A874D48273"
        );
    }

    #[test]
    fn connect_vector() {
        assert_eq!(
            connect_sign("12345678", "helloworld", "default", 1_700_000_000_000),
            "C86848D198760FA334AA309207C72ECD"
        );
    }

    #[test]
    fn method_names_round_trip() {
        for method in [SignMethod::Md5, SignMethod::HmacMd5, SignMethod::HmacSha256] {
            assert_eq!(SignMethod::from_name(method.name()), Some(method));
        }
        assert_eq!(SignMethod::from_name("sha1"), None);
    }
}
