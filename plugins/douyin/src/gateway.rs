//! Signed requests to the 抖店 open-API gateway: `POST
//! https://openapi-fxg.jinritemai.com/{method with . → /}` with the business
//! parameters as the body (`param_json`: keys sorted at every level, compact,
//! non-ASCII characters kept as they are), and
//! `app_key, method, access_token, timestamp, v=2, sign_method, sign` in the
//! query.
//!
//! `sign = hex(HMAC-SHA256(key = secret, plain))` or `hex(MD5(plain))`, with
//! `plain = secret + "app_key" + app_key + "method" + method + "param_json" +
//! param_json + "timestamp" + timestamp + "v" + "2" + secret`.
//! `timestamp` is Unix seconds, as the platform's own SDKs send it; the value
//! signed is the value sent.

use crate::API_HOST;
use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use serde_json::Value;
use sha2::Sha256;
use tongdao_sdk::*;

/// The API version every request carries.
pub const API_VERSION: &str = "2";
/// Setting: the signing method for API calls.
pub const SIGN_METHOD_SETTING: &str = "sign_method";

/// How API requests are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiSignMethod {
    /// `hmac-sha256` (the platform's recommendation and the default).
    HmacSha256,
    /// `md5` (the older method).
    Md5,
}

impl ApiSignMethod {
    /// The `sign_method` query value.
    pub fn name(self) -> &'static str {
        match self {
            ApiSignMethod::HmacSha256 => "hmac-sha256",
            ApiSignMethod::Md5 => "md5",
        }
    }

    /// The shop's configured method (setting `sign_method`).
    pub fn for_shop(ctx: &ShopContext) -> Result<ApiSignMethod, PluginError> {
        match ctx.setting(SIGN_METHOD_SETTING).map(str::trim) {
            None => Ok(ApiSignMethod::HmacSha256),
            Some(v) if v.eq_ignore_ascii_case("hmac-sha256") => Ok(ApiSignMethod::HmacSha256),
            Some(v) if v.eq_ignore_ascii_case("md5") => Ok(ApiSignMethod::Md5),
            Some(other) => Err(PluginError::Misconfigured(format!(
                "shop `{}`: setting `{SIGN_METHOD_SETTING}` is `{other}`; use `hmac-sha256` or `md5`",
                ctx.shop_id
            ))),
        }
    }
}

/// `value` as `param_json`: object keys sorted (byte order) at every level,
/// no whitespace, non-ASCII text written as UTF-8 rather than `\u` escapes.
/// Sorting is done here, not left to the map type, so it holds whatever
/// features serde_json is built with.
pub fn param_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The `sign` of one call.
pub fn sign(
    method: ApiSignMethod,
    app_key: &str,
    app_secret: &str,
    api_method: &str,
    param_json: &str,
    timestamp: &str,
) -> String {
    let plain = format!(
        "{app_secret}app_key{app_key}method{api_method}param_json{param_json}timestamp{timestamp}v{API_VERSION}{app_secret}"
    );
    match method {
        ApiSignMethod::HmacSha256 => {
            let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes())
                .expect("HMAC accepts keys of any length");
            mac.update(plain.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        ApiSignMethod::Md5 => hex::encode(Md5::digest(plain.as_bytes())),
    }
}

/// One API call to render.
#[derive(Debug, Clone)]
pub struct ApiCall<'a> {
    /// The API method, e.g. `order.orderDetail`.
    pub method: &'a str,
    /// The business parameters.
    pub params: Value,
    /// The access token (none for the token endpoints).
    pub access_token: Option<&'a str>,
}

