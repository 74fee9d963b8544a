//! The access token: `GET /cgi-bin/gettoken?corpid&corpsecret` (with the
//! secret of the app allowed to call the 微信客服 API), kept in plugin state
//! until shortly before the `expires_in` WeCom gives (7200 s), and dropped
//! whenever WeCom rejects it.

use crate::API_HOST;
use crate::api_answer::{self, Answer};
use tongdao_sdk::*;

/// State key of the access token.
pub const ACCESS_TOKEN: &str = "access_token";
/// Step label of the token fetch.
pub const STEP_TOKEN: &str = "token";
/// Tokens are treated as expired this long before WeCom says they are.
const EARLY_REFRESH_SECS: i64 = 300;
/// A token is kept at least this long whatever `expires_in` says.
const MIN_LIFETIME_SECS: i64 = 60;

/// The live access token, if plugin state holds one.
pub fn live(ctx: &ShopContext) -> Option<&str> {
    ctx.state_value(ACCESS_TOKEN)
        .filter(|token| !token.is_empty())
}

/// The state changes that forget the access token.
pub fn forget() -> Vec<StateChange> {
    vec![StateChange::remove(ACCESS_TOKEN)]
}

/// The token fetch.
pub fn request(ctx: &ShopContext) -> Result<OutboundRequest, PluginError> {
    let corp_id = ctx.credential("corp_id")?;
    let secret = ctx.credential("secret")?;
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("corpid", corp_id)
        .append_pair("corpsecret", secret)
        .finish();
    Ok(OutboundRequest {
        step: STEP_TOKEN.into(),
        request: HttpRequest::new(
            "GET",
            &format!("https://{API_HOST}/cgi-bin/gettoken?{query}"),
            Vec::new(),
        ),
    })
}

/// Interpret the token answer: store the token and render again, or classify
/// the refusal. Refusals of the corp id or secret are permanent: the shop's
/// credentials must be fixed.
pub fn interpret(ctx: &ShopContext, response: &HttpResponse) -> Interpretation {
    let answer = match api_answer::read(response) {
        Ok(answer) => answer,
        Err(outcome) => return Interpretation::outcome(outcome),
    };
    if answer.errcode != 0 {
        return refused(&answer);
    }
    let Some(token) = answer.str_field("access_token").filter(|t| !t.is_empty()) else {
        return Interpretation::outcome(DeliveryOutcome::retry(
            "the gettoken answer has no access_token",
        ));
    };
    let expires_in = answer
        .body
        .get("expires_in")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(7200);
    let lifetime = expires_in
        .saturating_sub(EARLY_REFRESH_SECS)
        .max(MIN_LIFETIME_SECS);
    Interpretation::with_state(
        DeliveryOutcome::NextStep,
        vec![StateChange::set(
            ACCESS_TOKEN,
            token,
            Some(ctx.now_ms.saturating_add(lifetime * 1000)),
        )],
    )
}

fn refused(answer: &Answer) -> Interpretation {
    match answer.errcode {
        // The shop's corp id or secret is wrong or missing: no retry helps.
        40001 | 40013 | 41002 | 41004 => Interpretation::outcome(DeliveryOutcome::permanent(
            answer.errcode.to_string(),
            format!(
                "{} — check the shop's `corp_id` and `secret` credentials",
                answer.explain()
            ),
        )),
        _ => api_answer::common(answer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ShopContext {
        ShopContext::for_test("demo-wecom", 1_000_000)
            .with_credential("corp_id", "ww12345678910")
            .with_credential("secret", "demo-kf-secret")
    }

    #[test]
    fn the_fetch_carries_corp_id_and_secret() {
        let request = request(&ctx()).unwrap();
        assert_eq!(request.step, STEP_TOKEN);
        assert_eq!(request.request.method, "GET");
        assert_eq!(
            request.request.url,
            "https://qyapi.weixin.qq.com/cgi-bin/gettoken?corpid=ww12345678910&corpsecret=demo-kf-secret"
        );
        let missing = ShopContext::for_test("demo-wecom", 0).with_credential("corp_id", "ww1");
        assert!(
            matches!(super::request(&missing), Err(PluginError::Misconfigured(m)) if m.contains("`secret`"))
        );
    }

    #[test]
    fn a_token_is_kept_until_shortly_before_it_expires() {
        let result = interpret(
            &ctx(),
            &HttpResponse::json(
                200,
                r#"{"errcode":0,"errmsg":"ok","access_token":"ACCESS","expires_in":7200}"#,
            ),
        );
        assert_eq!(result.outcome, DeliveryOutcome::NextStep);
        assert_eq!(
            result.state,
            vec![StateChange::set(
                ACCESS_TOKEN,
                "ACCESS",
                Some(1_000_000 + 6_900_000)
            )]
        );
        let live_ctx = ctx().with_state(ACCESS_TOKEN, "ACCESS", Some(7_900_000));
        assert_eq!(live(&live_ctx), Some("ACCESS"));
        let late = ShopContext {
            now_ms: 7_900_000,
            ..live_ctx
        };
        assert_eq!(live(&late), None);
    }

    #[test]
    fn refusals_are_classified_without_leaking_the_secret() {
        for (code, msg) in [
            (40001, "invalid secret"),
            (40013, "invalid corpid"),
            (41004, "corpsecret missing"),
        ] {
            let result = interpret(
                &ctx(),
                &HttpResponse::json(200, &format!(r#"{{"errcode":{code},"errmsg":"{msg}"}}"#)),
            );
            let DeliveryOutcome::Permanent(failure) = &result.outcome else {
                panic!("{code}: {result:?}")
            };
            assert_eq!(failure.code, code.to_string());
            assert!(failure.reason.contains("credentials"), "{failure:?}");
            assert!(!failure.reason.contains("demo-kf-secret"));
        }
        assert!(matches!(
            interpret(
                &ctx(),
                &HttpResponse::json(200, r#"{"errcode":-1,"errmsg":"busy"}"#)
            )
            .outcome,
            DeliveryOutcome::Retry(_)
        ));
        assert!(matches!(
            interpret(
                &ctx(),
                &HttpResponse::json(200, r#"{"errcode":0,"errmsg":"ok"}"#)
            )
            .outcome,
            DeliveryOutcome::Retry(_)
        ));
    }
}
