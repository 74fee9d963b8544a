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
