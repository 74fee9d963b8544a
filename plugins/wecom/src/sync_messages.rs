//! Turn the `msg_list` of a `kf/sync_msg` page into normalized events.
//!
//! - `origin` 3 (the customer) → inbound customer messages;
//! - `origin` 5 (a servicer in the WeCom client) → outbound agent messages,
//!   kept so the transcript is whole (the host's pipeline answers only
//!   inbound customer messages);
//! - `msgtype` `event` (`origin` 4) → session events: `enter_session` →
//!   entered-session (with `welcome_code`, `scene`, `scene_param` in the
//!   detail), `msg_send_fail` → send-failed, `session_status_change` →
//!   session-state-changed, every other event → other.
//!
//! The dedupe key is WeCom's `msgid`; a conversation is one customer of one
//! kf account, `{open_kfid}:{external_userid}`; every event carries its
//! `open_kfid` as route, which the actions need to answer. An item that
//! cannot be normalized is skipped with a warning (see [`events`]).

use serde_json::{Map, Value};
use tongdao_sdk::*;

/// Route key of the kf account.
pub const ROUTE_OPEN_KFID: &str = "open_kfid";
/// Route key of the servicer who wrote an agent message.
pub const ROUTE_SERVICER: &str = "servicer_userid";

/// The customer wrote it.
const ORIGIN_CUSTOMER: i64 = 3;
/// A servicer wrote it in the WeCom client.
const ORIGIN_SERVICER: i64 = 5;

/// How voice messages are delivered (`voice_format` of the pull).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoiceFormat {
    /// 0: AMR (the default).
    Amr,
    /// 1: SILK.
    Silk,
}

impl VoiceFormat {
    /// The `voice_format` value of the pull.
    pub fn code(self) -> u8 {
        match self {
            VoiceFormat::Amr => 0,
            VoiceFormat::Silk => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            VoiceFormat::Amr => "amr",
            VoiceFormat::Silk => "silk",
        }
    }
}

/// The events of a page's `msg_list`, in order.
///
/// An item that cannot be normalized (no `msgid`, no time, no customer or
/// kf account) is skipped with a warning rather than refusing the page: the
/// committed cursor could never move past it, and the kf account's feed
/// would stop for every customer. An item whose content cannot be read is
/// kept as raw content.
pub fn events(list: &[Value], voice: VoiceFormat) -> Vec<Event> {
    list.iter()
        .enumerate()
        .filter_map(|(index, item)| {
            let read = item
                .as_object()
                .ok_or_else(|| PluginError::Malformed("it is not an object".into()))
                .and_then(|object| event(object, voice));
            match read {
                Ok(event) => Some(event),
                Err(err) => {
                    let msgid = item.get("msgid").and_then(Value::as_str).unwrap_or("?");
                    log::warn(&format!(
                        "skipping sync_msg msg_list[{index}] (msgid `{msgid}`): {}",
                        reason(&err)
                    ));
                    None
                }
            }
        })
        .collect()
}

fn event(item: &Map<String, Value>, voice: VoiceFormat) -> Result<Event, PluginError> {
    let msgid = required_str(item, "msgid")?;
    let send_time = item
        .get("send_time")
        .and_then(number)
        .ok_or_else(|| PluginError::Malformed("`send_time` is missing or not a number".into()))?;
    let msgtype = required_str(item, "msgtype")?;
    let platform_time_ms = send_time.saturating_mul(1000);
    if msgtype == "event" {
        let body = item
            .get("event")
            .and_then(Value::as_object)
            .ok_or_else(|| PluginError::Malformed("an event without an `event` object".into()))?;
        return session_event(msgid, platform_time_ms, item, body);
    }
    let open_kfid = required_str(item, "open_kfid")?;
    let external_userid = required_str(item, "external_userid")?;
    let origin = item
        .get("origin")
        .and_then(number)
        .unwrap_or(ORIGIN_CUSTOMER);
    let servicer = optional_str(item, "servicer_userid");
    let mut route = vec![Pair::new(ROUTE_OPEN_KFID, open_kfid)];
    let (author, role, direction) = match origin {
        ORIGIN_CUSTOMER => (
            Identity::new(external_userid),
            AuthorRole::Customer,
            Direction::Inbound,
        ),
        ORIGIN_SERVICER => {
            let servicer = servicer.ok_or_else(|| {
                PluginError::Malformed("a servicer message without `servicer_userid`".into())
            })?;
            route.push(Pair::new(ROUTE_SERVICER, servicer));
            (
                Identity::new(servicer),
                AuthorRole::Agent,
                Direction::Outbound,
            )
        }
        // 4 (system) and origins WeCom may add later.
        _ => (
            Identity::new(external_userid),
            AuthorRole::System,
            Direction::Inbound,
        ),
    };
    Ok(Event {
        platform_id: msgid.to_string(),
        conversation_id: conversation(open_kfid, external_userid),
        platform_time_ms,
        route,
        body: EventBody::Message(Message {
            author,
            role,
            direction,
            content: content(item, msgtype, voice).unwrap_or_else(|err| {
                log::warn(&format!(
                    "sync_msg message `{msgid}`: the {msgtype} content is kept raw: {}",
                    reason(&err)
                ));
                raw(item, msgtype)
            }),
        }),
    })
}

/// `{open_kfid}:{external_userid}`: one customer of one kf account.
pub fn conversation(open_kfid: &str, external_userid: &str) -> String {
    format!("{open_kfid}:{external_userid}")
}

