//! Rendering 客服消息 (custom messages): a `stable_token` fetch first when the
//! shop has no live access token, then `message/custom/send` (or, for a
//! template or subscription message, its endpoint: see [`crate::notice`]).

use crate::API_HOST;
use serde_json::{Value, json};
use tongdao_sdk::*;

/// The longest text a custom message may carry, in bytes.
pub const MAX_TEXT_BYTES: usize = 2048;
/// State key of the access token.
pub const ACCESS_TOKEN: &str = "access_token";
/// State key set after the platform rejected a token: the next fetch forces a new one.
pub const FORCE_REFRESH: &str = "force_refresh";
/// Step label of the token fetch.
pub const STEP_TOKEN: &str = "token";
/// Step label of the send.
pub const STEP_SEND: &str = "send";

/// Render the next request for `action`.
pub fn render(ctx: &ShopContext, action: &Action) -> Result<OutboundRequest, PluginError> {
    let ActionKind::SendMessage(content) = &action.kind else {
        return Err(PluginError::Unsupported(format!(
            "the WeChat Official Account plugin cannot `{}`",
            action.kind.name()
        )));
    };
    // Validate the message before spending a token fetch on it. A
    // template or subscription message has its own endpoint.
    let (path, body) =
        match crate::notice::request(&action.recipient, &action.idempotency_key, content)? {
            Some(notice) => notice,
            None => (
                "/cgi-bin/message/custom/send",
                message_body(&action.recipient, content)?,
            ),
        };
    match ctx.state_value(ACCESS_TOKEN) {
        Some(token) => Ok(OutboundRequest {
            step: STEP_SEND.into(),
            request: post_json(
                &format!("https://{API_HOST}{path}?access_token={}", encode(token)),
                &body,
            ),
        }),
        None => token_request(ctx),
    }
}

/// The access-token fetch (`stable_token`), forcing a refresh after the
/// platform rejected the last token.
pub(crate) fn token_request(ctx: &ShopContext) -> Result<OutboundRequest, PluginError> {
    let body = json!({
        "grant_type": "client_credential",
        "appid": ctx.credential("app_id")?,
        "secret": ctx.credential("app_secret")?,
        "force_refresh": ctx.state_value(FORCE_REFRESH) == Some("1"),
    });
    Ok(OutboundRequest {
        step: STEP_TOKEN.into(),
        request: post_json(&format!("https://{API_HOST}/cgi-bin/stable_token"), &body),
    })
}

/// The JSON body of a custom message; content WeChat cannot render natively
/// goes out as its fallback text.
fn message_body(touser: &str, content: &Content) -> Result<Value, PluginError> {
    if touser.is_empty() {
        return Err(PluginError::Malformed(
            "the action has no recipient openid".into(),
        ));
    }
    let with_media = |msgtype: &str, media: &Media| -> Option<Value> {
        media
            .media_id
            .as_ref()
            .map(|id| json!({"touser": touser, "msgtype": msgtype, msgtype: {"media_id": id}}))
    };
    let native = match content {
        Content::Image(media) => with_media("image", media),
        Content::Voice(voice) => with_media("voice", &voice.media),
        Content::Video(media) => media.media_id.as_ref().map(|id| {
            json!({"touser": touser, "msgtype": "video", "video": {"media_id": id, "thumb_media_id": id}})
        }),
        Content::MiniProgram(card) => card.thumb_media_id.as_ref().map(|thumb| {
            json!({"touser": touser, "msgtype": "miniprogrampage", "miniprogrampage": {
                "title": card.title.clone().unwrap_or_default(),
                "appid": card.app_id,
                "pagepath": card.page_path,
                "thumb_media_id": thumb,
            }})
        }),
        _ => None,
    };
    if let Some(body) = native {
        return Ok(body);
    }
    let text = match content {
        Content::Link(link) => format!("{} {}", link.title, link.url).trim().to_string(),
        other => other
            .fallback_text()
            .ok_or_else(|| {
                PluginError::Unsupported("this content has no media id and no text to send".into())
            })?
            .to_string(),
    };
    if text.is_empty() {
        return Err(PluginError::Malformed("the message text is empty".into()));
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(PluginError::Unsupported(format!(
            "text is {} bytes; the limit is {MAX_TEXT_BYTES}",
            text.len()
        )));
    }
    Ok(json!({"touser": touser, "msgtype": "text", "text": {"content": text}}))
}

