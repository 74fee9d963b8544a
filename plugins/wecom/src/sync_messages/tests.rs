use super::*;
use serde_json::json;

fn one(item: Value) -> Result<Event, String> {
    events(std::slice::from_ref(&item), VoiceFormat::Amr)
        .pop()
        .ok_or_else(|| format!("skipped: {item}"))
}

#[test]
fn a_customer_text_is_an_inbound_message_in_the_kf_conversation() {
    let event = one(json!({
        "msgid": "from_msgid_4622416642169452483", "open_kfid": "wkABCDEF",
        "external_userid": "wmEXTERNAL1", "send_time": 1700000000, "origin": 3,
        "msgtype": "text", "text": { "content": "我的快递到哪了" }
    }))
    .unwrap();
    assert_eq!(event.platform_id, "from_msgid_4622416642169452483");
    assert_eq!(event.conversation_id, "wkABCDEF:wmEXTERNAL1");
    assert_eq!(event.platform_time_ms, 1_700_000_000_000);
    assert_eq!(event.route, vec![Pair::new(ROUTE_OPEN_KFID, "wkABCDEF")]);
    let EventBody::Message(message) = event.body else {
        panic!("a message")
    };
    assert_eq!(message.author.platform_user_id, "wmEXTERNAL1");
    assert_eq!(
        (message.role, message.direction),
        (AuthorRole::Customer, Direction::Inbound)
    );
    assert_eq!(message.content, Content::Text("我的快递到哪了".into()));
}

#[test]
fn enter_session_carries_the_welcome_code() {
    let event = one(json!({
        "msgid": "event_1", "send_time": 1700000001, "origin": 4, "msgtype": "event",
        "event": { "event_type": "enter_session", "open_kfid": "wkABCDEF",
                   "external_userid": "wmEXTERNAL1", "scene": "123", "welcome_code": "aaaaaa" }
    }))
    .unwrap();
    let EventBody::Session(session) = event.body else {
        panic!("a session event")
    };
    assert_eq!(session.kind, SessionKind::EnteredSession);
    assert_eq!(session.customer.platform_user_id, "wmEXTERNAL1");
    assert!(
        session
            .detail
            .contains(&Pair::new("welcome_code", "aaaaaa")),
        "{:?}",
        session.detail
    );
    assert_eq!(event.conversation_id, "wkABCDEF:wmEXTERNAL1");
}

#[test]
fn a_servicer_message_is_kept_as_the_agents() {
    let event = one(json!({
        "msgid": "m2", "open_kfid": "wkABCDEF", "external_userid": "wmEXTERNAL1",
        "send_time": 1700000002, "origin": 5, "servicer_userid": "zhangsan",
        "msgtype": "text", "text": { "content": "您好" }
    }))
    .unwrap();
    let EventBody::Message(message) = event.body else {
        panic!("a message")
    };
    assert_eq!(
        (message.role, message.direction),
        (AuthorRole::Agent, Direction::Outbound)
    );
    assert_eq!(message.author.platform_user_id, "zhangsan");
}

#[test]
fn unreadable_items_are_skipped_and_the_rest_of_the_page_kept() {
    let page = events(
        &[
            json!({ "send_time": 1, "msgtype": "text", "text": {"content": "no msgid"} }),
            json!("not an object"),
            json!({ "msgid": "m0", "msgtype": "text", "open_kfid": "k", "external_userid": "u", "text": {"content": "no time"} }),
            json!({ "msgid": "m1", "send_time": 1, "msgtype": "text", "open_kfid": "k", "external_userid": "u", "text": {"content": "x"} }),
            json!({ "msgid": "m2", "send_time": 2, "msgtype": "event", "event": { "event_type": "enter_session" } }),
        ],
        VoiceFormat::Amr,
    );
    let ids: Vec<_> = page.iter().map(|e| e.platform_id.as_str()).collect();
    assert_eq!(ids, vec!["m1"]);
}

#[test]
fn content_that_cannot_be_read_is_kept_raw() {
    let event = one(json!({
        "msgid": "m3", "open_kfid": "wkABCDEF", "external_userid": "wmU",
        "send_time": 1700000003, "origin": 3, "msgtype": "link",
        "link": { "title": "no url" }
    }))
    .unwrap();
    let EventBody::Message(message) = event.body else {
        panic!("a message")
    };
    let Content::Raw(raw) = message.content else {
        panic!("raw content: {:?}", message.content)
    };
    assert_eq!(raw.kind, "link");
    assert_eq!(
        serde_json::from_slice::<Value>(&raw.data).unwrap(),
        json!({ "title": "no url" })
    );
}

#[test]
fn other_content_types_are_normalized() {
    let item = |msgid: &str, msgtype: &str, part: Value| {
        one(json!({
            "msgid": msgid, "open_kfid": "wkABCDEF", "external_userid": "wmU",
            "send_time": 1700000004, "origin": 3, "msgtype": msgtype, msgtype: part
        }))
        .unwrap()
    };
    let content = |event: Event| match event.body {
        EventBody::Message(message) => message.content,
        other => panic!("a message: {other:?}"),
    };
    let Content::Image(image) = content(item("i", "image", json!({"media_id": "MEDIA1"}))) else {
        panic!("an image")
    };
    assert_eq!(image.media_id.as_deref(), Some("MEDIA1"));
    let Content::Location(place) = content(item(
        "l",
        "location",
        json!({"latitude": 23.1, "longitude": 113.3, "name": "广州塔", "address": "海珠区"}),
    )) else {
        panic!("a location")
    };
    assert_eq!((place.latitude, place.longitude), (23.1, 113.3));
    assert_eq!(place.label.as_deref(), Some("广州塔 海珠区"));
    let Content::Raw(card) = content(item("b", "business_card", json!({"userid": "zhangsan"})))
    else {
        panic!("raw")
    };
    assert_eq!(card.kind, "business_card");
}

#[test]
fn send_failures_and_session_changes_are_session_events() {
    let failed = one(json!({
        "msgid": "e2", "send_time": 1700000005, "origin": 4, "msgtype": "event",
        "event": { "event_type": "msg_send_fail", "open_kfid": "wkABCDEF",
                   "external_userid": "wmU", "fail_msgid": "0123456789abcdef0123456789abcdef", "fail_type": 4 }
    }))
    .unwrap();
    let EventBody::Session(session) = failed.body else {
        panic!("a session event")
    };
    assert_eq!(session.kind, SessionKind::SendFailed);
    assert!(
        session
            .detail
            .contains(&Pair::new("fail_msgid", "0123456789abcdef0123456789abcdef"))
    );
    assert!(session.detail.contains(&Pair::new("fail_type", "4")));
    let changed = one(json!({
        "msgid": "e3", "send_time": 1700000006, "origin": 4, "msgtype": "event",
        "event": { "event_type": "session_status_change", "open_kfid": "wkABCDEF",
                   "external_userid": "wmU", "change_type": 3 }
    }))
    .unwrap();
    assert_eq!(changed.conversation_id, "wkABCDEF:wmU");
    let EventBody::Session(session) = changed.body else {
        panic!("a session event")
    };
    assert_eq!(session.kind, SessionKind::SessionStateChanged);
    assert_eq!(session.detail, vec![Pair::new("change_type", "3")]);
}
