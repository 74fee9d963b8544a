//! JD's OAuth token refresh (`/oauth2/refresh_token`): app key, secret and
//! the current refresh token buy a new access token and a new refresh token;
//! the old refresh token is spent.

use crate::State;
use serde_json::json;
use tongdao_loopback::{Incoming, Reply};

/// The endpoint's path.
pub const REFRESH_PATH: &str = "/oauth2/refresh_token";
/// The lifetime of an access token it issues.
const LIFETIME_SECS: i64 = 31_536_000;

/// Answer one refresh.
pub(crate) fn handle(state: &mut State, request: &Incoming) -> Reply {
    let get = |name: &str| request.query(name).unwrap_or_default();
    let accepted = get("app_key") == state.config.app_key
        && get("app_secret") == state.config.app_secret
        && get("grant_type") == "refresh_token"
        && get("refresh_token") == state.refresh_token;
    state.refreshes.push(accepted);
    if !accepted {
        return Reply::json(&json!({"code": 2011, "msg": "refresh_token无效或app信息不匹配"}));
    }
    state.issued += 1;
    let access = format!("jd-access-{}", state.issued);
    let refresh = format!("jd-refresh-{}", state.issued);
    state.valid_tokens.push(access.clone());
    state.refresh_token = refresh.clone();
    Reply::json(&json!({
        "access_token": access, "expires_in": LIFETIME_SECS, "refresh_token": refresh,
        "scope": "snsapi_base", "open_id": "demo-open-id", "uid": "demo-uid",
        "time": state.now_ms(), "token_type": "bearer", "code": 0
    }))
}
