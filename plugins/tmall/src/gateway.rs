//! Signed calls to the TOP router (`https://gw.api.taobao.com/router/rest`):
//! system parameters, the shop's `sign_method`, the signature, all sent as
//! one form-encoded POST body.

use crate::signing::{SignMethod, sign_request};
use crate::{API_HOST, SETTING_SIGN_METHOD};
use tongdao_sdk::beijing_time;
use tongdao_sdk::*;

/// The router's URL.
pub const ROUTER_URL: &str = "https://gw.api.taobao.com/router/rest";

/// The sign method the shop's settings ask for (default `hmac-sha256`).
pub fn sign_method(ctx: &ShopContext) -> Result<SignMethod, PluginError> {
    match ctx.setting(SETTING_SIGN_METHOD) {
        None => Ok(SignMethod::HmacSha256),
        Some(name) => SignMethod::from_name(name).ok_or_else(|| {
            PluginError::Misconfigured(format!(
                "setting `{SETTING_SIGN_METHOD}` is `{name}`; TOP knows `md5`, `hmac` and `hmac-sha256`"
            ))
        }),
    }
}

/// A signed POST of TOP `method` with business parameters `params`, on
/// behalf of the seller when `session` is given.
pub fn call(
    ctx: &ShopContext,
    method: &str,
    session: Option<&str>,
    params: &[(&str, String)],
) -> Result<HttpRequest, PluginError> {
    let app_key = ctx.credential("app_key")?;
    let secret = ctx.credential("app_secret")?;
    let sign_method = sign_method(ctx)?;
    let mut all: Vec<(String, String)> = vec![
        ("method".into(), method.into()),
        ("app_key".into(), app_key.into()),
        ("timestamp".into(), beijing_time::datetime(ctx.now_ms)),
        ("format".into(), "json".into()),
        ("v".into(), "2.0".into()),
        ("sign_method".into(), sign_method.name().into()),
    ];
    if let Some(session) = session {
        all.push(("session".into(), session.into()));
    }
    all.extend(params.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let sign = sign_request(sign_method, secret, &all);
    all.push(("sign".into(), sign));
    debug_assert!(ROUTER_URL.contains(API_HOST));
    Ok(HttpRequest::form_post(ROUTER_URL, &all))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::string_to_sign;

    fn ctx() -> ShopContext {
        ShopContext::for_test("demo-tmall", 1_451_620_800_000)
            .with_credential("app_key", "12345678")
            .with_credential("app_secret", "helloworld")
    }

    fn form(request: &HttpRequest) -> Vec<(String, String)> {
        form_urlencoded::parse(&request.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn a_call_carries_system_parameters_and_a_valid_signature() {
        let request = call(
            &ctx(),
            "taobao.trade.fullinfo.get",
            Some("demo-session"),
            &[("tid", "3000000000000000001".into())],
        )
        .unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(request.url, ROUTER_URL);
        let params = form(&request);
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("timestamp"), Some("2016-01-01 12:00:00"));
        assert_eq!(get("sign_method"), Some("hmac-sha256"));
        assert_eq!(get("session"), Some("demo-session"));
        assert_eq!(get("tid"), Some("3000000000000000001"));
        assert_eq!(
            get("sign").unwrap(),
            sign_request(SignMethod::HmacSha256, "helloworld", &params)
        );
        assert!(!string_to_sign(&params).contains("helloworld"));
    }

    #[test]
    fn the_sign_method_setting_is_honoured_and_checked() {
        let md5 = ctx().with_setting(SETTING_SIGN_METHOD, "md5");
        let request = call(&md5, "taobao.tmc.messages.consume", None, &[]).unwrap();
        let params = form(&request);
        assert!(params.contains(&("sign_method".into(), "md5".into())));
        assert!(!params.iter().any(|(k, _)| k == "session"));
        let bad = ctx().with_setting(SETTING_SIGN_METHOD, "sha1");
        assert!(matches!(
            call(&bad, "m", None, &[]),
            Err(PluginError::Misconfigured(m)) if m.contains("sha1")
        ));
        let no_secret = ShopContext::for_test("s", 0).with_credential("app_key", "1");
        assert!(matches!(
            call(&no_secret, "m", None, &[]),
            Err(PluginError::Misconfigured(m)) if m.contains("app_secret")
        ));
    }
}
