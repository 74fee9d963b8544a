use super::*;
use crate::token::ACCESS_TOKEN;

fn ctx() -> ShopContext {
    ShopContext::for_test("demo-wecom", 1_700_000_000_000)
        .with_credential("corp_id", "ww12345678910")
        .with_credential("secret", "demo-kf-secret")
        .with_state(ACCESS_TOKEN, "TOKEN", None)
}

fn action(kind: ActionKind) -> Action {
    Action {
        idempotency_key: "0123456789abcdef0123456789abcdef".into(),
        conversation_id: "wkABCDEF:wmEXTERNAL1".into(),
        recipient: "wmEXTERNAL1".into(),
        route: vec![Pair::new(ROUTE_OPEN_KFID, "wkABCDEF")],
        kind,
        attempt: 1,
    }
}

fn body(request: &OutboundRequest) -> Value {
    serde_json::from_slice(&request.request.body).unwrap()
}

#[test]
fn a_message_goes_to_send_msg_with_the_idempotency_key_as_msgid() {
    let request = render(
        &ctx(),
        &action(ActionKind::SendMessage(Content::Text("您好".into()))),
    )
    .unwrap();
    assert_eq!(request.step, STEP_SEND);
    assert!(
        request
            .request
            .url
            .ends_with("/cgi-bin/kf/send_msg?access_token=TOKEN")
    );
    let body = body(&request);
    assert_eq!(body["touser"], "wmEXTERNAL1");
    assert_eq!(body["open_kfid"], "wkABCDEF");
    assert_eq!(body["msgid"], "0123456789abcdef0123456789abcdef");
    assert_eq!(body["text"]["content"], "您好");
}

#[test]
fn a_welcome_quotes_the_event_code() {
    let reply = EventReply {
        code: "WELCOME_CODE".into(),
        content: Content::Text("欢迎光临".into()),
    };
    let request = render(&ctx(), &action(ActionKind::ReplyToEvent(reply))).unwrap();
    assert_eq!(request.step, STEP_REPLY);
    assert!(
        request
            .request
            .url
            .contains("/cgi-bin/kf/send_msg_on_event")
    );
    let body = body(&request);
    assert_eq!(body["code"], "WELCOME_CODE");
    assert_eq!(body["text"]["content"], "欢迎光临");
}

#[test]
fn ending_and_transferring_change_the_service_state() {
    let end = render(&ctx(), &action(ActionKind::EndSession)).unwrap();
    assert_eq!(body(&end)["service_state"], STATE_ENDED);
    let transfer = render(
        &ctx(),
        &action(ActionKind::TransferToHuman(Some("zhangsan".into()))),
    )
    .unwrap();
    let body = body(&transfer);
    assert_eq!(body["servicer_userid"], "zhangsan");
    assert_eq!(body["external_userid"], "wmEXTERNAL1");
}

#[test]
fn long_keys_become_a_stable_short_msgid() {
    let key = "k".repeat(40);
    assert_eq!(client_msgid(&key), client_msgid(&key));
    assert_eq!(client_msgid(&key).len(), MAX_MSGID_BYTES);
    let unsupported = render(&ctx(), &action(ActionKind::QueryOrder("1".into())));
    assert!(matches!(unsupported, Err(PluginError::Unsupported(_))));
}

#[test]
fn without_a_token_the_message_is_checked_then_a_token_fetched() {
    let bare = ShopContext::for_test("demo-wecom", 1_700_000_000_000)
        .with_credential("corp_id", "ww12345678910")
        .with_credential("secret", "demo-kf-secret");
    let send = action(ActionKind::SendMessage(Content::Text("您好".into())));
    assert_eq!(render(&bare, &send).unwrap().step, token::STEP_TOKEN);
    let empty = action(ActionKind::SendMessage(Content::Text("  ".into())));
    assert!(matches!(
        render(&bare, &empty),
        Err(PluginError::Malformed(_))
    ));
}

#[test]
fn texts_media_and_routes_are_checked() {
    let long = action(ActionKind::SendMessage(Content::Text("字".repeat(683))));
    let Err(PluginError::Unsupported(message)) = render(&ctx(), &long) else {
        panic!("2049 bytes are too long")
    };
    assert!(message.contains("2048"), "{message}");
    assert!(
        render(
            &ctx(),
            &action(ActionKind::SendMessage(Content::Text("字".repeat(682))))
        )
        .is_ok()
    );
    let image = |media_id: Option<&str>| {
        action(ActionKind::SendMessage(Content::Image(Media {
            url: Some("https://example.com/a.png".into()),
            media_id: media_id.map(Into::into),
            mime_type: None,
            file_name: None,
            size_bytes: None,
        })))
    };
    assert!(matches!(
        render(&ctx(), &image(None)),
        Err(PluginError::Unsupported(_))
    ));
    let request = render(&ctx(), &image(Some("MEDIA"))).unwrap();
    assert_eq!(body(&request)["image"]["media_id"], "MEDIA");
    // Without the route, the conversation id names the kf account.
    let mut routeless = action(ActionKind::SendMessage(Content::Text("hi".into())));
    routeless.route.clear();
    assert_eq!(
        body(&render(&ctx(), &routeless).unwrap())["open_kfid"],
        "wkABCDEF"
    );
    routeless.conversation_id = "nokfid".into();
    assert!(matches!(
        render(&ctx(), &routeless),
        Err(PluginError::Malformed(_))
    ));
}

#[test]
fn a_transfer_without_a_servicer_goes_to_the_pool() {
    let request = render(&ctx(), &action(ActionKind::TransferToHuman(None))).unwrap();
    assert_eq!(request.step, STEP_STATE);
    assert!(
        request
            .request
            .url
            .contains("/cgi-bin/kf/service_state/trans")
    );
    let body = body(&request);
    assert_eq!(body["service_state"], STATE_POOL);
    assert!(body.get("servicer_userid").is_none());
    assert_eq!(body["open_kfid"], "wkABCDEF");
}
