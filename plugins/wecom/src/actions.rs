//! Rendering actions: an access-token fetch first when the shop has none,
//! then
//!
//! - `send-message` → `POST /cgi-bin/kf/send_msg` (step `send`);
//! - `reply-to-event` → `POST /cgi-bin/kf/send_msg_on_event` with the event's
//!   code, e.g. an `enter_session` welcome code (step `reply`);
//! - `transfer-to-human` → `POST /cgi-bin/kf/service_state/trans` to state 3
//!   (a named servicer) or 2 (the waiting pool), and `end-session` → state 4
//!   (step `state`).
//!
//! Messages carry a client `msgid` made from the action's idempotency key, so
//! an uncertain attempt can be resent without sending twice. Everything about
//! the message is validated before a token is fetched for it.

use crate::sync_messages::ROUTE_OPEN_KFID;
use crate::{API_HOST, token};
use serde_json::{Map, Value, json};
use tongdao_sdk::*;

/// The longest text WeCom accepts, in bytes.
pub const MAX_TEXT_BYTES: usize = 2048;
/// The longest client msgid WeCom accepts, in bytes.
pub const MAX_MSGID_BYTES: usize = 32;
/// Step label of `kf/send_msg`.
pub const STEP_SEND: &str = "send";
/// Step label of `kf/send_msg_on_event`.
pub const STEP_REPLY: &str = "reply";
/// Step label of `kf/service_state/trans`.
pub const STEP_STATE: &str = "state";

/// Session state: waiting in the pool for a servicer (待接入池).
pub const STATE_POOL: u8 = 2;
/// Session state: with a servicer (人工接待).
pub const STATE_HUMAN: u8 = 3;
/// Session state: ended (已结束).
pub const STATE_ENDED: u8 = 4;

/// Render the next request for `action`.
pub fn render(ctx: &ShopContext, action: &Action) -> Result<OutboundRequest, PluginError> {
    let (step, path, body) = match &action.kind {
        ActionKind::SendMessage(content) => (STEP_SEND, "kf/send_msg", send_body(action, content)?),
        ActionKind::ReplyToEvent(reply) => (
            STEP_REPLY,
            "kf/send_msg_on_event",
            reply_body(action, reply)?,
        ),
        ActionKind::TransferToHuman(servicer) => {
            let servicer = servicer.as_deref().map(str::trim).filter(|s| !s.is_empty());
            let state = if servicer.is_some() {
                STATE_HUMAN
            } else {
                STATE_POOL
            };
            (
                STEP_STATE,
                "kf/service_state/trans",
                state_body(action, state, servicer)?,
            )
        }
        ActionKind::EndSession => (
            STEP_STATE,
            "kf/service_state/trans",
            state_body(action, STATE_ENDED, None)?,
        ),
        other => {
            return Err(PluginError::Unsupported(format!(
                "the WeCom 微信客服 plugin cannot `{}`",
                other.name()
            )));
        }
    };
    let Some(access_token) = token::live(ctx) else {
        return token::request(ctx);
    };
    let url = format!(
        "https://{API_HOST}/cgi-bin/{path}?access_token={}",
        form_urlencoded::byte_serialize(access_token.as_bytes()).collect::<String>()
    );
    Ok(OutboundRequest {
        step: step.into(),
        request: HttpRequest::new("POST", &url, body.to_string().into_bytes())
            .with_header("content-type", "application/json; charset=utf-8"),
    })
}

/// The client msgid for an idempotency key: the key itself when WeCom
/// accepts it (at most 32 bytes of `[0-9a-zA-Z_-]`, which the host's 32 hex
/// digits are), else the first 32 hex digits of its SHA-1 — stable across
/// attempts either way.
pub fn client_msgid(idempotency_key: &str) -> String {
    let acceptable = !idempotency_key.is_empty()
        && idempotency_key.len() <= MAX_MSGID_BYTES
        && idempotency_key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if acceptable {
        idempotency_key.to_string()
    } else {
        let mut digest = wechat_crypto::signature(&[idempotency_key]);
        digest.truncate(MAX_MSGID_BYTES);
        digest
    }
}

/// The kf account of the action's conversation: its route's `open_kfid`, or
/// the first part of a `{open_kfid}:{external_userid}` conversation id.
fn open_kfid(action: &Action) -> Result<&str, PluginError> {
    action
        .route
        .iter()
        .find(|pair| pair.name == ROUTE_OPEN_KFID)
        .map(|pair| pair.value.trim())
        .filter(|value| !value.is_empty())
        .or_else(|| {
            action
                .conversation_id
                .split_once(':')
                .map(|(kfid, _)| kfid.trim())
                .filter(|kfid| !kfid.is_empty())
        })
        .ok_or_else(|| {
            PluginError::Malformed(format!(
                "the action's route has no `{ROUTE_OPEN_KFID}` and its conversation `{}` names no kf account",
                action.conversation_id
            ))
        })
}

fn recipient(action: &Action) -> Result<&str, PluginError> {
    Some(action.recipient.trim())
        .filter(|r| !r.is_empty())
        .ok_or_else(|| PluginError::Malformed("the action has no recipient external_userid".into()))
}

