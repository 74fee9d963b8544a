//! TOP's answers: the `{method}_response` object of a success, or an
//! `error_response` classified into a delivery outcome (quota, retry,
//! permanent) by its platform code and `sub_code`.

use serde_json::Value as Json;
use tongdao_sdk::*;

/// How long to wait after a call limit when TOP does not say.
const QUOTA_WAIT_MS: u32 = 60_000;

/// A TOP answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The body of `{name}_response`.
    Success(Json),
    /// What an error (or an unusable answer) means for the call.
    Failed(DeliveryOutcome),
}

/// Read the answer to `method` (e.g. `taobao.trade.fullinfo.get`, whose
/// success is `trade_fullinfo_get_response`).
pub fn read(method: &str, response: &HttpResponse) -> Answer {
    let body = match response.json_answer("TOP") {
        Ok(body) => body,
        Err(outcome) => return Answer::Failed(outcome),
    };
    if let Some(error) = body.get("error_response") {
        return Answer::Failed(classify(error));
    }
    let name = format!(
        "{}_response",
        method.trim_start_matches("taobao.").replace('.', "_")
    );
    match body.get(&name) {
        Some(found) => Answer::Success(found.clone()),
        None => Answer::Failed(DeliveryOutcome::retry(format!(
            "TOP's answer has neither `{name}` nor `error_response`"
        ))),
    }
}

