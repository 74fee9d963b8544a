//! The push endpoint against the signature vectors and against forged,
//! tampered, mis-addressed and malformed pushes.

use super::*;
use crate::event_sign::event_sign;

const APP_KEY: &str = "7000000000000000001";
const SECRET: &str = "test_secret";
const NOW_MS: i64 = 1_700_000_500_000;
/// The documented example push (order created).
const CREATED: &str = r#"[{"tag":"100","msg_id":"7000000000000000000:100:1700000000","data":"{\"p_id\":6900000000000000000,\"shop_id\":12345,\"order_status\":1}"}]"#;
const CREATED_MD5: &str = "b16b00cbf39698f45614f23b7cbd442f";
const CREATED_HMAC: &str = "4f3da5a04b4e4bae965b092c1753e1243eb42f4f91e89fa1f3fb13f10dd44ac9";

fn ctx() -> ShopContext {
    ShopContext::for_test("demo-doudian", NOW_MS)
        .with_credential("app_key", APP_KEY)
        .with_credential("app_secret", SECRET)
        .with_setting("shop_id", "12345")
}

fn signed_request(body: &str, headers: &[(&str, &str)]) -> HttpRequest {
    let mut request = HttpRequest::new(
        "POST",
        "/hooks/douyin/demo-doudian",
        body.as_bytes().to_vec(),
    );
    for (name, value) in headers {
        request = request.with_header(name, value);
    }
    request
}

/// A push signed like the platform: `app-id`, `event-sign`, and
/// `sign-method` when given.
fn signed(body: &str, method: Option<PushSignMethod>) -> HttpRequest {
    let sign = event_sign(
        method.unwrap_or(PushSignMethod::Md5),
        APP_KEY,
        SECRET,
        body.as_bytes(),
    );
    let mut request = signed_request(body, &[("app-id", APP_KEY), ("event-sign", &sign)]);
    if let Some(method) = method {
        request = request.with_header("sign-method", method.name());
    }
    request
}

fn commerce(event: &Event) -> &CommerceEvent {
    match &event.body {
        EventBody::Commerce(c) => c,
        other => panic!("not a commerce event: {other:?}"),
    }
}

fn unauthenticated(result: Result<PushResult, PluginError>) -> String {
    match result {
        Err(PluginError::Unauthenticated(reason)) => reason,
        other => panic!("expected unauthenticated, got {other:?}"),
    }
}

#[test]
fn the_md5_vector_is_accepted() {
    let request = signed_request(CREATED, &[("app-id", APP_KEY), ("event-sign", CREATED_MD5)]);
    let result = handle(&ctx(), &request).unwrap();
    assert_eq!(result.response.status, 200);
    assert_eq!(result.response.body, SUCCESS_BODY.as_bytes());
    assert_eq!(
        result.response.header("content-type"),
        Some("application/json")
    );
    assert_eq!(result.events.len(), 1);
    let event = &result.events[0];
    assert_eq!(event.platform_id, "7000000000000000000:100:1700000000");
    assert_eq!(event.conversation_id, "trade_6900000000000000000");
    // The message has no timestamp: the receipt time stands in.
    assert_eq!(event.platform_time_ms, NOW_MS);
    let c = commerce(event);
    assert_eq!(c.kind, CommerceKind::OrderCreated);
    assert_eq!(c.topic, "100");
    assert_eq!(c.order_id.as_deref(), Some("6900000000000000000"));
    assert_eq!(c.business_key, "trade_6900000000000000000");
    assert_eq!(
        c.detail_json,
        r#"{"p_id":6900000000000000000,"shop_id":12345,"order_status":1}"#
    );
    // Upper-case hex and an explicit `sign-method: md5` are accepted too.
    let upper = signed_request(
        CREATED,
        &[
            ("app-id", APP_KEY),
            ("event-sign", &CREATED_MD5.to_uppercase()),
            ("sign-method", "md5"),
        ],
    );
    assert_eq!(handle(&ctx(), &upper).unwrap().events.len(), 1);
}

#[test]
fn the_hmac_sha256_vector_is_accepted() {
    let request = signed_request(
        CREATED,
        &[
            ("app-id", APP_KEY),
            ("event-sign", CREATED_HMAC),
            ("sign-method", "hmac-sha256"),
        ],
    );
    let result = handle(&ctx(), &request).unwrap();
    assert_eq!(result.events.len(), 1);
    // The same signature without `sign-method` is checked as MD5 and fails.
    let unannounced = super::tests::signed_request(
        CREATED,
        &[("app-id", APP_KEY), ("event-sign", CREATED_HMAC)],
    );
    assert!(unauthenticated(handle(&ctx(), &unannounced)).contains("md5"));
}

