//! The shop's access token, kept in plugin state: `/token/create` with
//! `grant_type = authorization_self` and the shop id (自用型 apps) when there
//! is none, `/token/refresh` with the refresh token when the access token
//! is about to expire.
//!
//! The platform documents that a refresh more than an hour before expiry
//! returns the same tokens, and one within the last hour returns new tokens
//! while the old ones stay valid for an hour. The plugin therefore treats
//! the access token as expired [`EARLY_REFRESH_SECS`] before the platform
//! does, so its refresh lands in that last hour.

use crate::gateway::{self, ApiCall};
use serde::Deserialize;
use serde_json::json;
use tongdao_sdk::*;

/// State key of the access token.
pub const ACCESS_TOKEN: &str = "access_token";
/// State key of the refresh token.
pub const REFRESH_TOKEN: &str = "refresh_token";
/// Step label of `/token/create`.
pub const STEP_CREATE: &str = "token";
/// Step label of `/token/refresh`.
pub const STEP_REFRESH: &str = "refresh";

/// The access token is refreshed this long before the platform says it
/// expires (inside the platform's last-hour window).
pub const EARLY_REFRESH_SECS: i64 = 3000;
/// The lifetime of an access token when the answer has no `expires_in`
/// (documented: 7 days).
const DEFAULT_ACCESS_LIFETIME_SECS: i64 = 7 * 24 * 3600;
/// The lifetime of a refresh token (documented: 14 days).
pub const REFRESH_LIFETIME_SECS: i64 = 14 * 24 * 3600;
/// Tokens are kept at least this long whatever `expires_in` says.
const MIN_LIFETIME_SECS: i64 = 60;

/// The token request to send first, if the shop has no usable access token.
pub fn prerequisite(ctx: &ShopContext) -> Result<Option<OutboundRequest>, PluginError> {
    if ctx.state_value(ACCESS_TOKEN).is_some() {
        return Ok(None);
    }
    if let Some(refresh_token) = ctx.state_value(REFRESH_TOKEN) {
        let call = ApiCall {
            method: "token.refresh",
            params: json!({"grant_type": "refresh_token", "refresh_token": refresh_token}),
            access_token: None,
        };
        return Ok(Some(OutboundRequest {
            step: STEP_REFRESH.into(),
            request: gateway::render(ctx, &call)?,
        }));
    }
    let shop_id = ctx
        .setting(crate::push::SHOP_ID_SETTING)
        .map(str::trim)
        .ok_or_else(|| {
            PluginError::Misconfigured(format!(
                "shop `{}` has no setting `shop_id` (the 抖店 shop id that /token/create needs)",
                ctx.shop_id
            ))
        })?;
    let call = ApiCall {
        method: "token.create",
        params: json!({"code": "", "grant_type": "authorization_self", "shop_id": shop_id}),
        access_token: None,
    };
    Ok(Some(OutboundRequest {
        step: STEP_CREATE.into(),
        request: gateway::render(ctx, &call)?,
    }))
}

#[derive(Debug, Deserialize)]
struct TokenData {
    access_token: Option<String>,
    expires_in: Option<i64>,
    refresh_token: Option<String>,
}

/// The state changes for a successful token answer's `data`, or `None` if it
/// holds no access token.
pub fn store(ctx: &ShopContext, data: &serde_json::Value) -> Option<Vec<StateChange>> {
    let data: TokenData = serde_json::from_value(data.clone()).ok()?;
    let access = data.access_token.filter(|t| !t.is_empty())?;
    let lifetime = data
        .expires_in
        .unwrap_or(DEFAULT_ACCESS_LIFETIME_SECS)
        .saturating_sub(EARLY_REFRESH_SECS)
        .max(MIN_LIFETIME_SECS);
    let mut changes = vec![StateChange::set(
        ACCESS_TOKEN,
        access,
        Some(ctx.now_ms + lifetime * 1000),
    )];
    match data.refresh_token.filter(|t| !t.is_empty()) {
        Some(refresh) => changes.push(StateChange::set(
            REFRESH_TOKEN,
            refresh,
            Some(ctx.now_ms + (REFRESH_LIFETIME_SECS - EARLY_REFRESH_SECS) * 1000),
        )),
        None => changes.push(StateChange::remove(REFRESH_TOKEN)),
    }
    Some(changes)
}

