//! WeCom API answers: every endpoint answers JSON with `errcode` (0 = ok) and
//! `errmsg`. This module reads an answer, knows what each error code means,
//! and classifies the codes that mean the same on every endpoint (tokens,
//! "system busy", call-rate limits). Endpoint-specific codes are classified
//! where the endpoint is handled.

use crate::token;
use serde_json::Value;
use tongdao_sdk::*;

/// How long to wait after 45009 (API call frequency limit).
const FREQUENCY_WAIT_MS: u32 = 60_000;
/// How long to wait after 45033 (too many concurrent calls).
const CONCURRENCY_WAIT_MS: u32 = 1_000;

/// A parsed answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// `errcode`; 0 when absent.
    pub errcode: i64,
    /// `errmsg`, for reasons.
    pub errmsg: String,
    /// The whole JSON object.
    pub body: Value,
}

impl Answer {
    /// A string field of the answer.
    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.body.get(name).and_then(Value::as_str)
    }

    /// `meaning (errmsg)` for reasons: what the code means and what WeCom said.
    pub fn explain(&self) -> String {
        format!(
            "{}: {} (WeCom said: {})",
            self.errcode,
            meaning(self.errcode),
            self.errmsg
        )
    }
}

/// Read a response: `Err` carries the outcome when there is no usable
/// answer (HTTP 429/5xx, a body that is not a JSON object): retry.
pub fn read(response: &HttpResponse) -> Result<Answer, DeliveryOutcome> {
    if response.status == 429 || response.status >= 500 {
        return Err(DeliveryOutcome::retry(format!(
            "WeCom answered HTTP {}",
            response.status
        )));
    }
    let body: Value = serde_json::from_slice(&response.body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| {
            DeliveryOutcome::retry(format!(
                "WeCom answered HTTP {} with a body that is not a JSON object",
                response.status
            ))
        })?;
    let errcode = match body.get("errcode") {
        None | Some(Value::Null) => 0,
        Some(code) => code
            .as_i64()
            .or_else(|| code.as_str().and_then(|s| s.trim().parse().ok()))
            .ok_or_else(|| {
                DeliveryOutcome::retry("WeCom answered an `errcode` that is not a number")
            })?,
    };
    let errmsg = body
        .get("errmsg")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Ok(Answer {
        errcode,
        errmsg,
        body,
    })
}

/// The outcome for a code every endpoint shares, with the state it changes:
/// a rejected access token is dropped (the host renders again, fetching a
/// new one), "busy" is retried, rate limits back off, everything else is
/// permanent with the code.
///
/// 40001 is "invalid secret" at `gettoken` (classified there, permanent),
/// but on a call made with an access token it is WeCom's older "invalid
/// credential" for the token itself: the token is dropped and fetched
/// again, and a wrong secret then shows at `gettoken`.
pub fn common(answer: &Answer) -> Interpretation {
    match answer.errcode {
        // Invalid, expired or missing access token.
        40014 | 42001 | 41001 | 40001 => {
            Interpretation::with_state(DeliveryOutcome::TokenExpired, token::forget())
        }
        -1 => Interpretation::outcome(DeliveryOutcome::retry(answer.explain())),
        45009 => Interpretation::outcome(DeliveryOutcome::quota(
            Some(FREQUENCY_WAIT_MS),
            answer.explain(),
        )),
        45033 => Interpretation::outcome(DeliveryOutcome::quota(
            Some(CONCURRENCY_WAIT_MS),
            answer.explain(),
        )),
        code => Interpretation::outcome(DeliveryOutcome::permanent(
            code.to_string(),
            answer.explain(),
        )),
    }
}

