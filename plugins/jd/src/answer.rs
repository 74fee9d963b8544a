//! JOS's answers: the `{method}_responce` object of a success (JOS spells
//! it so; `_response` is accepted too), or an `error_response` — and a
//! success object whose own `code` is not `"0"` — classified into a delivery
//! outcome (token expired, quota, retry, permanent) by JOS's gateway codes.
//! Business results inside a success (`apiResult`, `returnType`) are read by
//! [`business_failure`].

use serde_json::Value as Json;
use tongdao_sdk::*;

/// How long to wait after JOS's call limit (it asks to call again later,
/// without saying when).
const QUOTA_WAIT_MS: u32 = 60_000;

/// A JOS answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The body of `{method}_responce`.
    Success(Json),
    /// What an error (or an unusable answer) means for the call.
    Failed(DeliveryOutcome),
}

/// Read the answer to `method` (e.g. `jingdong.pop.order.get`, whose success
/// is `jingdong_pop_order_get_responce`).
pub fn read(method: &str, response: &HttpResponse) -> Answer {
    let body = match response.json_answer("JOS") {
        Ok(body) => body,
        Err(outcome) => return Answer::Failed(outcome),
    };
    if let Some(error) = body.get("error_response") {
        return Answer::Failed(classify(error));
    }
    let stem = method.replace('.', "_");
    let found = body
        .get(format!("{stem}_responce"))
        .or_else(|| body.get(format!("{stem}_response")));
    match found {
        Some(object) if text(object, "code").is_some_and(|code| code != "0") => {
            Answer::Failed(classify(object))
        }
        Some(object) => Answer::Success(object.clone()),
        None => Answer::Failed(DeliveryOutcome::retry(format!(
            "JOS's answer has neither `{stem}_responce` nor `error_response`"
        ))),
    }
}