#[test]
fn forged_tampered_and_unsigned_pushes_are_refused() {
    let forged = signed_request(
        CREATED,
        &[
            ("app-id", APP_KEY),
            ("event-sign", "0123456789abcdef0123456789abcdef"),
        ],
    );
    let reason = unauthenticated(handle(&ctx(), &forged));
    assert!(reason.contains("does not match"), "{reason}");

    let mut tampered = signed(CREATED, Some(PushSignMethod::HmacSha256));
    tampered.body = CREATED
        .replace("6900000000000000000", "6900000000000000009")
        .into_bytes();
    assert!(unauthenticated(handle(&ctx(), &tampered)).contains("does not match"));

    let no_sign = signed_request(CREATED, &[("app-id", APP_KEY)]);
    assert!(unauthenticated(handle(&ctx(), &no_sign)).contains("no `event-sign`"));
    let empty_sign = signed_request(CREATED, &[("app-id", APP_KEY), ("event-sign", " ")]);
    assert!(unauthenticated(handle(&ctx(), &empty_sign)).contains("no `event-sign`"));
    let no_app = signed_request(CREATED, &[("event-sign", CREATED_MD5)]);
    assert!(unauthenticated(handle(&ctx(), &no_app)).contains("no `app-id`"));

    // Signed with another app's secret.
    let other_secret = event_sign(
        PushSignMethod::Md5,
        APP_KEY,
        "other_secret",
        CREATED.as_bytes(),
    );
    let wrong_key = signed_request(
        CREATED,
        &[("app-id", APP_KEY), ("event-sign", &other_secret)],
    );
    assert!(unauthenticated(handle(&ctx(), &wrong_key)).contains("does not match"));
}

#[test]
fn a_push_for_another_app_is_refused_before_its_signature_is_checked() {
    let sign = event_sign(
        PushSignMethod::Md5,
        "7000000000000000002",
        SECRET,
        CREATED.as_bytes(),
    );
    let request = signed_request(
        CREATED,
        &[("app-id", "7000000000000000002"), ("event-sign", &sign)],
    );
    let reason = unauthenticated(handle(&ctx(), &request));
    assert!(
        reason.contains("7000000000000000002") && reason.contains(APP_KEY),
        "{reason}"
    );
}

#[test]
fn an_unknown_sign_method_is_refused() {
    let request = signed_request(
        CREATED,
        &[
            ("app-id", APP_KEY),
            ("event-sign", CREATED_MD5),
            ("sign-method", "sha1"),
        ],
    );
    assert!(unauthenticated(handle(&ctx(), &request)).contains("unknown `sign-method` `sha1`"));
}

#[test]
fn event_sign_method_is_an_alias_of_sign_method() {
    let request = signed_request(
        CREATED,
        &[
            ("app-id", APP_KEY),
            ("event-sign", CREATED_HMAC),
            ("event-sign-method", "HMAC-SHA256"),
        ],
    );
    assert_eq!(handle(&ctx(), &request).unwrap().events.len(), 1);
    let unknown = signed_request(
        CREATED,
        &[
            ("app-id", APP_KEY),
            ("event-sign", CREATED_MD5),
            ("event-sign-method", "sha1"),
        ],
    );
    assert!(unauthenticated(handle(&ctx(), &unknown)).contains("unknown `event-sign-method`"));
}

