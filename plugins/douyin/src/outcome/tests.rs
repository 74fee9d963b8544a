//! Every answer the plugin classifies: token fetches, look-ups, and the
//! platform's error codes.

use super::*;
use crate::token::{ACCESS_TOKEN, REFRESH_TOKEN};

const NOW_MS: i64 = 1_700_000_000_000;
const SECRET: &str = "test_secret";

fn ctx() -> ShopContext {
    ShopContext::for_test("demo-doudian", NOW_MS)
        .with_credential("app_key", "7000000000000000001")
        .with_credential("app_secret", SECRET)
        .with_setting("shop_id", "12345")
        .with_state(ACCESS_TOKEN, "access-token-value", Some(NOW_MS + 1_000_000))
        .with_state(
            REFRESH_TOKEN,
            "refresh-token-value",
            Some(NOW_MS + 9_000_000),
        )
}

fn answer_with(ctx: &ShopContext, step: &str, status: u16, body: &str) -> Interpretation {
    interpret(ctx, step, &HttpResponse::json(status, body)).unwrap()
}

fn answer(step: &str, body: &str) -> Interpretation {
    answer_with(&ctx(), step, 200, body)
}

fn error(code: i64, sub_code: &str) -> String {
    format!(r#"{{"code":{code},"msg":"m","sub_code":"{sub_code}","sub_msg":"s","log_id":"l"}}"#)
}

fn permanent_code(outcome: &DeliveryOutcome) -> &str {
    match outcome {
        DeliveryOutcome::Permanent(f) => &f.code,
        other => panic!("not permanent: {other:?}"),
    }
}

#[test]
fn a_created_token_is_stored_and_the_action_continues() {
    for step in [STEP_CREATE, STEP_REFRESH] {
        let result = answer(
            step,
            r#"{"code":10000,"msg":"success","sub_code":"","sub_msg":"","data":{"access_token":"AT2","expires_in":604800,"refresh_token":"RT2","scope":"SCOPE","shop_id":12345,"shop_name":"demo"}}"#,
        );
        assert_eq!(result.outcome, DeliveryOutcome::NextStep);
        assert_eq!(
            result.state,
            vec![
                StateChange::set(ACCESS_TOKEN, "AT2", Some(NOW_MS + 601_800_000)),
                StateChange::set(REFRESH_TOKEN, "RT2", Some(NOW_MS + 1_206_600_000)),
            ]
        );
    }
    let empty = answer(STEP_CREATE, r#"{"code":10000,"msg":"success","data":{}}"#);
    assert!(matches!(empty.outcome, DeliveryOutcome::Retry(_)));
}

#[test]
fn an_order_is_answered_with_its_summary() {
    let detail = r#"{"order_id":"6900000000000000000","order_status":2,"order_status_desc":"备货中","pay_amount":9900,"logistics_info":[{"tracking_no":"YT1","company":"yuantong","company_name":"圆通快递"}],"sku_order_list":[{"order_id":"6900000000000000001","product_id":3600000000000000001}]}"#;
    let body =
        format!(r#"{{"code":10000,"msg":"success","data":{{"shop_order_detail":{detail}}}}}"#);
    let result = answer(STEP_ORDER, &body);
    assert!(result.state.is_empty());
    let DeliveryOutcome::Delivered(receipt) = &result.outcome else {
        panic!("{:?}", result.outcome)
    };
    let summary: serde_json::Value =
        serde_json::from_str(receipt.result_json.as_deref().unwrap()).unwrap();
    assert_eq!(summary["order_id"], "6900000000000000000");
    assert_eq!(summary["state"], "paid");
    assert_eq!(summary["status"], "2");
    assert_eq!(summary["amount"], "99.00");
    assert_eq!(summary["shipments"][0]["company"], "圆通快递");
    assert_eq!(summary["shipments"][0]["tracking_number"], "YT1");
    // 19-digit ids in the raw detail stay exact.
    assert_eq!(
        summary["raw"]["sku_order_list"][0]["product_id"].as_u64(),
        Some(3600000000000000001)
    );
    let missing = answer(STEP_ORDER, r#"{"code":10000,"msg":"success","data":{}}"#);
    assert_eq!(permanent_code(&missing.outcome), "no-shop-order-detail");
    // The older envelope works too.
    let old = answer(
        STEP_ORDER,
        &format!(r#"{{"err_no":0,"message":"success","data":{{"shop_order_detail":{detail}}}}}"#),
    );
    assert!(matches!(old.outcome, DeliveryOutcome::Delivered(_)));
}

#[test]
fn order_states_follow_order_status() {
    for (status, state) in [
        (1, OrderState::Created),
        (105, OrderState::Paid),
        (2, OrderState::Paid),
        (101, OrderState::Shipped),
        (3, OrderState::Shipped),
        (4, OrderState::Closed),
        (5, OrderState::Completed),
        (99, OrderState::Other),
    ] {
        assert_eq!(order_state(status), state, "{status}");
    }
}

#[test]
fn an_expired_access_token_is_dropped_and_refreshed() {
    let result = answer(STEP_ORDER, &error(40003, "isv.access-token-expired"));
    assert_eq!(result.outcome, DeliveryOutcome::TokenExpired);
    assert_eq!(result.state, vec![StateChange::remove(ACCESS_TOKEN)]);
}

#[test]
fn unknown_access_tokens_are_dropped_with_their_refresh_token() {
    for sub in ["isv.access-token-no-existed", "isv.access-token-invalid"] {
        let result = answer(STEP_ORDER, &error(40003, sub));
        assert_eq!(result.outcome, DeliveryOutcome::TokenExpired, "{sub}");
        assert_eq!(
            result.state,
            vec![
                StateChange::remove(ACCESS_TOKEN),
                StateChange::remove(REFRESH_TOKEN)
            ]
        );
    }
}

#[test]
fn refresh_failures() {
    for sub in [
        "dop.token-generate-failed:token-expired",
        "dop.token-generate-failed:token-invalid",
        "isv.business-failed:31009",
    ] {
        let result = answer(
            STEP_REFRESH,
            &error(if sub.starts_with("dop") { 50001 } else { 50002 }, sub),
        );
        assert_eq!(result.outcome, DeliveryOutcome::TokenExpired, "{sub}");
        assert_eq!(result.state, token::forget());
    }
    let concurrent = answer(STEP_REFRESH, &error(50002, "isv.business-failed:31012"));
    assert!(
        matches!(concurrent.outcome, DeliveryOutcome::Retry(ref h) if h.after_ms == Some(BUSY_WAIT_MS))
    );
}

#[test]
fn token_creation_failures_are_permanent() {
    for sub in [
        "dop.token-generate-failed:app-secret-invalid",
        "dop.token-generate-failed:no-authorization",
        "dop.token-generate-failed:grant-type-invalid",
        "dop.token-generate-failed:app-forbidden",
    ] {
        let result = answer(STEP_CREATE, &error(50001, sub));
        assert_eq!(permanent_code(&result.outcome), sub);
        assert_eq!(result.state, token::forget());
    }
    for sub in [
        "dop.authorization-no-existed",
        "dop.authorization-closed",
        "dop.app-forbidden",
    ] {
        let result = answer(STEP_ORDER, &error(30001, sub));
        assert_eq!(permanent_code(&result.outcome), sub);
        assert_eq!(result.state, token::forget());
    }
}

#[test]
fn platform_codes_are_classified() {
    let retry = |body: &str| matches!(answer(STEP_ORDER, body).outcome, DeliveryOutcome::Retry(_));
    assert!(retry(&error(20000, "isp.service-error:1001")));
    assert!(retry(&error(20000, "dop.service-error")));
    assert!(retry(&error(20001, "")));
    assert!(retry(&error(50000, "")));
    match answer(STEP_ORDER, &error(60000, "")).outcome {
        DeliveryOutcome::QuotaExceeded(hint) => {
            assert_eq!(hint.after_ms, Some(RATE_LIMIT_WAIT_MS));
            assert!(hint.reason.contains("rate limit"));
        }
        other => panic!("{other:?}"),
    }
    let cases = [
        (30001, "isv.app-permissions-insufficient", "permission"),
        (30002, "", "whitelist"),
        (40001, "isv.signature-missing", "signature"),
        (40003, "isv.signature-invalid", "app_secret"),
        (40003, "isv.app-id-invalid", "app_key"),
        (40003, "isv.app-id-expired", "expired"),
        (40003, "isv.timestamp-invalid", "clock"),
        (40003, "isv.timestamp-format-error", "clock"),
        (40003, "isv.parameter-format-invalid", "param_json"),
        (40001, "isv.access-token-missing", "no access token"),
        (40002, "isv.missing-parameter:20000", "parameters"),
        (40004, "isv.parameter-invalid:20014", "parameters"),
        (40004, "isv.parameter-invalid:20001", "parameters"),
        (50002, "isv.business-failed:20015", "could not"),
        (70000, "isp.api-service-off", "offline"),
        (80000, "", "security"),
        (90000, "dop.unknown-error", "refused"),
        (12345, "", "refused"),
    ];
    for (code, sub, meaning) in cases {
        match answer(STEP_ORDER, &error(code, sub)).outcome {
            DeliveryOutcome::Permanent(f) => {
                let expected = if sub.is_empty() {
                    code.to_string()
                } else {
                    sub.to_string()
                };
                assert_eq!(f.code, expected);
                assert!(f.reason.contains(meaning), "{code} {sub}: {}", f.reason);
                assert!(f.reason.contains(&code.to_string()), "{}", f.reason);
            }
            other => panic!("{code} {sub}: {other:?}"),
        }
    }
    let old = answer(STEP_ORDER, r#"{"err_no":30001,"message":"no permission"}"#);
    assert_eq!(permanent_code(&old.outcome), "30001");
}

#[test]
fn documented_retryable_business_failures() {
    for sub in [
        "isv.business-failed:20004",
        "isv.business-failed:20045",
        "isv.business-failed:20055",
    ] {
        let outcome = answer(STEP_ORDER, &error(50002, sub)).outcome;
        assert!(
            matches!(outcome, DeliveryOutcome::Retry(ref h) if h.after_ms == Some(BUSY_WAIT_MS)),
            "{sub}"
        );
    }
    assert_eq!(
        permanent_code(&answer(STEP_ORDER, &error(50002, "isv.business-failed:10015")).outcome),
        "isv.business-failed:10015"
    );
}

#[test]
fn transport_trouble() {
    let outcome = |status, body| answer_with(&ctx(), STEP_ORDER, status, body).outcome;
    assert!(matches!(
        outcome(429, ""),
        DeliveryOutcome::QuotaExceeded(_)
    ));
    assert!(matches!(
        outcome(502, "bad gateway"),
        DeliveryOutcome::Retry(_)
    ));
    assert!(matches!(outcome(503, "{}"), DeliveryOutcome::Retry(_)));
    assert!(matches!(outcome(200, "<html>"), DeliveryOutcome::Retry(_)));
    assert!(interpret(&ctx(), "bogus", &HttpResponse::json(200, "{}")).is_err());
}

#[test]
fn reasons_never_carry_secrets() {
    let echo = format!(
        r#"{{"code":40003,"msg":"bad {SECRET}","sub_code":"isv.signature-invalid","sub_msg":"token access-token-value / refresh-token-value"}}"#
    );
    let result = answer(STEP_ORDER, &echo);
    let text = format!("{:?}", result.outcome);
    assert!(
        !text.contains(SECRET)
            && !text.contains("access-token-value")
            && !text.contains("refresh-token-value"),
        "{text}"
    );
    assert!(text.contains("***"));
}
