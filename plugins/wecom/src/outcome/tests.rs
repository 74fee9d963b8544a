use super::*;

fn ctx() -> ShopContext {
    ShopContext::for_test("demo-wecom", 1_700_000_000_000)
}

fn send() -> Action {
    Action {
        idempotency_key: "0123456789abcdef0123456789abcdef".into(),
        conversation_id: "wkABCDEF:wmEXTERNAL1".into(),
        recipient: "wmEXTERNAL1".into(),
        route: vec![],
        kind: ActionKind::SendMessage(Content::Text("hi".into())),
        attempt: 1,
    }
}

fn outcome(step: &str, body: &str) -> DeliveryOutcome {
    interpret(&ctx(), &send(), step, &HttpResponse::json(200, body))
        .unwrap()
        .outcome
}

#[test]
fn sends_are_classified_by_errcode() {
    assert_eq!(
        outcome(STEP_SEND, r#"{"errcode":0,"errmsg":"ok","msgid":"MSG1"}"#),
        DeliveryOutcome::delivered(Some("MSG1".to_string()))
    );
    assert!(matches!(
        outcome(STEP_SEND, r#"{"errcode":95018,"errmsg":"send msg not allowed"}"#),
        DeliveryOutcome::WindowClosed(ref f) if f.code == "95018"
    ));
    assert!(matches!(
        outcome(
            STEP_SEND,
            r#"{"errcode":95001,"errmsg":"send msg count limit"}"#
        ),
        DeliveryOutcome::WindowClosed(_)
    ));
    assert_eq!(
        outcome(
            STEP_SEND,
            r#"{"errcode":42001,"errmsg":"access_token expired"}"#
        ),
        DeliveryOutcome::TokenExpired
    );
    assert!(matches!(
        outcome(STEP_SEND, r#"{"errcode":-1,"errmsg":"system busy"}"#),
        DeliveryOutcome::Retry(_)
    ));
}

#[test]
fn a_refused_welcome_code_is_permanent() {
    assert!(matches!(
        outcome(STEP_REPLY, r#"{"errcode":95016,"errmsg":"invalid code"}"#),
        DeliveryOutcome::Permanent(_)
    ));
}

#[test]
fn a_rejected_credential_on_a_call_drops_the_token_but_not_at_gettoken() {
    let result = interpret(
        &ctx(),
        &send(),
        STEP_SEND,
        &HttpResponse::json(200, r#"{"errcode":40001,"errmsg":"invalid credential"}"#),
    )
    .unwrap();
    assert_eq!(result.outcome, DeliveryOutcome::TokenExpired);
    assert_eq!(result.state, token::forget());
    assert_eq!(
        outcome(
            STEP_REPLY,
            r#"{"errcode":40001,"errmsg":"invalid credential"}"#
        ),
        DeliveryOutcome::TokenExpired
    );
    assert!(matches!(
        outcome(
            token::STEP_TOKEN,
            r#"{"errcode":40001,"errmsg":"invalid credential"}"#
        ),
        DeliveryOutcome::Permanent(ref f) if f.code == "40001"
    ));
}

#[test]
fn window_quota_and_unknown_codes_are_told_apart() {
    for code in [95002, 95024] {
        assert!(
            matches!(
                outcome(STEP_SEND, &format!(r#"{{"errcode":{code},"errmsg":"x"}}"#)),
                DeliveryOutcome::WindowClosed(ref f) if f.code == code.to_string()
            ),
            "{code}"
        );
    }
    assert!(matches!(
        outcome(
            STEP_SEND,
            r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#
        ),
        DeliveryOutcome::QuotaExceeded(_)
    ));
    let DeliveryOutcome::Permanent(failure) = outcome(
        STEP_SEND,
        r#"{"errcode":40003,"errmsg":"invalid external_userid"}"#,
    ) else {
        panic!("an unknown external_userid is permanent")
    };
    assert_eq!(failure.code, "40003");
    assert!(failure.reason.contains("invalid external_userid"));
    assert!(matches!(
        interpret(&ctx(), &send(), "bogus", &HttpResponse::json(200, "{}")),
        Err(PluginError::Malformed(_))
    ));
}

#[test]
fn a_msgid_used_before_means_the_earlier_attempt_was_delivered() {
    assert_eq!(
        outcome(
            STEP_SEND,
            r#"{"errcode":40035,"errmsg":"msgid already exist"}"#
        ),
        DeliveryOutcome::delivered(Some("0123456789abcdef0123456789abcdef".to_string()))
    );
    // Without that wording, the code decides.
    assert!(matches!(
        outcome(
            STEP_SEND,
            r#"{"errcode":40035,"errmsg":"invalid parameter"}"#
        ),
        DeliveryOutcome::Permanent(_)
    ));
}

#[test]
fn a_state_change_is_delivered_with_its_msg_code() {
    let DeliveryOutcome::Delivered(receipt) = outcome(
        STEP_STATE,
        r#"{"errcode":0,"errmsg":"ok","msg_code":"MSG_CODE"}"#,
    ) else {
        panic!("delivered")
    };
    assert_eq!(
        receipt.result_json.as_deref(),
        Some(r#"{"msg_code":"MSG_CODE"}"#)
    );
    assert!(matches!(
        outcome(STEP_STATE, r#"{"errcode":95014,"errmsg":"servicer not on duty"}"#),
        DeliveryOutcome::Permanent(ref f) if f.code == "95014"
    ));
}
