//! 咚咚 (JD's customer-service IM): the shop's chat sessions and chat logs
//! in a window of at most 7 days within the last 3 months, and the push
//! that sends a waiter's message (checked against the app's partner ids,
//! then written into the chat log as the waiter's).

use crate::router::error;
use crate::signing::parse_time;
use crate::{ChatEntry, PushedMessage, State};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The session list method.
pub const SESSION_LIST: &str = "jingdong.im.pop.sessionlist.get";
/// The chat log method.
pub const CHAT_LOG: &str = "jingdong.im.pop.chatlog.get";
/// The push method.
pub const CHAT_PUSH: &str = "jingdong.dongdong.packet.josChatMessage.push";
const MAX_SPAN_MS: i64 = 7 * 24 * 3600 * 1000;
const MAX_AGE_MS: i64 = 90 * 24 * 3600 * 1000;

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A paging number given as a number or a string.
pub(crate) fn number(value: &Value, key: &str, default: u64) -> u64 {
    match value.get(key) {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(default),
        Some(Value::String(s)) => s.parse().unwrap_or(default),
        _ => default,
    }
    .max(1)
}

fn refusal(zh: &str, en: &str) -> Value {
    error("100", zh, en)
}

/// The window `[startTime, endTime]` a chat call asks for.
fn window(state: &State, business: &Value) -> Result<(i64, i64), Value> {
    let (Some(from), Some(to)) = (
        text(business, "startTime").and_then(parse_time),
        text(business, "endTime").and_then(parse_time),
    ) else {
        return Err(refusal(
            "startTime/endTime 缺失或格式错误",
            "startTime/endTime missing or malformed",
        ));
    };
    if from > to || to - from > MAX_SPAN_MS {
        return Err(refusal(
            "查询起止日期相差不能大于7天",
            "the window must be 7 days at most",
        ));
    }
    if state.now_ms() - from > MAX_AGE_MS {
        return Err(refusal(
            "查询的日期距现在不能大于3个月",
            "the window must be within 3 months",
        ));
    }
    Ok((from, to))
}

fn page<T: Clone>(items: &[T], business: &Value, default_size: u64) -> Vec<T> {
    let size = number(business, "pageSize", default_size) as usize;
    let page = number(business, "page", 1) as usize;
    items
        .iter()
        .skip((page - 1) * size)
        .take(size)
        .cloned()
        .collect()
}

fn in_window<'a>(
    state: &'a State,
    business: &'a Value,
    from: i64,
    to: i64,
) -> impl Iterator<Item = &'a ChatEntry> {
    let waiter = text(business, "waiter");
    state
        .chats
        .iter()
        .filter(move |c| c.time_ms >= from && c.time_ms <= to)
        .filter(move |c| waiter.is_none_or(|w| c.waiter == w))
}

/// `jingdong.im.pop.sessionlist.get`: sessions with a message in the window.
pub(crate) fn session_list(state: &State, business: &Value) -> Result<Value, Value> {
    let (from, to) = window(state, business)?;
    let mut sessions: BTreeMap<(String, String), (String, i64, i64, u64)> = BTreeMap::new();
    for chat in in_window(state, business, from, to) {
        let entry = sessions
            .entry((chat.customer.clone(), chat.sid.clone()))
            .or_insert((chat.waiter.clone(), chat.time_ms, chat.time_ms, chat.sku_id));
        entry.1 = entry.1.min(chat.time_ms);
        entry.2 = entry.2.max(chat.time_ms);
    }
    let all: Vec<Value> = sessions
        .into_iter()
        .map(|((customer, sid), (waiter, begin, end, sku))| {
            json!({"customer": customer, "waiter": waiter, "sid": sid, "beginTime": begin, "endTime": end, "skuId": sku})
        })
        .collect();
    Ok(
        json!({"ChatSessionPage": {"chatSessionList": page(&all, business, 20), "totalRecord": all.len()}}),
    )
}

/// `jingdong.im.pop.chatlog.get`: one customer's messages in the window.
pub(crate) fn chat_log(state: &State, business: &Value) -> Result<Value, Value> {
    let Some(customer) = text(business, "customer") else {
        return Err(refusal("缺少参数customer", "customer is required"));
    };
    let (from, to) = window(state, business)?;
    let mut lines: Vec<&ChatEntry> = in_window(state, business, from, to)
        .filter(|c| c.customer == customer)
        .collect();
    lines.sort_by_key(|c| c.time_ms);
    let all: Vec<Value> = lines
        .into_iter()
        .map(|c| {
            json!({"customer": c.customer, "waiter": c.waiter, "content": c.content, "sid": c.sid,
                   "skuId": c.sku_id, "time": c.time_ms, "channel": 1, "waiterSend": c.waiter_send})
        })
        .collect();
    Ok(json!({"ChatLogPage": {"chatLogList": page(&all, business, 20), "totalRecord": all.len()}}))
}

fn failure(code: u32, msg: &str) -> Result<Value, Value> {
    Ok(json!({"returnType": {"success": false, "code": code, "msg": msg}}))
}

/// `jingdong.dongdong.packet.josChatMessage.push`.
pub(crate) fn push(state: &mut State, business: &Value) -> Result<Value, Value> {
    let (Some(param1), Some(param2)) = (business.get("param1"), business.get("param2")) else {
        return Err(refusal(
            "缺少参数param1/param2",
            "param1 and param2 are required",
        ));
    };
    if text(param1, "accessid") != Some(state.config.dongdong_accessid.as_str())
        || text(param1, "aspid") != Some(state.config.dongdong_aspid.as_str())
    {
        return failure(403, "accessid/aspid 未授权");
    }
    let (Some(from), Some(to), Some(upid)) = (
        text(param2, "fromPin"),
        text(param2, "toPin"),
        text(param2, "upid"),
    ) else {
        return failure(400, "fromPin/toPin/upid 缺失");
    };
    let content = text(param2, "body")
        .and_then(|body| serde_json::from_str::<Value>(body).ok())
        .and_then(|body| {
            body.get("content")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .filter(|c| !c.trim().is_empty());
    let Some(content) = content else {
        return failure(400, "body 不是文本消息");
    };
    let Some(session) = state
        .chats
        .iter()
        .filter(|c| c.customer == to)
        .max_by_key(|c| c.time_ms)
        .map(|c| c.sid.clone())
    else {
        return failure(404, "该用户没有咨询会话");
    };
    let time_ms = state.now_ms();
    state.chats.push(ChatEntry {
        customer: to.into(),
        waiter: from.into(),
        content: content.clone(),
        sid: session,
        sku_id: 0,
        time_ms,
        waiter_send: true,
    });
    state.pushes.push(PushedMessage {
        upid: upid.into(),
        from_pin: from.into(),
        to_pin: to.into(),
        text: content,
    });
    Ok(json!({"returnType": {"success": true, "code": 200, "msg": "ok"}}))
}
