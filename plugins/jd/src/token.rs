//! The seller's JOS access token. The brand configures the token its
//! authorisation gave (credential `access_token`, with `refresh_token` if it
//! has one). When JOS rejects the token in use, the plugin drops it — a
//! token it refreshed is removed from plugin state, a configured one is
//! remembered as rejected by its fingerprint, so a new one put into the
//! config is used at once — and, with a refresh token, gets a new pair from
//! `https://open-oauth.jd.com/oauth2/refresh_token`; without one, calls fail
//! with what to do.

use crate::answer::text;
use sha2::{Digest, Sha256};
use tongdao_sdk::*;

/// State key of a refreshed access token.
pub const STATE_ACCESS_TOKEN: &str = "access_token";
/// State key of the refresh token that came with it.
pub const STATE_REFRESH_TOKEN: &str = "refresh_token";
/// State key of the fingerprint of a configured access token JOS rejected.
pub const STATE_REJECTED: &str = "rejected_access_token";
/// Step label of the token refresh.
pub const STEP_REFRESH: &str = "refresh";
/// JD's OAuth token refresh endpoint.
pub const REFRESH_URL: &str = "https://open-oauth.jd.com/oauth2/refresh_token";
/// A refreshed token is used until this long before JD says it expires.
const EARLY_REFRESH_SECS: i64 = 3600;
/// A refreshed token is kept at least this long whatever `expires_in` says.
const MIN_LIFETIME_SECS: i64 = 60;

/// What a call needs first.
#[derive(Debug, Clone, PartialEq)]
pub enum Token<'a> {
    /// A token to call JOS with.
    Ready(&'a str),
    /// No usable token: send this refresh first.
    Refresh(OutboundRequest),
}

/// A short, one-way fingerprint of a token (never the token itself in state).
fn fingerprint(token: &str) -> String {
    hex::encode(&Sha256::digest(token.as_bytes())[..8])
}

fn configured(ctx: &ShopContext) -> Option<&str> {
    let token = ctx.optional_credential("access_token")?;
    let rejected = ctx.state_value(STATE_REJECTED);
    (rejected != Some(fingerprint(token).as_str())).then_some(token)
}

/// The token to call JOS with, or the refresh to send first.
pub fn token(ctx: &ShopContext) -> Result<Token<'_>, PluginError> {
    if let Some(token) = ctx
        .state_value(STATE_ACCESS_TOKEN)
        .or_else(|| configured(ctx))
    {
        return Ok(Token::Ready(token));
    }
    let refresh_token = ctx
        .state_value(STATE_REFRESH_TOKEN)
        .or_else(|| ctx.optional_credential("refresh_token"))
        .ok_or_else(|| {
            PluginError::Misconfigured(format!(
                "shop `{}`: JOS rejected the access token and there is no `refresh_token`; re-authorise the app for the shop and update credential `access_token`",
                ctx.shop_id
            ))
        })?;
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("app_key", ctx.credential("app_key")?)
        .append_pair("app_secret", ctx.credential("app_secret")?)
        .append_pair("grant_type", "refresh_token")
        .append_pair("refresh_token", refresh_token)
        .finish();
    Ok(Token::Refresh(OutboundRequest {
        step: STEP_REFRESH.into(),
        request: HttpRequest::new("GET", &format!("{REFRESH_URL}?{query}"), Vec::new()),
    }))
}

/// State changes after JOS rejected the token in use.
pub fn rejected(ctx: &ShopContext) -> Vec<StateChange> {
    if ctx.state_value(STATE_ACCESS_TOKEN).is_some() {
        return vec![StateChange::remove(STATE_ACCESS_TOKEN)];
    }
    match configured(ctx) {
        Some(token) => vec![StateChange::set(STATE_REJECTED, fingerprint(token), None)],
        None => Vec::new(),
    }
}

