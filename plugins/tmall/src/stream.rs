//! The TMC stream: the CONNECT handshake signed with the app secret, the
//! CONNECTACK that grants a session token (or refuses with a status),
//! data messages (`__kind` 3) as events acknowledged by a confirm
//! (`__kind` 2) once committed, and pull requests (`__kind` 1) as the
//! heartbeat that asks the server for more.

use crate::normalize::{self, TmcMessage};
use crate::signing::connect_sign;
use crate::toplink::{Message, Value, message_type};
use crate::{SETTING_GROUP_NAME, STATE_STREAM_TOKEN};
use tongdao_sdk::beijing_time::parse_datetime;
use tongdao_sdk::*;

/// The production TMC endpoint.
pub const STREAM_URL: &str = "ws://mc.api.taobao.com/";
/// How often the plugin sends a pull request (the official SDKs pull every
/// 5 s).
pub const PULL_INTERVAL_MS: u32 = 5_000;
/// What the CONNECT names as the client.
const SDK_NAME: &str = concat!("tongdao-tmall-", env!("CARGO_PKG_VERSION"));

/// Message kinds (`__kind`).
mod kind {
    pub const PULL_REQUEST: u8 = 1;
    pub const CONFIRM: u8 = 2;
    pub const DATA: u8 = 3;
    pub const FAILED: u8 = 20;
}

/// The TMC group the shop consumes (`default` unless set).
pub fn group_name(ctx: &ShopContext) -> &str {
    ctx.setting(SETTING_GROUP_NAME).unwrap_or("default")
}

/// The CONNECT frame for `now_ms`.
pub fn connect_frame(ctx: &ShopContext) -> Result<Vec<u8>, PluginError> {
    let app_key = ctx.credential("app_key")?;
    let secret = ctx.credential("app_secret")?;
    let group = group_name(ctx);
    let timestamp = ctx.now_ms;
    Ok(Message::new(message_type::CONNECT)
        .with("app_key", Value::Str(app_key.into()))
        .with("group_name", Value::Str(group.into()))
        .with("timestamp", Value::Str(timestamp.to_string()))
        .with(
            "sign",
            Value::Str(connect_sign(app_key, secret, group, timestamp)),
        )
        .with("sdk", Value::Str(SDK_NAME.into()))
        .encode())
}

/// How to open the stream.
pub fn open(ctx: &ShopContext) -> Result<StreamConnect, PluginError> {
    Ok(StreamConnect {
        url: STREAM_URL.into(),
        headers: Vec::new(),
        handshake: vec![Frame::Binary(connect_frame(ctx)?)],
        heartbeat_interval_ms: Some(PULL_INTERVAL_MS),
    })
}

/// A SEND of `__kind` with the session token, if the plugin holds one.
fn send(ctx: &ShopContext, kind: u8) -> Message {
    let mut message = Message::new(message_type::SEND).with("__kind", Value::Byte(kind));
    message.token = ctx.state_value(STATE_STREAM_TOKEN).map(str::to_string);
    message
}

/// A pull request: "send me what is waiting".
fn pull_request(ctx: &ShopContext) -> Frame {
    Frame::Binary(send(ctx, kind::PULL_REQUEST).encode())
}

/// The heartbeat: a pull request, once the session has a token.
pub fn heartbeat(ctx: &ShopContext) -> Vec<Frame> {
    if ctx.state_value(STATE_STREAM_TOKEN).is_some() {
        vec![pull_request(ctx)]
    } else {
        Vec::new()
    }
}

fn empty() -> FrameResult {
    FrameResult {
        events: Vec::new(),
        acks: Vec::new(),
        replies: Vec::new(),
        state: Vec::new(),
        close: None,
    }
}

/// Handle one frame from TMC.
pub fn handle(ctx: &ShopContext, frame: &Frame) -> Result<FrameResult, PluginError> {
    let bytes = match frame {
        Frame::Binary(bytes) => bytes,
        Frame::Text(_) => {
            return Err(PluginError::Malformed(
                "TMC speaks binary top-link frames; got a text frame".into(),
            ));
        }
    };
    let message = Message::decode(bytes)
        .map_err(|why| PluginError::Malformed(format!("not a top-link frame: {why}")))?;
    match message.message_type {
        message_type::CONNECTACK => Ok(connect_ack(ctx, &message)),
        message_type::SEND => data(ctx, &message),
        message_type::SENDACK => Ok(empty()),
        _ => Err(PluginError::Malformed(
            "TMC sent a CONNECT, which only clients send".into(),
        )),
    }
}