/// What a WeCom error code means (the global code list and the 微信客服
/// codes; see README.md for sources and what is unverified).
pub fn meaning(code: i64) -> &'static str {
    match code {
        0 => "ok",
        -1 => "WeCom is busy, retry later",
        40001 => {
            "the secret or the access token is invalid (use the secret of an app allowed to call the 微信客服 API)"
        }
        40007 => "the media_id is invalid or expired",
        40008 => "the msgtype is invalid",
        40013 => "the corp id is invalid",
        40014 => "the access token is invalid",
        40035 => "a parameter is invalid",
        41001 => "the access token is missing",
        41002 => "the corp id is missing",
        41004 => "the secret is missing",
        42001 => "the access token has expired",
        44004 => "the text content is empty",
        45002 => "the content is longer than allowed",
        45009 => "the API call frequency limit is reached",
        45033 => "too many concurrent API calls",
        48002 => "the API is forbidden for this app (grant it 微信客服 access)",
        60020 => "the caller's IP is not a trusted IP of the corp",
        95000 => "the open_kfid is invalid",
        95001 => "the 5 messages allowed since the customer's last message are used up",
        95002 => "more than 48 h have passed since the customer's last message",
        95004 => "the open_kfid does not exist in this corp",
        95007 => "the sync token (msg token) is invalid or expired",
        95008 => "the menu message has too many items",
        95009 => "a menu item's type is invalid",
        95014 => "the servicer is not a servicer of this account or is not on duty",
        95016 => "the session cannot change to that state",
        95017 => "the corp switched the 微信客服 API off",
        95018 => "the session is not in a state that accepts API messages (only 0 new and 1 bot)",
        95022 => "the location is invalid",
        95024 => "the customer has not written within 48 h",
        95025 => "only one business card may be sent per 48 h",
        _ => "WeCom refused the request",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &str) -> Answer {
        read(&HttpResponse::json(200, body)).unwrap()
    }

    #[test]
    fn answers_are_read() {
        let ok = answer(r#"{"errcode":0,"errmsg":"ok","msgid":"m1"}"#);
        assert_eq!((ok.errcode, ok.str_field("msgid")), (0, Some("m1")));
        // gettoken-style answers may omit errcode; string codes are accepted.
        assert_eq!(answer(r#"{"access_token":"t"}"#).errcode, 0);
        assert_eq!(answer(r#"{"errcode":"95018"}"#).errcode, 95018);
    }

    #[test]
    fn unusable_answers_are_retried() {
        for response in [
            HttpResponse::json(502, "bad gateway"),
            HttpResponse::json(429, ""),
            HttpResponse::json(200, "<html>"),
            HttpResponse::json(200, "[1]"),
            HttpResponse::json(200, r#"{"errcode":"x"}"#),
        ] {
            assert!(
                matches!(read(&response), Err(DeliveryOutcome::Retry(_))),
                "{response:?}"
            );
        }
    }

    #[test]
    fn shared_codes_are_classified() {
        for code in [40014, 42001, 41001, 40001] {
            let result = common(&answer(&format!(r#"{{"errcode":{code},"errmsg":"x"}}"#)));
            assert_eq!(result.outcome, DeliveryOutcome::TokenExpired, "{code}");
            assert_eq!(result.state, token::forget());
        }
        assert!(matches!(
            common(&answer(r#"{"errcode":-1,"errmsg":"system busy"}"#)).outcome,
            DeliveryOutcome::Retry(_)
        ));
        assert!(matches!(
            common(&answer(
                r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#
            ))
            .outcome,
            DeliveryOutcome::QuotaExceeded(RetryHint {
                after_ms: Some(60_000),
                ..
            })
        ));
        assert!(matches!(
            common(&answer(
                r#"{"errcode":45033,"errmsg":"api concurrent out of limit"}"#
            ))
            .outcome,
            DeliveryOutcome::QuotaExceeded(_)
        ));
        let unknown = common(&answer(r#"{"errcode":99999,"errmsg":"new"}"#));
        assert!(
            matches!(&unknown.outcome, DeliveryOutcome::Permanent(f) if f.code == "99999" && f.reason.contains("new")),
            "{unknown:?}"
        );
    }
}
