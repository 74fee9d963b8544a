use super::*;
use crate::token::ACCESS_TOKEN;

fn ctx() -> ShopContext {
    ShopContext::for_test("demo-wecom", 1_700_000_000_000)
        .with_credential("corp_id", "ww12345678910")
        .with_credential("secret", "demo-kf-secret")
}

fn poll(cursor: Option<&str>, hint: Option<&str>) -> PollRequest {
    PollRequest {
        feed: "wkABCDEF".into(),
        cursor: cursor.map(Into::into),
        hint_token: hint.map(Into::into),
    }
}

fn body(request: &OutboundRequest) -> Value {
    serde_json::from_slice(&request.request.body).unwrap()
}

#[test]
fn a_pull_fetches_a_token_first_then_syncs_from_the_cursor_with_the_hint() {
    let first = render(&ctx(), &poll(None, None)).unwrap();
    assert_eq!(first.step, token::STEP_TOKEN);
    let with_token = ctx().with_state(ACCESS_TOKEN, "TOKEN", None);
    let pull = render(
        &with_token,
        &poll(Some("4gw7MepFLfgF2VC5npN"), Some("ENCtok")),
    )
    .unwrap();
    assert_eq!(pull.step, STEP_SYNC);
    assert!(
        pull.request
            .url
            .ends_with("/cgi-bin/kf/sync_msg?access_token=TOKEN")
    );
    let body = body(&pull);
    assert_eq!(body["cursor"], "4gw7MepFLfgF2VC5npN");
    assert_eq!(body["token"], "ENCtok");
    assert_eq!(body["open_kfid"], "wkABCDEF");
    assert_eq!(body["limit"], 1000);
}

#[test]
fn a_page_gives_events_the_next_cursor_and_whether_more_wait() {
    let answer = HttpResponse::json(
        200,
        r#"{"errcode":0,"errmsg":"ok","next_cursor":"CURSOR2","has_more":1,
        "msg_list":[{"msgid":"m1","open_kfid":"wkABCDEF","external_userid":"wmU","send_time":1700000000,"origin":3,"msgtype":"text","text":{"content":"在吗"}}]}"#,
    );
    let result = parse(&ctx(), &poll(None, None), STEP_SYNC, &answer).unwrap();
    let PollOutcome::Page(page) = result.outcome else {
        panic!("a page")
    };
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.next_cursor.as_deref(), Some("CURSOR2"));
    assert!(page.has_more);
}

#[test]
fn a_refused_hint_token_is_remembered_and_the_pull_repeated_without_it() {
    let with_token = ctx().with_state(ACCESS_TOKEN, "TOKEN", None);
    let answer = HttpResponse::json(200, r#"{"errcode":95007,"errmsg":"invalid msg token"}"#);
    let result = parse(&with_token, &poll(None, Some("OLD")), STEP_SYNC, &answer).unwrap();
    assert_eq!(result.outcome, PollOutcome::Step(DeliveryOutcome::NextStep));
    let StateChange::Set(entry) = &result.state[0] else {
        panic!("remembered")
    };
    let remembered = with_token.with_state(&entry.key, &entry.value, entry.expires_at_ms);
    let again = render(&remembered, &poll(None, Some("OLD"))).unwrap();
    assert!(body(&again).get("token").is_none());
}

#[test]
fn an_expired_access_token_is_dropped() {
    let with_token = ctx().with_state(ACCESS_TOKEN, "TOKEN", None);
    let answer = HttpResponse::json(200, r#"{"errcode":42001,"errmsg":"access_token expired"}"#);
    let result = parse(&with_token, &poll(None, None), STEP_SYNC, &answer).unwrap();
    assert_eq!(
        result.outcome,
        PollOutcome::Step(DeliveryOutcome::TokenExpired)
    );
}

#[test]
fn an_empty_page_may_still_have_more_and_a_missing_cursor_keeps_the_committed_one() {
    let more = HttpResponse::json(
        200,
        r#"{"errcode":0,"errmsg":"ok","next_cursor":"C3","has_more":1,"msg_list":[]}"#,
    );
    let PollOutcome::Page(page) = parse(&ctx(), &poll(None, None), STEP_SYNC, &more)
        .unwrap()
        .outcome
    else {
        panic!("a page")
    };
    assert!(page.events.is_empty() && page.has_more);
    let done = HttpResponse::json(200, r#"{"errcode":0,"errmsg":"ok","has_more":0}"#);
    let PollOutcome::Page(page) = parse(&ctx(), &poll(Some("C3"), None), STEP_SYNC, &done)
        .unwrap()
        .outcome
    else {
        panic!("a page")
    };
    assert_eq!((page.next_cursor, page.has_more), (None, false));
    let broken = HttpResponse::json(200, r#"{"errcode":0,"errmsg":"ok","has_more":1}"#);
    assert!(matches!(
        parse(&ctx(), &poll(None, None), STEP_SYNC, &broken),
        Err(PluginError::Malformed(_))
    ));
}

#[test]
fn an_unknown_kf_account_is_permanent_and_a_refusal_without_hint_is_not_repeated() {
    let with_token = ctx().with_state(ACCESS_TOKEN, "TOKEN", None);
    for code in [95000, 95004] {
        let answer = HttpResponse::json(200, &format!(r#"{{"errcode":{code},"errmsg":"x"}}"#));
        let result = parse(&with_token, &poll(None, None), STEP_SYNC, &answer).unwrap();
        assert!(
            matches!(&result.outcome, PollOutcome::Step(DeliveryOutcome::Permanent(f)) if f.reason.contains("wkABCDEF")),
            "{result:?}"
        );
    }
    let answer = HttpResponse::json(200, r#"{"errcode":95007,"errmsg":"invalid msg token"}"#);
    let result = parse(&with_token, &poll(None, None), STEP_SYNC, &answer).unwrap();
    assert!(matches!(
        result.outcome,
        PollOutcome::Step(DeliveryOutcome::Permanent(_))
    ));
    let busy = HttpResponse::json(200, r#"{"errcode":-1,"errmsg":"system busy"}"#);
    assert!(matches!(
        parse(&with_token, &poll(None, None), STEP_SYNC, &busy)
            .unwrap()
            .outcome,
        PollOutcome::Step(DeliveryOutcome::Retry(_))
    ));
}

#[test]
fn settings_and_cursors_are_checked() {
    let with_token = ctx().with_state(ACCESS_TOKEN, "TOKEN", None);
    let limited = with_token
        .clone()
        .with_setting("page_limit", "50")
        .with_setting("voice_format", "silk");
    let body = body(&render(&limited, &poll(None, None)).unwrap());
    assert_eq!(
        (body["limit"].as_u64(), body["voice_format"].as_u64()),
        (Some(50), Some(1))
    );
    assert!(body.get("cursor").is_none() && body.get("token").is_none());
    for (name, value) in [
        ("page_limit", "0"),
        ("page_limit", "1001"),
        ("voice_format", "mp3"),
    ] {
        let Err(PluginError::Misconfigured(message)) = render(
            &with_token.clone().with_setting(name, value),
            &poll(None, None),
        ) else {
            panic!("{name} = {value}")
        };
        assert!(message.contains(name), "{message}");
    }
    let long = "c".repeat(65);
    assert!(matches!(
        render(&with_token, &poll(Some(&long), None)),
        Err(PluginError::Malformed(_))
    ));
    assert!(matches!(
        parse(
            &with_token,
            &poll(None, None),
            "bogus",
            &HttpResponse::json(200, "{}")
        ),
        Err(PluginError::Malformed(_))
    ));
}