fn connect_ack(ctx: &ShopContext, message: &Message) -> FrameResult {
    let status = message.status_code.unwrap_or(0);
    if status != 0 {
        let phrase = message
            .status_phrase
            .as_deref()
            .unwrap_or("no reason given");
        let reason = format!(
            "TMC refused the connection with status {status}: {phrase} (check credentials `app_key`/`app_secret`, setting `{SETTING_GROUP_NAME}` and the host clock)"
        );
        log::error(&reason);
        let mut result = empty();
        result.state = vec![StateChange::remove(STATE_STREAM_TOKEN)];
        result.close = Some(reason);
        return result;
    }
    let Some(token) = message.token.clone().filter(|t| !t.is_empty()) else {
        let mut result = empty();
        result.close = Some("TMC accepted the connection but sent no session token".into());
        return result;
    };
    let mut next = ctx.clone();
    next.state.retain(|e| e.key != STATE_STREAM_TOKEN);
    next.state.push(StateEntry {
        key: STATE_STREAM_TOKEN.into(),
        value: token.clone(),
        expires_at_ms: None,
    });
    let mut result = empty();
    result.state = vec![StateChange::set(STATE_STREAM_TOKEN, token, None)];
    // Ask for what is waiting at once rather than at the first heartbeat.
    result.replies = vec![pull_request(&next)];
    result
}