fn post_json(url: &str, body: &Value) -> HttpRequest {
    HttpRequest::new("POST", url, body.to_string().into_bytes())
        .with_header("content-type", "application/json; charset=utf-8")
}

/// Percent-encodes a query value.
pub(crate) fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ShopContext {
        ShopContext::for_test("demo-oa", 1_000_000)
            .with_credential("app_id", "wx1")
            .with_credential("app_secret", "s3cret")
    }

    fn send(content: Content) -> Action {
        Action {
            idempotency_key: "k".into(),
            conversation_id: "o1".into(),
            recipient: "o1".into(),
            route: vec![],
            kind: ActionKind::SendMessage(content),
            attempt: 1,
        }
    }

    fn json_body(request: &OutboundRequest) -> Value {
        serde_json::from_slice(&request.request.body).unwrap()
    }

    #[test]
    fn without_a_token_the_first_step_fetches_one() {
        let request = render(&ctx(), &send(Content::Text("hi".into()))).unwrap();
        assert_eq!(request.step, STEP_TOKEN);
        assert_eq!(
            request.request.url,
            "https://api.weixin.qq.com/cgi-bin/stable_token"
        );
        assert_eq!(
            json_body(&request),
            json!({"grant_type": "client_credential", "appid": "wx1", "secret": "s3cret", "force_refresh": false})
        );
        let forced = render(
            &ctx().with_state(FORCE_REFRESH, "1", None),
            &send(Content::Text("hi".into())),
        )
        .unwrap();
        assert_eq!(json_body(&forced)["force_refresh"], json!(true));
    }

    #[test]
    fn with_a_live_token_the_message_is_sent() {
        let ctx = ctx().with_state(ACCESS_TOKEN, "tok+en/=", Some(2_000_000));
        let request = render(&ctx, &send(Content::Text("亲，您好".into()))).unwrap();
        assert_eq!(request.step, STEP_SEND);
        assert_eq!(
            request.request.url,
            "https://api.weixin.qq.com/cgi-bin/message/custom/send?access_token=tok%2Ben%2F%3D"
        );
        assert_eq!(
            json_body(&request),
            json!({"touser": "o1", "msgtype": "text", "text": {"content": "亲，您好"}})
        );
        // An expired token is not used.
        let expired = ctx.clone().with_state(ACCESS_TOKEN, "old", Some(999_999));
        let mut expired = expired;
        expired.state.remove(0);
        assert_eq!(
            render(&expired, &send(Content::Text("x".into())))
                .unwrap()
                .step,
            STEP_TOKEN
        );
    }

    #[test]
    fn commerce_content_goes_out_as_its_fallback_text() {
        let ctx = ctx().with_state(ACCESS_TOKEN, "t", None);
        let card = Content::OrderCard(OrderCard {
            order_id: "1".into(),
            title: None,
            status: None,
            amount: None,
            url: None,
            fallback_text: "订单 1 已发货".into(),
        });
        let body = json_body(&render(&ctx, &send(card)).unwrap());
        assert_eq!(body["text"]["content"], "订单 1 已发货");
        let image = Content::Image(Media {
            url: None,
            media_id: Some("MEDIA".into()),
            mime_type: None,
            file_name: None,
            size_bytes: None,
        });
        assert_eq!(
            json_body(&render(&ctx, &send(image)).unwrap())["image"]["media_id"],
            "MEDIA"
        );
    }

    #[test]
    fn unsendable_actions_are_refused() {
        let ctx = ctx().with_state(ACCESS_TOKEN, "t", None);
        let long = render(&ctx, &send(Content::Text("长".repeat(700)))).unwrap_err();
        assert!(
            matches!(long, PluginError::Unsupported(ref m) if m.contains("2100 bytes")),
            "{long:?}"
        );
        let mut transfer = send(Content::Text("x".into()));
        transfer.kind = ActionKind::TransferToHuman(None);
        assert!(
            matches!(render(&ctx, &transfer), Err(PluginError::Unsupported(m)) if m.contains("transfer-to-human"))
        );
        let empty = render(&ctx, &send(Content::Text(String::new()))).unwrap_err();
        assert!(matches!(empty, PluginError::Malformed(_)));
    }
}