fn content(
    item: &Map<String, Value>,
    msgtype: &str,
    voice: VoiceFormat,
) -> Result<Content, PluginError> {
    let empty = Map::new();
    let part = item
        .get(msgtype)
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let text = |name: &str| optional_str(part, name).map(str::to_string);
    let media = |mime: Option<&str>| Media {
        url: None,
        media_id: text("media_id"),
        mime_type: mime.map(str::to_string),
        file_name: None,
        size_bytes: None,
    };
    Ok(match msgtype {
        "text" => Content::Text(
            part.get("content")
                .and_then(Value::as_str)
                .ok_or_else(|| PluginError::Malformed("a text message without `content`".into()))?
                .to_string(),
        ),
        "image" => Content::Image(media(None)),
        "voice" => Content::Voice(Voice {
            media: media(None),
            format: Some(voice.name().to_string()),
            recognition: None,
        }),
        "video" => Content::Video(media(None)),
        "file" => Content::File(media(None)),
        "location" => Content::Location(Location {
            latitude: coordinate(part, "latitude")?,
            longitude: coordinate(part, "longitude")?,
            scale: None,
            label: [text("name"), text("address")]
                .into_iter()
                .flatten()
                .reduce(|name, address| format!("{name} {address}")),
        }),
        "link" => Content::Link(Link {
            title: text("title").unwrap_or_default(),
            description: text("desc"),
            url: text("url")
                .ok_or_else(|| PluginError::Malformed("a link message without `url`".into()))?,
            thumb_url: text("pic_url"),
        }),
        "miniprogram" => {
            let title = text("title");
            let page_path = text("pagepath").unwrap_or_default();
            Content::MiniProgram(MiniProgram {
                app_id: text("appid").ok_or_else(|| {
                    PluginError::Malformed("a miniprogram message without `appid`".into())
                })?,
                fallback_text: title.clone().unwrap_or_else(|| page_path.clone()),
                page_path,
                title,
                thumb_media_id: text("thumb_media_id"),
            })
        }
        // business_card, msgmenu, channels_shop_product, channels_shop_order,
        // merged_msg, channels, meeting, schedule, note, …: kept as delivered.
        other => raw(item, other),
    })
}

/// The message's `msgtype` object as delivered, as raw JSON content.
fn raw(item: &Map<String, Value>, msgtype: &str) -> Content {
    let part = item.get(msgtype).cloned().unwrap_or(Value::Null);
    let fallback_text = match msgtype {
        "msgmenu" => part.get("head_content").and_then(Value::as_str),
        "text" => part.get("content").and_then(Value::as_str),
        _ => None,
    }
    .map(str::to_string);
    Content::Raw(RawContent {
        kind: msgtype.to_string(),
        content_type: "application/json".into(),
        data: serde_json::to_vec(&part).unwrap_or_default(),
        fallback_text,
    })
}

fn session_event(
    msgid: &str,
    platform_time_ms: i64,
    item: &Map<String, Value>,
    body: &Map<String, Value>,
) -> Result<Event, PluginError> {
    let name = required_str(body, "event_type")?;
    // The event's own fields first, the message's as a fallback.
    let field = |key: &str| optional_str(body, key).or_else(|| optional_str(item, key));
    let open_kfid = field("open_kfid")
        .ok_or_else(|| PluginError::Malformed(format!("a `{name}` event without `open_kfid`")))?;
    let kind = match name {
        "enter_session" => SessionKind::EnteredSession,
        "msg_send_fail" => SessionKind::SendFailed,
        "session_status_change" => SessionKind::SessionStateChanged,
        _ => SessionKind::Other,
    };
    // Events about a customer carry external_userid; servicer events
    // (servicer_status_change) concern the servicer instead.
    let (subject, conversation_id) = match field("external_userid") {
        Some(customer) => (customer, conversation(open_kfid, customer)),
        None => {
            let servicer = field("servicer_userid").ok_or_else(|| {
                PluginError::Malformed(format!(
                    "a `{name}` event names neither `external_userid` nor `servicer_userid`"
                ))
            })?;
            (servicer, open_kfid.to_string())
        }
    };
    let mut detail = Vec::new();
    flatten("", body, &mut detail);
    detail.retain(|pair| {
        !matches!(
            pair.name.as_str(),
            "event_type" | "open_kfid" | "external_userid"
        )
    });
    Ok(Event {
        platform_id: msgid.to_string(),
        conversation_id,
        platform_time_ms,
        route: vec![Pair::new(ROUTE_OPEN_KFID, open_kfid)],
        body: EventBody::Session(SessionEvent {
            kind,
            customer: Identity::new(subject),
            name: name.to_string(),
            detail,
        }),
    })
}

/// Scalar leaves of `object` as pairs, nested keys joined with `.`
/// (`wechat_channels.nickname`).
fn flatten(prefix: &str, object: &Map<String, Value>, out: &mut Vec<Pair>) {
    for (key, value) in object {
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::String(text) => out.push(Pair::new(name, text.as_str())),
            Value::Number(number) => out.push(Pair::new(name, number.to_string())),
            Value::Bool(flag) => out.push(Pair::new(name, flag.to_string())),
            Value::Object(inner) => flatten(&name, inner, out),
            Value::Array(_) => out.push(Pair::new(name, value.to_string())),
            Value::Null => {}
        }
    }
}

fn coordinate(part: &Map<String, Value>, name: &str) -> Result<f64, PluginError> {
    part.get(name)
        .and_then(|value| {
            value
                .as_f64()
                .or_else(|| value.as_str()?.trim().parse().ok())
        })
        .filter(|value| value.is_finite())
        .ok_or_else(|| PluginError::Malformed(format!("`{name}` is missing or not a number")))
}

fn number(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

fn optional_str<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    object
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

fn required_str<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a str, PluginError> {
    optional_str(object, name).ok_or_else(|| PluginError::Malformed(format!("`{name}` is missing")))
}

/// The message of a normalization error.
fn reason(err: &PluginError) -> String {
    match err {
        PluginError::Malformed(message) => message.clone(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests;