fn field(error: &Json, name: &str) -> String {
    match error.get(name) {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// The seconds a call-limit message says the ban lasts ("This ban will
/// last for 12 more seconds").
fn ban_seconds(text: &str) -> Option<u32> {
    let rest = &text[text.find("last for ")? + "last for ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The outcome an `error_response` stands for.
pub fn classify(error: &Json) -> DeliveryOutcome {
    let code = field(error, "code");
    let msg = field(error, "msg");
    let sub_code = field(error, "sub_code");
    let sub_msg = field(error, "sub_msg");
    let said = if sub_code.is_empty() {
        format!("{code} {msg}")
    } else {
        format!("{code} {msg} ({sub_code}: {sub_msg})")
    };
    let meaning = match code.as_str() {
        // Call limits: the app, session, user or partner is over quota.
        "4" | "5" | "6" | "7" | "8" => {
            let after = ban_seconds(&sub_msg)
                .or_else(|| ban_seconds(&msg))
                .map(|s| s.saturating_mul(1000))
                .unwrap_or(QUOTA_WAIT_MS);
            return DeliveryOutcome::quota(Some(after), format!("TOP call limit: {said}"));
        }
        "10" => return DeliveryOutcome::retry(format!("TOP service unavailable: {said}")),
        _ if sub_code.starts_with("isp.") => {
            return DeliveryOutcome::retry(format!("TOP server-side error, retry later: {said}"));
        }
        "15" if sub_code.is_empty() => {
            return DeliveryOutcome::retry(format!("TOP remote service error: {said}"));
        }
        "26" | "27" => {
            "the seller's session is missing or expired: re-authorise the app for the shop and update credential `session`"
        }
        "25" => {
            "TOP refused the signature: check credential `app_secret` and setting `sign_method`"
        }
        "28" | "29" => "TOP does not know the app key: check credential `app_key`",
        "11" => "the app lacks permission for this API (apply for it on the open platform)",
        "12" => "the seller has not granted this permission",
        "13" => "insufficient partner permissions",
        "30" | "31" => "TOP refused the timestamp: check the host's clock",
        "21" | "22" => "TOP does not know the method",
        "40" | "41" | "43" => "the request's arguments are missing or invalid",
        "42" => "TOP forbids this request",
        "15" => "the business service refused the request",
        _ => "TOP refused the request",
    };
    DeliveryOutcome::permanent(code, format!("{meaning}: {said}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(body: &str) -> DeliveryOutcome {
        match read("taobao.trade.fullinfo.get", &HttpResponse::json(200, body)) {
            Answer::Failed(outcome) => outcome,
            other => panic!("not a failure: {other:?}"),
        }
    }

    #[test]
    fn success_is_the_method_response() {
        let answer = read(
            "taobao.trade.fullinfo.get",
            &HttpResponse::json(
                200,
                r#"{"trade_fullinfo_get_response":{"trade":{"tid":1}}}"#,
            ),
        );
        assert_eq!(
            answer,
            Answer::Success(serde_json::json!({"trade":{"tid":1}}))
        );
    }

    #[test]
    fn call_limits_are_quota_with_the_ban_time() {
        let outcome = error(
            r#"{"error_response":{"code":7,"msg":"App Call Limited","sub_code":"accesscontrol.limited-by-app-access-count","sub_msg":"This ban will last for 12 more seconds"}}"#,
        );
        assert!(matches!(outcome, DeliveryOutcome::QuotaExceeded(h) if h.after_ms == Some(12_000)));
        let outcome =
            error(r#"{"error_response":{"code":"8","msg":"App Call Exceeds Limited Frequency"}}"#);
        assert!(matches!(outcome, DeliveryOutcome::QuotaExceeded(h) if h.after_ms == Some(60_000)));
    }

    #[test]
    fn server_side_errors_are_retried() {
        for body in [
            r#"{"error_response":{"code":15,"msg":"Remote service error","sub_code":"isp.top-remote-connection-timeout","sub_msg":"timeout"}}"#,
            r#"{"error_response":{"code":10,"msg":"Service Currently Unavailable"}}"#,
            r#"{"error_response":{"code":15,"msg":"Remote service error"}}"#,
        ] {
            assert!(matches!(error(body), DeliveryOutcome::Retry(_)), "{body}");
        }
        assert!(matches!(
            read("m", &HttpResponse::text(502, "bad gateway")),
            Answer::Failed(DeliveryOutcome::Retry(_))
        ));
        assert!(matches!(
            read("m", &HttpResponse::text(200, "<html>")),
            Answer::Failed(DeliveryOutcome::Retry(_))
        ));
    }

    #[test]
    fn session_signature_and_permission_errors_are_permanent_and_say_what_to_do() {
        let expired = error(
            r#"{"error_response":{"code":27,"msg":"Invalid session","sub_code":"invalid-sessionkey","sub_msg":"SessionKey非法"}}"#,
        );
        assert!(
            matches!(&expired, DeliveryOutcome::Permanent(f) if f.code == "27" && f.reason.contains("re-authorise"))
        );
        let forged = error(r#"{"error_response":{"code":25,"msg":"Invalid signature"}}"#);
        assert!(
            matches!(&forged, DeliveryOutcome::Permanent(f) if f.code == "25" && f.reason.contains("signature"))
        );
        let denied =
            error(r#"{"error_response":{"code":11,"msg":"Insufficient isv permissions"}}"#);
        assert!(matches!(&denied, DeliveryOutcome::Permanent(f) if f.code == "11"));
        let business = error(
            r#"{"error_response":{"code":15,"msg":"Remote service error","sub_code":"isv.trade-not-exist","sub_msg":"交易不存在"}}"#,
        );
        assert!(
            matches!(&business, DeliveryOutcome::Permanent(f) if f.code == "15" && f.reason.contains("isv.trade-not-exist"))
        );
        let unknown = error(r#"{"error_response":{"code":999,"msg":"odd"}}"#);
        assert!(matches!(&unknown, DeliveryOutcome::Permanent(f) if f.code == "999"));
    }

    #[test]
    fn a_missing_response_object_is_retried() {
        assert!(matches!(
            read("taobao.tmc.messages.consume", &HttpResponse::json(200, "{}")),
            Answer::Failed(DeliveryOutcome::Retry(r)) if r.reason.contains("tmc_messages_consume_response")
        ));
    }
}
