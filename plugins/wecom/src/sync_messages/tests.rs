use super::*;
use serde_json::json;

fn one(item: Value) -> Result<Event, PluginError> {
    events(&[item], VoiceFormat::Amr).map(|mut events| events.remove(0))
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
fn malformed_items_are_refused_with_their_position() {
    let Err(PluginError::Malformed(message)) = events(
        &[
            json!({ "msgid": "m1", "send_time": 1, "msgtype": "text", "open_kfid": "k", "external_userid": "u", "text": {"content": "x"} }),
            json!({ "send_time": 1, "msgtype": "text" }),
        ],
        VoiceFormat::Amr,
    ) else {
        panic!("an item without msgid is malformed")
    };
    assert!(message.contains("msg_list[1]"), "{message}");
    assert!(message.contains("msgid"), "{message}");
}