/// Render `call` for the shop at the context's clock.
pub fn render(ctx: &ShopContext, call: &ApiCall<'_>) -> Result<HttpRequest, PluginError> {
    let app_key = ctx.credential("app_key")?;
    let app_secret = ctx.credential("app_secret")?;
    let sign_method = ApiSignMethod::for_shop(ctx)?;
    let timestamp = ctx.now_secs().to_string();
    let body = param_json(&call.params);
    let signature = sign(
        sign_method,
        app_key,
        app_secret,
        call.method,
        &body,
        &timestamp,
    );
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("app_key", app_key);
    query.append_pair("method", call.method);
    if let Some(token) = call.access_token {
        query.append_pair("access_token", token);
    }
    query.append_pair("timestamp", &timestamp);
    query.append_pair("v", API_VERSION);
    query.append_pair("sign_method", sign_method.name());
    query.append_pair("sign", &signature);
    let url = format!(
        "https://{API_HOST}/{}?{}",
        call.method.replace('.', "/"),
        query.finish()
    );
    Ok(HttpRequest::new("POST", &url, body.into_bytes())
        .with_header("content-type", "application/json;charset=UTF-8")
        .with_header("accept", "application/json")
        // Ask for the current error codes only (the platform's SDKs do).
        .with_header("x-open-no-old-err-code", "1"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const APP_KEY: &str = "7000000000000000001";
    const SECRET: &str = "test_secret";

    #[test]
    fn signing_vectors() {
        let param = r#"{"shop_order_id":"6900000000000000000"}"#;
        assert_eq!(
            sign(
                ApiSignMethod::HmacSha256,
                APP_KEY,
                SECRET,
                "order.orderDetail",
                param,
                "1700000000"
            ),
            "588a56097e463b30c3c904718e1c5608ad584eaaba83c8e452803552dd4301d5"
        );
        assert_eq!(
            sign(
                ApiSignMethod::Md5,
                APP_KEY,
                SECRET,
                "order.orderDetail",
                param,
                "1700000000"
            ),
            "bfdcf7a3aa828d0b8b006adf0070814a"
        );
    }

    #[test]
    fn param_json_sorts_nested_keys_and_keeps_non_ascii() {
        let value = json!({
            "z": 1,
            "a": {"y": [ {"b": 2, "a": 1} ], "x": "订单\"1\""},
            "m": null,
            "B": true,
            "big": 6900000000000000000u64,
        });
        assert_eq!(
            param_json(&value),
            r#"{"B":true,"a":{"x":"订单\"1\"","y":[{"a":1,"b":2}]},"big":6900000000000000000,"m":null,"z":1}"#
        );
        assert_eq!(param_json(&json!({})), "{}");
    }

    #[test]
    fn rendered_request_signs_what_it_sends() {
        let ctx = ShopContext::for_test("demo-doudian", 1_700_000_000_999)
            .with_credential("app_key", APP_KEY)
            .with_credential("app_secret", SECRET);
        let call = ApiCall {
            method: "order.orderDetail",
            params: json!({"shop_order_id": "6900000000000000000"}),
            access_token: Some("tok+en"),
        };
        let request = render(&ctx, &call).unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(
            request.url,
            "https://openapi-fxg.jinritemai.com/order/orderDetail?app_key=7000000000000000001&method=order.orderDetail&access_token=tok%2Ben&timestamp=1700000000&v=2&sign_method=hmac-sha256&sign=588a56097e463b30c3c904718e1c5608ad584eaaba83c8e452803552dd4301d5"
        );
        assert_eq!(request.body, br#"{"shop_order_id":"6900000000000000000"}"#);
        assert_eq!(request.header("x-open-no-old-err-code"), Some("1"));

        let md5 = render(&ctx.clone().with_setting(SIGN_METHOD_SETTING, "MD5"), &call).unwrap();
        let query = md5.query();
        assert_eq!(query.get("sign_method"), Some("md5"));
        assert_eq!(query.get("sign"), Some("bfdcf7a3aa828d0b8b006adf0070814a"));

        let bad = render(
            &ctx.clone().with_setting(SIGN_METHOD_SETTING, "sha1"),
            &call,
        )
        .unwrap_err();
        assert!(matches!(bad, PluginError::Misconfigured(m) if m.contains("sign_method")));
        let without_token = render(
            &ctx,
            &ApiCall {
                access_token: None,
                ..call
            },
        )
        .unwrap();
        assert_eq!(without_token.query().get("access_token"), None);
    }
}