fn send_body(action: &Action, content: &Content) -> Result<Value, PluginError> {
    let (msgtype, part) = message_part(content)?;
    let mut body = Map::new();
    body.insert("touser".into(), json!(recipient(action)?));
    body.insert("open_kfid".into(), json!(open_kfid(action)?));
    body.insert("msgid".into(), json!(client_msgid(&action.idempotency_key)));
    body.insert("msgtype".into(), json!(msgtype));
    body.insert(msgtype.into(), part);
    Ok(Value::Object(body))
}

fn reply_body(action: &Action, reply: &EventReply) -> Result<Value, PluginError> {
    let code = reply.code.trim();
    if code.is_empty() {
        return Err(PluginError::Malformed(
            "the event reply has no code (e.g. the enter_session welcome_code)".into(),
        ));
    }
    // send_msg_on_event takes text or a menu; other content goes as its text.
    let (msgtype, part) = match &reply.content {
        Content::Raw(raw) if raw.kind == "msgmenu" => match raw_object(raw) {
            Some(menu) => ("msgmenu", menu),
            None => ("text", text_part(&fallback(&reply.content)?)?),
        },
        other => ("text", text_part(&fallback(other)?)?),
    };
    Ok(json!({
        "code": code,
        "msgid": client_msgid(&action.idempotency_key),
        "msgtype": msgtype,
        msgtype: part,
    }))
}

fn state_body(action: &Action, state: u8, servicer: Option<&str>) -> Result<Value, PluginError> {
    let mut body = Map::new();
    body.insert("open_kfid".into(), json!(open_kfid(action)?));
    body.insert("external_userid".into(), json!(recipient(action)?));
    body.insert("service_state".into(), json!(state));
    if let Some(servicer) = servicer {
        body.insert("servicer_userid".into(), json!(servicer));
    }
    Ok(Value::Object(body))
}

/// `msgtype` and its object for `content`: natively where WeCom can show it,
/// else the content's fallback text.
fn message_part(content: &Content) -> Result<(&'static str, Value), PluginError> {
    let with_media = |msgtype: &'static str, media: &Media| {
        media
            .media_id
            .as_deref()
            .filter(|id| !id.is_empty())
            .map(|id| (msgtype, json!({ "media_id": id })))
            .ok_or_else(|| {
                PluginError::Unsupported(format!(
                    "WeCom sends {msgtype} messages by media_id (upload the file first); this one has none"
                ))
            })
    };
    match content {
        Content::Text(text) => Ok(("text", text_part(text)?)),
        Content::Image(media) => with_media("image", media),
        Content::Voice(voice) => with_media("voice", &voice.media),
        Content::Video(media) => with_media("video", media),
        Content::File(media) => with_media("file", media),
        Content::Location(place) => {
            if !(-90.0..=90.0).contains(&place.latitude)
                || !(-180.0..=180.0).contains(&place.longitude)
            {
                return Err(PluginError::Malformed(format!(
                    "the location {},{} is not a latitude/longitude",
                    place.latitude, place.longitude
                )));
            }
            let mut part = json!({"latitude": place.latitude, "longitude": place.longitude});
            if let Some(label) = place.label.as_deref().filter(|l| !l.is_empty()) {
                part["name"] = json!(label);
            }
            Ok(("location", part))
        }
        Content::MiniProgram(card)
            if card
                .thumb_media_id
                .as_deref()
                .is_some_and(|t| !t.is_empty()) =>
        {
            let mut part = json!({
                "appid": card.app_id,
                "thumb_media_id": card.thumb_media_id,
                "pagepath": card.page_path,
            });
            if let Some(title) = card.title.as_deref().filter(|t| !t.is_empty()) {
                part["title"] = json!(title);
            }
            Ok(("miniprogram", part))
        }
        Content::Raw(raw) if matches!(raw.kind.as_str(), "msgmenu" | "business_card") => {
            match raw_object(raw) {
                Some(part) if raw.kind == "msgmenu" => Ok(("msgmenu", part)),
                Some(part) => Ok(("business_card", part)),
                None => Ok(("text", text_part(&fallback(content)?)?)),
            }
        }
        // Links need a thumbnail media_id tongdao's link does not carry;
        // cards, coupons and other content go out as their text.
        other => Ok(("text", text_part(&fallback(other)?)?)),
    }
}

fn fallback(content: &Content) -> Result<String, PluginError> {
    match content {
        Content::Link(link) => Ok(format!("{} {}", link.title, link.url).trim().to_string()),
        other => other.fallback_text().map(str::to_string).ok_or_else(|| {
            PluginError::Unsupported("this content has no media_id and no text to send".into())
        }),
    }
}

fn text_part(text: &str) -> Result<Value, PluginError> {
    if text.trim().is_empty() {
        return Err(PluginError::Malformed("the message text is empty".into()));
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(PluginError::Unsupported(format!(
            "the text is {} bytes; WeCom accepts at most {MAX_TEXT_BYTES} bytes per message",
            text.len()
        )));
    }
    Ok(json!({ "content": text }))
}

/// A raw content's JSON object (a menu or business card as WeCom writes it).
fn raw_object(raw: &RawContent) -> Option<Value> {
    serde_json::from_slice::<Value>(&raw.data)
        .ok()
        .filter(Value::is_object)
}

#[cfg(test)]
mod tests;
