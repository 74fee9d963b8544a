//! Classify WeChat's answers: the token fetch feeds plugin state, the send
//! becomes delivered / retry / token-expired / window-closed / quota /
//! permanent, from the platform's `errcode`.

use crate::send::{ACCESS_TOKEN, FORCE_REFRESH, STEP_SEND, STEP_TOKEN};
use serde::Deserialize;
use tongdao_sdk::*;

/// Tokens are treated as expired this long before WeChat says they are.
const EARLY_REFRESH_SECS: i64 = 300;
/// A token is kept at least this long whatever `expires_in` says.
const MIN_TOKEN_LIFE_SECS: i64 = 60;
/// How long to wait after 45009 (API call quota reached).
const QUOTA_WAIT_MS: u32 = 60_000;

#[derive(Debug, Deserialize)]
struct Answer {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
    access_token: Option<String>,
    expires_in: Option<i64>,
    msgid: Option<serde_json::Value>,
}

/// Interpret the response to a request [`crate::send::render`] rendered.
pub fn interpret(
    ctx: &ShopContext,
    step: &str,
    response: &HttpResponse,
) -> Result<Interpretation, PluginError> {
    if response.status == 429 || response.status >= 500 {
        return Ok(Interpretation::outcome(DeliveryOutcome::retry(format!(
            "WeChat answered HTTP {}",
            response.status
        ))));
    }
    let answer: Answer = match serde_json::from_slice(&response.body) {
        Ok(answer) => answer,
        Err(_) => {
            return Ok(Interpretation::outcome(DeliveryOutcome::retry(format!(
                "WeChat answered HTTP {} with a body that is not JSON",
                response.status
            ))));
        }
    };
    match step {
        STEP_TOKEN => Ok(token(ctx, &answer)),
        STEP_SEND => Ok(sent(&answer)),
        other => Err(PluginError::Malformed(format!("unknown step `{other}`"))),
    }
}

fn token(ctx: &ShopContext, answer: &Answer) -> Interpretation {
    if answer.errcode != 0 {
        return Interpretation::outcome(common_error(answer));
    }
    let Some(token) = answer.access_token.as_ref().filter(|t| !t.is_empty()) else {
        return Interpretation::outcome(DeliveryOutcome::retry(
            "the token answer has no access_token",
        ));
    };
    let lifetime = answer
        .expires_in
        .unwrap_or(7200)
        .saturating_sub(EARLY_REFRESH_SECS)
        .max(MIN_TOKEN_LIFE_SECS);
    Interpretation::with_state(
        DeliveryOutcome::NextStep,
        vec![
            StateChange::set(
                ACCESS_TOKEN,
                token.clone(),
                Some(ctx.now_ms + lifetime * 1000),
            ),
            StateChange::remove(FORCE_REFRESH),
        ],
    )
}

fn sent(answer: &Answer) -> Interpretation {
    match answer.errcode {
        0 => Interpretation::outcome(DeliveryOutcome::delivered(answer.msgid.as_ref().map(
            |id| match id {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            },
        ))),
        code => interpret_error(code, &answer.errmsg),
    }
}

/// Classifies a non-zero `errcode` of any endpoint.
pub fn interpret_error(errcode: i64, errmsg: &str) -> Interpretation {
    let answer = Answer {
        errcode,
        errmsg: errmsg.to_owned(),
        access_token: None,
        expires_in: None,
        msgid: None,
    };
    let answer = &answer;
    match answer.errcode {
        // Invalid or not-latest token: fetch a new one, forcing a refresh.
        40001 | 40014 => Interpretation::with_state(
            DeliveryOutcome::TokenExpired,
            vec![
                StateChange::remove(ACCESS_TOKEN),
                StateChange::set(FORCE_REFRESH, "1", None),
            ],
        ),
        // Expired: a normal fetch returns a fresh one.
        42001 => Interpretation::with_state(
            DeliveryOutcome::TokenExpired,
            vec![StateChange::remove(ACCESS_TOKEN)],
        ),
        45015 => Interpretation::outcome(DeliveryOutcome::window_closed(
            "45015",
            format!("the 48 h reply window has passed ({})", answer.errmsg),
        )),
        45047 => Interpretation::outcome(DeliveryOutcome::quota(
            None,
            format!(
                "45047: the reply quota since the customer's last message is used up ({})",
                answer.errmsg
            ),
        )),
        _ => Interpretation::outcome(common_error(answer)),
    }
}

/// Codes that mean the same on every endpoint.
fn common_error(answer: &Answer) -> DeliveryOutcome {
    let code = answer.errcode;
    match code {
        -1 => DeliveryOutcome::retry(format!("-1: WeChat is busy ({})", answer.errmsg)),
        45009 => DeliveryOutcome::quota(
            Some(QUOTA_WAIT_MS),
            format!("45009: API call quota reached ({})", answer.errmsg),
        ),
        _ => DeliveryOutcome::permanent(code.to_string(), describe(code, &answer.errmsg)),
    }
}