/// A field as text (JOS writes codes as strings or numbers).
pub fn text(value: &Json, field: &str) -> Option<String> {
    match value.get(field)? {
        Json::String(s) if !s.is_empty() => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Whether the platform's words say the failure is passing (busy, timed out,
/// unavailable) rather than a refusal.
fn sounds_transient(said: &str) -> bool {
    let lower = said.to_lowercase();
    [
        "系统繁忙",
        "服务不可用",
        "超时",
        "稍后",
        "busy",
        "timeout",
        "unavailable",
    ]
    .iter()
    .any(|word| lower.contains(word))
}

/// The outcome of an `error_response` (`code`, `zh_desc`, `en_desc`).
pub fn classify(error: &Json) -> DeliveryOutcome {
    let code = text(error, "code").unwrap_or_default();
    let zh = text(error, "zh_desc").unwrap_or_default();
    let en = text(error, "en_desc")
        .or_else(|| text(error, "msg"))
        .unwrap_or_default();
    let said = format!("{code} {zh} {en}").trim().to_string();
    let about_token =
        en.to_ascii_lowercase().contains("access_token") || zh.contains("access_token");
    match code.as_str() {
        "19" => return DeliveryOutcome::TokenExpired,
        _ if about_token => return DeliveryOutcome::TokenExpired,
        "2" => {
            return DeliveryOutcome::quota(Some(QUOTA_WAIT_MS), format!("JOS call limit: {said}"));
        }
        _ if sounds_transient(&said) => {
            return DeliveryOutcome::retry(format!("JOS is busy or unavailable: {said}"));
        }
        _ => {}
    }
    let meaning = match code.as_str() {
        "11" | "12" => "JOS refused the signature: check credential `app_secret`",
        "7" | "8" => {
            "JOS refused the timestamp (it allows 6 minutes of skew): check the host's clock"
        }
        "4" | "5" => "JOS refused the API version",
        "14" | "15" => "JOS does not know the method (or the app may not call it)",
        _ => "JOS refused the request",
    };
    DeliveryOutcome::permanent(code, format!("{meaning}: {said}"))
}

/// A failed business result inside a success object: `apiResult` (order
/// APIs: `success`, `numberCode`, `chineseErrCode`, `englishErrCode`) or
/// `returnType` (`success`, `code`, `msg`), as an outcome; `None` when the
/// result succeeded or there is none.
pub fn business_failure(object: &Json) -> Option<DeliveryOutcome> {
    let result = ["apiResult", "returnType", "result"]
        .iter()
        .filter_map(|key| object.get(*key))
        .find(|value| value.get("success").is_some())?;
    let succeeded = match result.get("success")? {
        Json::Bool(b) => *b,
        Json::String(s) => s == "true",
        _ => false,
    };
    if succeeded {
        return None;
    }
    let code = text(result, "numberCode")
        .or_else(|| text(result, "code"))
        .unwrap_or_else(|| "business".into());
    let words = [
        text(result, "chineseErrCode"),
        text(result, "englishErrCode"),
        text(result, "msg"),
        text(result, "message"),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let said = format!("{code} {words}");
    Some(if sounds_transient(&said) {
        DeliveryOutcome::retry(format!("JOS is busy: {said}"))
    } else {
        DeliveryOutcome::permanent(code, format!("JOS refused the request: {words}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn failed(body: &str) -> DeliveryOutcome {
        match read("jingdong.pop.order.get", &HttpResponse::json(200, body)) {
            Answer::Failed(outcome) => outcome,
            other => panic!("not a failure: {other:?}"),
        }
    }

    #[test]
    fn success_is_the_method_responce() {
        let answer = read(
            "jingdong.pop.order.get",
            &HttpResponse::json(
                200,
                r#"{"jingdong_pop_order_get_responce":{"code":"0","orderDetailInfo":{}}}"#,
            ),
        );
        assert_eq!(
            answer,
            Answer::Success(json!({"code":"0","orderDetailInfo":{}}))
        );
        let spelled_right = read(
            "jingdong.pop.order.get",
            &HttpResponse::json(200, r#"{"jingdong_pop_order_get_response":{"code":0}}"#),
        );
        assert!(matches!(spelled_right, Answer::Success(_)));
    }

    #[test]
    fn an_invalid_access_token_expires_the_token() {
        assert_eq!(
            failed(
                r#"{"error_response":{"code":"19","zh_desc":"无效access_token","en_desc":"Invalid access_token"}}"#
            ),
            DeliveryOutcome::TokenExpired
        );
        assert_eq!(
            failed(
                r#"{"error_response":{"code":"18","zh_desc":"缺少access_token参数","en_desc":"Missing access_token"}}"#
            ),
            DeliveryOutcome::TokenExpired
        );
    }

    #[test]
    fn call_limits_are_quota_and_busy_answers_are_retried() {
        assert!(matches!(
            failed(r#"{"error_response":{"code":"2","zh_desc":"限制时间内调用失败次数","en_desc":"App Call Limited"}}"#),
            DeliveryOutcome::QuotaExceeded(h) if h.after_ms == Some(60_000)
        ));
        assert!(matches!(
            failed(
                r#"{"error_response":{"code":"67","zh_desc":"平台连接后端服务不可用","en_desc":"Platform back-end service unavailable"}}"#
            ),
            DeliveryOutcome::Retry(_)
        ));
        assert!(matches!(
            read("m", &HttpResponse::text(503, "busy")),
            Answer::Failed(DeliveryOutcome::Retry(_))
        ));
        assert!(matches!(
            read("m", &HttpResponse::text(200, "<html>")),
            Answer::Failed(DeliveryOutcome::Retry(_))
        ));
        assert!(matches!(
            read("jingdong.pop.order.get", &HttpResponse::json(200, "{}")),
            Answer::Failed(DeliveryOutcome::Retry(r)) if r.reason.contains("jingdong_pop_order_get_responce")
        ));
    }

    #[test]
    fn signature_clock_and_unknown_errors_are_permanent_and_say_what_to_check() {
        let forged = failed(
            r#"{"error_response":{"code":"12","zh_desc":"无效签名","en_desc":"Invalid Signature"}}"#,
        );
        assert!(
            matches!(&forged, DeliveryOutcome::Permanent(f) if f.code == "12" && f.reason.contains("app_secret"))
        );
        let clock = failed(
            r#"{"error_response":{"code":"8","zh_desc":"非法的时间戳参数","en_desc":"Invalid Timestamp"}}"#,
        );
        assert!(
            matches!(&clock, DeliveryOutcome::Permanent(f) if f.code == "8" && f.reason.contains("clock"))
        );
        let inner = failed(r#"{"jingdong_pop_order_get_responce":{"code":"15","en_desc":"odd"}}"#);
        assert!(matches!(&inner, DeliveryOutcome::Permanent(f) if f.code == "15"));
    }

    #[test]
    fn business_results_are_read() {
        assert_eq!(
            business_failure(&json!({"apiResult": {"success": true}})),
            None
        );
        assert_eq!(business_failure(&json!({"orderInfo": {}})), None);
        let missing = business_failure(&json!({"apiResult": {
            "success": false, "numberCode": 10100042, "chineseErrCode": "订单不存在", "englishErrCode": "order not exist"
        }}))
        .unwrap();
        assert!(
            matches!(&missing, DeliveryOutcome::Permanent(f) if f.code == "10100042" && f.reason.contains("订单不存在"))
        );
        let busy = business_failure(
            &json!({"returnType": {"success": "false", "code": 500, "msg": "系统繁忙"}}),
        );
        assert!(matches!(busy, Some(DeliveryOutcome::Retry(_))));
    }
}