/// Interpret the answer to a token refresh: the new tokens are stored and
/// the call is rendered again, or the refresh token is dropped and the
/// failure says to re-authorise.
pub fn read_refresh(ctx: &ShopContext, response: &HttpResponse) -> Interpretation {
    let body = match response.json_answer("JD's token endpoint") {
        Ok(body) => body,
        Err(outcome) => return Interpretation::outcome(outcome),
    };
    let Some(access) = text(&body, "access_token") else {
        let code = text(&body, "code").unwrap_or_else(|| "refresh".into());
        let msg = text(&body, "msg").unwrap_or_default();
        return Interpretation::with_state(
            DeliveryOutcome::permanent(
                code.clone(),
                format!(
                    "JD refused the refresh token ({code} {msg}): re-authorise the app for the shop and update credentials `access_token` and `refresh_token`"
                ),
            ),
            vec![StateChange::remove(STATE_REFRESH_TOKEN)],
        );
    };
    let lifetime = body
        .get("expires_in")
        .and_then(serde_json::Value::as_i64)
        .map_or(MIN_LIFETIME_SECS, |secs| {
            secs.saturating_sub(EARLY_REFRESH_SECS)
                .max(MIN_LIFETIME_SECS)
        });
    let mut state = vec![StateChange::set(
        STATE_ACCESS_TOKEN,
        access,
        Some(ctx.now_ms + lifetime * 1000),
    )];
    if let Some(refresh) = text(&body, "refresh_token") {
        state.push(StateChange::set(STATE_REFRESH_TOKEN, refresh, None));
    }
    Interpretation::with_state(DeliveryOutcome::NextStep, state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ShopContext {
        ShopContext::for_test("demo-jd", 1_700_000_000_000)
            .with_credential("app_key", "JDAPPKEY")
            .with_credential("app_secret", "jd-secret")
            .with_credential("access_token", "configured-token")
    }

    #[test]
    fn the_configured_token_is_used_until_it_is_rejected() {
        let ctx = ctx();
        assert_eq!(token(&ctx).unwrap(), Token::Ready("configured-token"));
        let changes = rejected(&ctx);
        assert_eq!(
            changes,
            vec![StateChange::set(
                STATE_REJECTED,
                fingerprint("configured-token"),
                None
            )]
        );
        assert!(!format!("{changes:?}").contains("configured-token"));
        let after = ctx
            .clone()
            .with_state(STATE_REJECTED, &fingerprint("configured-token"), None);
        assert!(
            matches!(token(&after), Err(PluginError::Misconfigured(m)) if m.contains("re-authorise"))
        );
        // A new token in the config is used at once.
        let mut renewed = after.clone();
        renewed.credentials.retain(|p| p.name != "access_token");
        let renewed = renewed.with_credential("access_token", "new-token");
        assert_eq!(token(&renewed).unwrap(), Token::Ready("new-token"));
    }

    #[test]
    fn a_rejected_token_is_refreshed_with_the_refresh_token() {
        let ctx = ctx()
            .with_credential("refresh_token", "configured-refresh")
            .with_state(STATE_REJECTED, &fingerprint("configured-token"), None);
        let Token::Refresh(request) = token(&ctx).unwrap() else {
            panic!("a refresh")
        };
        assert_eq!(request.step, STEP_REFRESH);
        assert_eq!(request.request.method, "GET");
        assert_eq!(
            request.request.url,
            "https://open-oauth.jd.com/oauth2/refresh_token?app_key=JDAPPKEY&app_secret=jd-secret&grant_type=refresh_token&refresh_token=configured-refresh"
        );
        let answer = HttpResponse::json(
            200,
            r#"{"access_token":"AT2","expires_in":86400,"refresh_token":"RT2","scope":"snsapi_base","open_id":"o1","uid":"u1","time":1700000000000,"token_type":"bearer","code":0}"#,
        );
        let read = read_refresh(&ctx, &answer);
        assert_eq!(read.outcome, DeliveryOutcome::NextStep);
        assert_eq!(
            read.state,
            vec![
                StateChange::set(
                    STATE_ACCESS_TOKEN,
                    "AT2",
                    Some(1_700_000_000_000 + (86_400 - 3600) * 1000)
                ),
                StateChange::set(STATE_REFRESH_TOKEN, "RT2", None),
            ]
        );
        // The refreshed token wins, and its own rejection only drops it.
        let refreshed = ctx.with_state(STATE_ACCESS_TOKEN, "AT2", Some(1_800_000_000_000));
        assert_eq!(token(&refreshed).unwrap(), Token::Ready("AT2"));
        assert_eq!(
            rejected(&refreshed),
            vec![StateChange::remove(STATE_ACCESS_TOKEN)]
        );
    }

    #[test]
    fn a_refused_refresh_is_permanent_and_drops_the_refresh_token() {
        let read = read_refresh(
            &ctx(),
            &HttpResponse::json(200, r#"{"code":2011,"msg":"refresh_token无效"}"#),
        );
        assert!(
            matches!(&read.outcome, DeliveryOutcome::Permanent(f) if f.code == "2011" && f.reason.contains("re-authorise"))
        );
        assert_eq!(read.state, vec![StateChange::remove(STATE_REFRESH_TOKEN)]);
        assert!(matches!(
            read_refresh(&ctx(), &HttpResponse::text(502, "")).outcome,
            DeliveryOutcome::Retry(_)
        ));
    }
}