/// Drop the access token only: the next render refreshes it with the
/// refresh token (for an access token the gateway says has expired).
pub fn expire_access() -> Vec<StateChange> {
    vec![StateChange::remove(ACCESS_TOKEN)]
}

/// Drop both tokens: the next render creates a new pair from scratch (for a
/// token the gateway does not know, or a refresh token that is spent).
pub fn forget() -> Vec<StateChange> {
    vec![
        StateChange::remove(ACCESS_TOKEN),
        StateChange::remove(REFRESH_TOKEN),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ShopContext {
        ShopContext::for_test("demo-doudian", 1_700_000_000_000)
            .with_credential("app_key", "7000000000000000001")
            .with_credential("app_secret", "test_secret")
            .with_setting("shop_id", "12345")
    }

    #[test]
    fn without_tokens_a_token_is_created_for_the_shop() {
        let request = prerequisite(&ctx()).unwrap().unwrap();
        assert_eq!(request.step, STEP_CREATE);
        assert!(request.request.url.starts_with(
            "https://openapi-fxg.jinritemai.com/token/create?app_key=7000000000000000001&method=token.create&timestamp=1700000000&v=2&sign_method=hmac-sha256&sign="
        ));
        assert_eq!(
            request.request.body,
            br#"{"code":"","grant_type":"authorization_self","shop_id":"12345"}"#
        );
        let missing = ShopContext::for_test("demo-doudian", 0)
            .with_credential("app_key", "k")
            .with_credential("app_secret", "s");
        assert!(
            matches!(prerequisite(&missing), Err(PluginError::Misconfigured(m)) if m.contains("shop_id"))
        );
    }

    #[test]
    fn an_expired_access_token_is_refreshed() {
        let ctx = ctx()
            .with_state(ACCESS_TOKEN, "old", Some(1_700_000_000_000))
            .with_state(REFRESH_TOKEN, "refresh-1", Some(1_800_000_000_000));
        let request = prerequisite(&ctx).unwrap().unwrap();
        assert_eq!(request.step, STEP_REFRESH);
        assert!(request.request.url.contains("/token/refresh?"));
        assert!(request.request.url.contains("method=token.refresh"));
        assert_eq!(
            request.request.body,
            br#"{"grant_type":"refresh_token","refresh_token":"refresh-1"}"#
        );
        assert_eq!(request.request.query().get("access_token"), None);
        // A live access token needs nothing first.
        let live = ctx.with_state(ACCESS_TOKEN, "new", Some(1_700_000_000_001));
        let mut live = live;
        live.state.remove(0);
        assert!(prerequisite(&live).unwrap().is_none());
    }

    #[test]
    fn tokens_are_stored_with_early_expiry() {
        let data = serde_json::json!({
            "access_token": "AT", "expires_in": 604800, "refresh_token": "RT",
            "scope": "SCOPE", "shop_id": 12345, "shop_name": "demo"
        });
        let changes = store(&ctx(), &data).unwrap();
        assert_eq!(
            changes,
            vec![
                StateChange::set(
                    ACCESS_TOKEN,
                    "AT",
                    Some(1_700_000_000_000 + (604_800 - 3000) * 1000)
                ),
                StateChange::set(
                    REFRESH_TOKEN,
                    "RT",
                    Some(1_700_000_000_000 + (1_209_600 - 3000) * 1000)
                ),
            ]
        );
        let short = store(
            &ctx(),
            &serde_json::json!({"access_token": "AT", "expires_in": 5}),
        )
        .unwrap();
        assert_eq!(
            short,
            vec![
                StateChange::set(ACCESS_TOKEN, "AT", Some(1_700_000_060_000)),
                StateChange::remove(REFRESH_TOKEN),
            ]
        );
        assert!(store(&ctx(), &serde_json::json!({"expires_in": 5})).is_none());
        assert_eq!(forget().len(), 2);
        assert_eq!(expire_access(), vec![StateChange::remove(ACCESS_TOKEN)]);
    }
}