#[test]
fn the_verification_message_is_answered_with_no_events() {
    let body = r#"[{"tag":"0","msg_id":"0","data":"{}"}]"#;
    let result = handle(&ctx(), &signed(body, None)).unwrap();
    assert!(result.events.is_empty());
    assert_eq!(result.response.status, 200);
    assert_eq!(result.response.body, br#"{"code":0,"msg":"success"}"#);
    // The verification message's data is not inspected.
    let odd = r#"[{"tag":0,"msg_id":"1","data":"verify"}]"#;
    assert!(
        handle(&ctx(), &signed(odd, None))
            .unwrap()
            .events
            .is_empty()
    );
    // But it is signed like every push.
    let unsigned = signed_request(body, &[("app-id", APP_KEY)]);
    assert!(handle(&ctx(), &unsigned).is_err());
}

#[test]
fn msg_id_spellings_and_data_forms_normalize_alike() {
    let data = r#"{"p_id":3000000000000000001,"s_ids":[3000000000000000002],"shop_id":12345,"order_status":2,"order_type":0,"pay_type":1,"biz":2,"pay_time":1700000000,"pay_amount":9900}"#;
    let as_string = format!(
        r#"[{{"tag":"101","msg_id":"7300000000000000101","data":{}}}]"#,
        serde_json::to_string(data).unwrap()
    );
    let as_object = format!(r#"[{{"tag":101,"msgId":"7300000000000000101","data":{data}}}]"#);
    let a = handle(&ctx(), &signed(&as_string, None)).unwrap();
    let b = handle(
        &ctx(),
        &signed(&as_object, Some(PushSignMethod::HmacSha256)),
    )
    .unwrap();
    assert_eq!(a.events, b.events);
    let event = &a.events[0];
    assert_eq!(event.platform_id, "7300000000000000101");
    assert_eq!(event.platform_time_ms, 1_700_000_000_000);
    let c = commerce(event);
    assert_eq!(c.kind, CommerceKind::OrderPaid);
    assert_eq!(c.order_id.as_deref(), Some("3000000000000000001"));
    assert_eq!(c.amount.as_deref(), Some("99.00"));
    assert_eq!(c.status.as_deref(), Some("2"));
    assert_eq!(c.detail_json, data);
}

#[test]
fn several_messages_in_one_push() {
    let body = r#"[
        {"tag":"0","msg_id":"v","data":"{}"},
        {"tag":"100","msg_id":"a","data":"{\"p_id\":9223372036854775807,\"create_time\":1700000000}"},
        {"tag":"200","msg_id":"b","data":{"aftersale_id":7100000000000000001,"p_id":9223372036854775807,"refund_amount":1,"apply_time":1700000001}},
        {"tag":"777","msg_id":"c","data":{"anything":[1,2,3]}}
    ]"#;
    let result = handle(&ctx(), &signed(body, None)).unwrap();
    let keys: Vec<_> = result
        .events
        .iter()
        .map(|e| commerce(e).business_key.clone())
        .collect();
    assert_eq!(
        keys,
        [
            "trade_9223372036854775807",
            "refund_7100000000000000001",
            "message_c"
        ]
    );
    assert_eq!(commerce(&result.events[1]).amount.as_deref(), Some("0.01"));
    assert_eq!(commerce(&result.events[2]).kind, CommerceKind::Other);
    assert_eq!(
        commerce(&result.events[2]).detail_json,
        r#"{"anything":[1,2,3]}"#
    );
}

#[test]
fn one_bad_element_refuses_the_whole_push() {
    let body = r#"[
        {"tag":"100","msg_id":"a","data":"{\"p_id\":1}"},
        {"tag":"101","msg_id":"b","data":"{\"pay_amount\":9900}"}
    ]"#;
    match handle(&ctx(), &signed(body, None)) {
        Err(PluginError::Malformed(reason)) => {
            assert!(
                reason.contains("element 1")
                    && reason.contains("msg_id b")
                    && reason.contains("p_id"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        handle(&ctx(), &signed("{}", None)),
        Err(PluginError::Malformed(_))
    ));
    assert!(matches!(
        handle(&ctx(), &signed("", None)),
        Err(PluginError::Malformed(_))
    ));
}

#[test]
fn messages_for_another_shop_are_acknowledged_but_not_stored() {
    let body = r#"[{"tag":"100","msg_id":"a","data":"{\"p_id\":1,\"shop_id\":99999}"},{"tag":"100","msg_id":"b","data":"{\"p_id\":2,\"shop_id\":\"12345\"}"}]"#;
    let result = handle(&ctx(), &signed(body, None)).unwrap();
    assert_eq!(result.events.len(), 1);
    assert_eq!(result.events[0].platform_id, "b");
    // Without a configured shop id every message is kept.
    let mut no_shop = ctx();
    no_shop.settings.retain(|c| c.name != "shop_id");
    assert_eq!(
        handle(&no_shop, &signed(body, None)).unwrap().events.len(),
        2
    );
}

#[test]
fn configuration_and_method_problems() {
    let mut no_secret = ctx();
    no_secret.credentials.retain(|c| c.name != "app_secret");
    assert!(matches!(
        handle(&no_secret, &signed(CREATED, None)),
        Err(PluginError::Misconfigured(m)) if m.contains("app_secret")
    ));
    let mut get = signed(CREATED, None);
    get.method = "GET".into();
    assert!(matches!(
        handle(&ctx(), &get),
        Err(PluginError::Unsupported(_))
    ));
}

#[test]
fn refusals_never_reveal_the_secret() {
    let attempts = [
        signed_request(CREATED, &[("app-id", APP_KEY), ("event-sign", "00")]),
        signed_request(CREATED, &[("app-id", "1"), ("event-sign", CREATED_MD5)]),
        signed_request(
            CREATED,
            &[
                ("app-id", APP_KEY),
                ("event-sign", CREATED_MD5),
                ("sign-method", "x"),
            ],
        ),
        signed("[1]", None),
    ];
    for attempt in attempts {
        let err = handle(&ctx(), &attempt).unwrap_err();
        assert!(!format!("{err:?}").contains(SECRET), "{err:?}");
    }
}
