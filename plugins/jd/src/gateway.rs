//! Signed calls to the JOS router (`https://api.jd.com/routerjson`): the
//! system parameters (`method`, `app_key`, `access_token`, `timestamp`,
//! `v`), the business parameters as one JSON string in `360buy_param_json`,
//! and the signature, all in one form-encoded POST body — so neither the
//! access token nor the signature lands in a URL that proxies log.

use crate::signing::{jos_timestamp, sign_request};
use serde_json::Value as Json;
use tongdao_sdk::*;

/// The router's URL.
pub const ROUTER_URL: &str = "https://api.jd.com/routerjson";
/// The parameter that carries the business parameters.
pub const PARAM_JSON: &str = "360buy_param_json";

/// A signed POST of JOS `method` with business parameters `params` (a JSON
/// object, written compactly with its keys sorted), on the seller's behalf
/// with `access_token`.
pub fn call(
    ctx: &ShopContext,
    method: &str,
    access_token: &str,
    params: &Json,
) -> Result<HttpRequest, PluginError> {
    let app_key = ctx.credential("app_key")?;
    let secret = ctx.credential("app_secret")?;
    let mut all: Vec<(String, String)> = vec![
        ("method".into(), method.into()),
        ("app_key".into(), app_key.into()),
        ("access_token".into(), access_token.into()),
        ("timestamp".into(), jos_timestamp(ctx.now_ms)),
        ("v".into(), "2.0".into()),
        (PARAM_JSON.into(), params.to_string()),
    ];
    let sign = sign_request(secret, &all);
    all.push(("sign".into(), sign));
    Ok(HttpRequest::form_post(ROUTER_URL, &all))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> ShopContext {
        ShopContext::for_test("demo-jd", 1_620_350_439_683)
            .with_credential("app_key", "yourappkey")
            .with_credential("app_secret", "yourappSecret")
    }

    fn form(request: &HttpRequest) -> Vec<(String, String)> {
        form_urlencoded::parse(&request.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn a_call_carries_system_parameters_the_param_json_and_a_valid_signature() {
        let params = json!({"order_id": "1000000001", "optional_fields": "orderId,orderState"});
        let request = call(&ctx(), "jingdong.pop.order.get", "yourtoken", &params).unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(request.url, ROUTER_URL);
        assert!(!request.url.contains("yourtoken"), "no token in the URL");
        let sent = form(&request);
        let get = |k: &str| sent.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("timestamp"), Some("2021-05-07 09:20:39.683+0800"));
        assert_eq!(get("v"), Some("2.0"));
        assert_eq!(get("access_token"), Some("yourtoken"));
        assert_eq!(
            get(PARAM_JSON),
            Some(r#"{"optional_fields":"orderId,orderState","order_id":"1000000001"}"#)
        );
        assert_eq!(get("sign").unwrap(), sign_request("yourappSecret", &sent));
    }

    #[test]
    fn missing_credentials_are_named() {
        let no_secret = ShopContext::for_test("s", 0).with_credential("app_key", "k");
        assert!(matches!(
            call(&no_secret, "m", "t", &json!({})),
            Err(PluginError::Misconfigured(m)) if m.contains("app_secret")
        ));
    }
}