fn describe(code: i64, errmsg: &str) -> String {
    let meaning = match code {
        40003 => "the openid is not a follower of this account",
        40013 => "the AppID is invalid",
        40125 => "the AppSecret is invalid",
        40164 => "the server's IP is not on the account's whitelist",
        41001 | 41002 | 41004 => "a required parameter is missing",
        43004 => "the customer does not follow the account",
        40037 => "the template id is not one of the account's templates",
        43101 => "the customer has not subscribed to this template, or refuses it",
        47003 => "a template field is missing or invalid",
        44002 | 47001 => "the request body is invalid",
        45002 => "the message is too long",
        _ => "WeChat refused the request",
    };
    format!("{meaning} ({errmsg})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ShopContext {
        ShopContext::for_test("demo-oa", 1_000_000)
    }

    fn answer(step: &str, status: u16, body: &str) -> Interpretation {
        interpret(&ctx(), step, &HttpResponse::json(status, body)).unwrap()
    }

    #[test]
    fn a_token_answer_is_stored_with_an_early_expiry() {
        let result = answer(
            STEP_TOKEN,
            200,
            r#"{"access_token":"ACCESS","expires_in":7200}"#,
        );
        assert_eq!(result.outcome, DeliveryOutcome::NextStep);
        assert_eq!(
            result.state,
            vec![
                StateChange::set(ACCESS_TOKEN, "ACCESS", Some(1_000_000 + 6_900_000)),
                StateChange::remove(FORCE_REFRESH),
            ]
        );
    }

    #[test]
    fn token_errors_are_classified() {
        assert!(
            matches!(answer(STEP_TOKEN, 200, r#"{"errcode":40013,"errmsg":"invalid appid"}"#).outcome, DeliveryOutcome::Permanent(f) if f.code == "40013")
        );
        assert!(
            matches!(answer(STEP_TOKEN, 200, r#"{"errcode":40125,"errmsg":"invalid appsecret"}"#).outcome, DeliveryOutcome::Permanent(f) if f.code == "40125")
        );
        assert!(matches!(
            answer(STEP_TOKEN, 200, r#"{"errcode":-1,"errmsg":"system error"}"#).outcome,
            DeliveryOutcome::Retry(_)
        ));
        assert!(
            matches!(answer(STEP_TOKEN, 200, r#"{"errcode":45009,"errmsg":"reach max api daily quota limit"}"#).outcome, DeliveryOutcome::QuotaExceeded(h) if h.after_ms == Some(60_000))
        );
        assert!(matches!(
            answer(STEP_TOKEN, 200, r#"{"expires_in":7200}"#).outcome,
            DeliveryOutcome::Retry(_)
        ));
    }

    #[test]
    fn send_outcomes_are_classified() {
        assert_eq!(
            answer(STEP_SEND, 200, r#"{"errcode":0,"errmsg":"ok"}"#).outcome,
            DeliveryOutcome::delivered(None)
        );
        let invalid = answer(
            STEP_SEND,
            200,
            r#"{"errcode":40001,"errmsg":"invalid credential"}"#,
        );
        assert_eq!(invalid.outcome, DeliveryOutcome::TokenExpired);
        assert_eq!(
            invalid.state,
            vec![
                StateChange::remove(ACCESS_TOKEN),
                StateChange::set(FORCE_REFRESH, "1", None)
            ]
        );
        assert_eq!(
            answer(
                STEP_SEND,
                200,
                r#"{"errcode":40014,"errmsg":"invalid access_token"}"#
            )
            .outcome,
            DeliveryOutcome::TokenExpired
        );
        let expired = answer(
            STEP_SEND,
            200,
            r#"{"errcode":42001,"errmsg":"access_token expired"}"#,
        );
        assert_eq!(
            (expired.outcome, expired.state),
            (
                DeliveryOutcome::TokenExpired,
                vec![StateChange::remove(ACCESS_TOKEN)]
            )
        );
        assert!(
            matches!(answer(STEP_SEND, 200, r#"{"errcode":45015,"errmsg":"response out of time limit"}"#).outcome, DeliveryOutcome::WindowClosed(f) if f.code == "45015")
        );
        assert!(matches!(
            answer(
                STEP_SEND,
                200,
                r#"{"errcode":45047,"errmsg":"out of response count limit"}"#
            )
            .outcome,
            DeliveryOutcome::QuotaExceeded(_)
        ));
        assert!(matches!(
            answer(STEP_SEND, 200, r#"{"errcode":-1,"errmsg":"system error"}"#).outcome,
            DeliveryOutcome::Retry(_)
        ));
        assert!(
            matches!(answer(STEP_SEND, 200, r#"{"errcode":40003,"errmsg":"invalid openid"}"#).outcome, DeliveryOutcome::Permanent(f) if f.code == "40003" && f.reason.contains("not a follower"))
        );
        assert!(matches!(
            answer(
                STEP_SEND,
                200,
                r#"{"errcode":45002,"errmsg":"content size out of limit"}"#
            )
            .outcome,
            DeliveryOutcome::Permanent(_)
        ));
    }

    #[test]
    fn transport_trouble_is_retried() {
        assert!(matches!(
            answer(STEP_SEND, 502, "bad gateway").outcome,
            DeliveryOutcome::Retry(_)
        ));
        assert!(matches!(
            answer(STEP_SEND, 429, "").outcome,
            DeliveryOutcome::Retry(_)
        ));
        assert!(matches!(
            answer(STEP_SEND, 200, "<html>").outcome,
            DeliveryOutcome::Retry(_)
        ));
        assert!(interpret(&ctx(), "bogus", &HttpResponse::json(200, "{}")).is_err());
    }
}