fn data(ctx: &ShopContext, message: &Message) -> Result<FrameResult, PluginError> {
    let kind = message.get("__kind").and_then(Value::as_i64);
    if kind != Some(i64::from(kind::DATA)) {
        // Pull requests, confirms and failures travel client → server; a
        // server that echoes them needs no answer.
        if kind == Some(i64::from(kind::FAILED)) || kind == Some(i64::from(kind::CONFIRM)) {
            log::debug("TMC sent a confirm/failure message; nothing to do");
        }
        return Ok(empty());
    }
    let id_value = message
        .get("id")
        .filter(|v| v.as_text().is_some_and(|t| !t.is_empty()))
        .ok_or_else(|| PluginError::Malformed("a TMC data message has no `id`".into()))?;
    let id = id_value.as_text().unwrap_or_default();
    let topic = message
        .get("topic")
        .and_then(Value::as_text)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| PluginError::Malformed(format!("TMC data message {id} has no `topic`")))?;
    let content = match message.get("content") {
        None | Some(Value::Void) => "{}".to_string(),
        Some(value) => value.as_text().ok_or_else(|| {
            PluginError::Unsupported(format!(
                "TMC message {id}: `content` is not UTF-8 text (compressed content is not supported)"
            ))
        })?,
    };
    let published_ms = message.get("time").and_then(|time| match time {
        Value::Str(text) => parse_datetime(text).or_else(|| text.parse().ok()),
        other => other.as_i64(),
    });
    let tmc = TmcMessage {
        id,
        topic,
        content,
        published_ms,
        user_nick: message.get("nick").and_then(Value::as_text),
        user_id: message.get("userid").and_then(Value::as_text),
    };
    let mut confirm = send(ctx, kind::CONFIRM);
    confirm.content.push((
        "id".into(),
        // The id goes back in the form it came in.
        match id_value {
            Value::Str(_) => Value::Str(tmc.id.clone()),
            other => other
                .as_i64()
                .map_or(Value::Str(tmc.id.clone()), Value::I64),
        },
    ));
    let mut result = empty();
    result.events = vec![normalize::event(&tmc, ctx.now_ms)];
    result.acks = vec![Frame::Binary(confirm.encode())];
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ShopContext {
        ShopContext::for_test("demo-tmall", 1_700_000_000_000)
            .with_credential("app_key", "12345678")
            .with_credential("app_secret", "helloworld")
    }

    fn bin(frame: &Frame) -> Message {
        match frame {
            Frame::Binary(bytes) => Message::decode(bytes).unwrap(),
            Frame::Text(_) => panic!("text frame"),
        }
    }

    fn paid(id: Value) -> Vec<u8> {
        Message::new(message_type::SEND)
            .with("__kind", Value::Byte(3))
            .with("id", id)
            .with("topic", Value::Str("taobao_trade_TradeBuyerPay".into()))
            .with("content", Value::Str(r#"{"tid":3000000000000000001,"buyer_open_uid":"AAGM","payment":"99.00","status":"WAIT_SELLER_SEND_GOODS"}"#.into()))
            .with("time", Value::Date(1_714_037_059_000))
            .with("nick", Value::Str("demo_shop".into()))
            .encode()
    }

    #[test]
    fn the_handshake_is_a_signed_connect() {
        let connect = open(&ctx()).unwrap();
        assert_eq!(connect.url, STREAM_URL);
        assert_eq!(connect.heartbeat_interval_ms, Some(5_000));
        let message = bin(&connect.handshake[0]);
        assert_eq!(message.message_type, message_type::CONNECT);
        let get = |k: &str| message.get(k).and_then(Value::as_text).unwrap();
        assert_eq!(get("app_key"), "12345678");
        assert_eq!(get("group_name"), "default");
        assert_eq!(get("timestamp"), "1700000000000");
        assert_eq!(get("sign"), "C86848D198760FA334AA309207C72ECD");
        assert!(get("sdk").starts_with("tongdao-tmall-"));
        let grouped = ctx().with_setting(SETTING_GROUP_NAME, "vip");
        let message = bin(&open(&grouped).unwrap().handshake[0]);
        assert_eq!(message.get("group_name"), Some(&Value::Str("vip".into())));
        assert!(matches!(
            open(&ShopContext::for_test("s", 0).with_credential("app_key", "1")),
            Err(PluginError::Misconfigured(m)) if m.contains("app_secret")
        ));
    }

    #[test]
    fn an_accepting_connectack_keeps_the_token_and_pulls() {
        let mut ack = Message::new(message_type::CONNECTACK);
        ack.token = Some("tok-1".into());
        let result = handle(&ctx(), &Frame::Binary(ack.encode())).unwrap();
        assert_eq!(
            result.state,
            vec![StateChange::set(STATE_STREAM_TOKEN, "tok-1", None)]
        );
        let pull = bin(&result.replies[0]);
        assert_eq!(pull.token.as_deref(), Some("tok-1"));
        assert_eq!(pull.get("__kind"), Some(&Value::Byte(1)));
        assert!(result.close.is_none());
    }

    #[test]
    fn a_refusing_connectack_closes_with_the_phrase() {
        let mut ack = Message::new(message_type::CONNECTACK);
        ack.status_code = Some(400);
        ack.status_phrase = Some("invalid sign".into());
        let result = handle(&ctx(), &Frame::Binary(ack.encode())).unwrap();
        let close = result.close.unwrap();
        assert!(
            close.contains("400") && close.contains("invalid sign"),
            "{close}"
        );
        assert!(!close.contains("helloworld"));
        assert!(result.events.is_empty() && result.acks.is_empty());
        assert_eq!(result.state, vec![StateChange::remove(STATE_STREAM_TOKEN)]);
    }

    #[test]
    fn data_becomes_an_event_confirmed_with_id_and_token() {
        let ctx = ctx().with_state(STATE_STREAM_TOKEN, "tok-1", None);
        let result = handle(
            &ctx,
            &Frame::Binary(paid(Value::I64(4_380_000_000_000_001))),
        )
        .unwrap();
        assert_eq!(result.events.len(), 1);
        let event = &result.events[0];
        assert_eq!(
            event.platform_id,
            "taobao_trade_TradeBuyerPay:4380000000000001"
        );
        assert_eq!(event.platform_time_ms, 1_714_037_059_000);
        assert!(result.replies.is_empty());
        let confirm = bin(&result.acks[0]);
        assert_eq!(confirm.message_type, message_type::SEND);
        assert_eq!(confirm.token.as_deref(), Some("tok-1"));
        assert_eq!(confirm.get("__kind"), Some(&Value::Byte(2)));
        assert_eq!(confirm.get("id"), Some(&Value::I64(4_380_000_000_000_001)));
    }

    #[test]
    fn string_ids_and_string_times_are_accepted() {
        let mut message = Message::decode(&paid(Value::Str("77".into()))).unwrap();
        message.content.retain(|(k, _)| k != "time");
        message
            .content
            .push(("time".into(), Value::Str("2024-04-25 17:24:19".into())));
        let result = handle(&ctx(), &Frame::Binary(message.encode())).unwrap();
        assert_eq!(result.events[0].platform_time_ms, 1_714_037_059_000);
        assert_eq!(
            bin(&result.acks[0]).get("id"),
            Some(&Value::Str("77".into()))
        );
        assert_eq!(bin(&result.acks[0]).token, None);
    }

    #[test]
    fn broken_and_foreign_frames_are_refused_or_ignored() {
        assert!(matches!(
            handle(&ctx(), &Frame::Binary(vec![2, 2, 1])),
            Err(PluginError::Malformed(_))
        ));
        assert!(matches!(
            handle(&ctx(), &Frame::Text("{}".into())),
            Err(PluginError::Malformed(_))
        ));
        let no_id = Message::new(message_type::SEND)
            .with("__kind", Value::Byte(3))
            .with("topic", Value::Str("taobao_trade_TradeCreate".into()));
        assert!(matches!(
            handle(&ctx(), &Frame::Binary(no_id.encode())),
            Err(PluginError::Malformed(m)) if m.contains("`id`")
        ));
        let ack = Message::new(message_type::SENDACK);
        let ignored = handle(&ctx(), &Frame::Binary(ack.encode())).unwrap();
        assert!(ignored.events.is_empty() && ignored.acks.is_empty());
        let echo = Message::new(message_type::SEND).with("__kind", Value::Byte(1));
        assert!(
            handle(&ctx(), &Frame::Binary(echo.encode()))
                .unwrap()
                .events
                .is_empty()
        );
    }

    #[test]
    fn the_heartbeat_pulls_once_connected() {
        assert!(heartbeat(&ctx()).is_empty());
        let frames = heartbeat(&ctx().with_state(STATE_STREAM_TOKEN, "tok-2", None));
        let pull = bin(&frames[0]);
        assert_eq!(pull.get("__kind"), Some(&Value::Byte(1)));
        assert_eq!(pull.token.as_deref(), Some("tok-2"));
    }
}
