//! The `kf/*` endpoints of the emulator, called with the access token
//! already checked and the body parsed as a JSON object.
//!
//! Error codes used (README.md says which are documented): 95000 unknown
//! kf account, 95007 invalid sync token, 45009 pull rate limit, 40035
//! invalid parameter (bad cursor, limit, msgid, event code), 45002 content
//! too long, 95018 session state does not allow API messages, 95002 the
//! 48 h window passed, 95001 five messages since the customer's last,
//! 95016 state change not allowed, 95014 servicer not on duty.

use super::sessions::SessionState;
use super::{LogEntry, SentEventReply, SentMessage, State, StateChange, error};
use serde_json::{Value, json};
use tongdao_loopback::Reply;

/// Cursors are opaque to callers; the emulator's carry a log position.
const CURSOR_PREFIX: &str = "EMUCUR";

fn text_field<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body.get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn valid_msgid(msgid: &str) -> bool {
    !msgid.is_empty()
        && msgid.len() <= 32
        && msgid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `kf/sync_msg`: a page of a kf account's log from the cursor.
pub fn sync_msg(state: &mut State, body: &Value) -> Reply {
    let Some(open_kfid) = text_field(body, "open_kfid") else {
        return error(95000, "invalid open_kfid");
    };
    if !state.accounts.contains_key(open_kfid) {
        return error(95000, "invalid open_kfid");
    }
    let now = state.now();
    match text_field(body, "token") {
        Some(token) => match state.sync_tokens.get(token) {
            Some((kfid, expires_at)) if kfid == open_kfid && now < *expires_at => {}
            _ => return error(95007, "invalid msg token"),
        },
        None => {
            let limit = state.config.untokened_pulls_per_minute;
            let account = state.account(open_kfid);
            while account
                .untokened_pulls
                .front()
                .is_some_and(|at| now - at >= 60)
            {
                account.untokened_pulls.pop_front();
            }
            if account.untokened_pulls.len() >= limit {
                return error(45009, "api freq out of limit");
            }
            account.untokened_pulls.push_back(now);
        }
    }
    let max = state.config.max_page_limit;
    let limit = match body.get("limit") {
        None => max,
        Some(value) => match value.as_u64() {
            Some(n) if (1..=u64::from(max)).contains(&n) => n as u32,
            _ => return error(40035, "invalid parameter: limit"),
        },
    };
    let history_start = now - state.config.history_secs;
    let log: &Vec<LogEntry> = &state.accounts[open_kfid].log;
    let start = match text_field(body, "cursor") {
        Some(cursor) => match cursor
            .strip_prefix(CURSOR_PREFIX)
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= log.len())
        {
            Some(position) => position,
            None => return error(40035, "invalid parameter: cursor"),
        },
        None => log
            .iter()
            .position(|entry| entry.at >= history_start)
            .unwrap_or(log.len()),
    };
    // A test asked for this page to overlap the previous one.
    let start = start.saturating_sub(std::mem::take(&mut state.overlap_next_pull));
    let log: &Vec<LogEntry> = &state.accounts[open_kfid].log;
    let end = (start + limit as usize).min(log.len());
    let msg_list: Vec<Value> = log[start..end]
        .iter()
        .filter(|entry| !entry.hidden)
        .map(|entry| entry.item.clone())
        .collect();
    Reply::json(&json!({
        "errcode": 0,
        "errmsg": "ok",
        "next_cursor": format!("{CURSOR_PREFIX}{end}"),
        "has_more": if end < log.len() { 1 } else { 0 },
        "msg_list": msg_list,
    }))
}

/// The message part of a send: (msgtype, text content if text).
fn message_part(state: &State, body: &Value) -> Result<(String, Option<String>), Reply> {
    let Some(msgtype) = text_field(body, "msgtype") else {
        return Err(error(40008, "invalid message type"));
    };
    match msgtype {
        "text" => {
            let content = body["text"]["content"].as_str().unwrap_or_default();
            if content.is_empty() {
                return Err(error(44004, "empty content"));
            }
            if content.len() > state.config.max_text_bytes {
                return Err(error(45002, "content size out of limit"));
            }
            Ok(("text".into(), Some(content.to_string())))
        }
        "image" | "voice" | "video" | "file" => {
            if body[msgtype]["media_id"]
                .as_str()
                .unwrap_or_default()
                .is_empty()
            {
                return Err(error(40007, "invalid media_id"));
            }
            Ok((msgtype.into(), None))
        }
        "link" | "miniprogram" | "msgmenu" | "location" => Ok((msgtype.into(), None)),
        _ => Err(error(40008, "invalid message type")),
    }
}

/// `kf/send_msg`: a message to a customer, within the session rules.
pub fn send_msg(state: &mut State, body: &Value) -> Reply {
    let Some(open_kfid) = text_field(body, "open_kfid").map(str::to_owned) else {
        return error(95000, "invalid open_kfid");
    };
    if !state.accounts.contains_key(&open_kfid) {
        return error(95000, "invalid open_kfid");
    }
    let Some(touser) = text_field(body, "touser").map(str::to_owned) else {
        return error(40003, "invalid external_userid");
    };
    let client_msgid = text_field(body, "msgid").map(str::to_owned);
    if let Some(msgid) = &client_msgid {
        if !valid_msgid(msgid) {
            return error(40035, "invalid parameter: msgid");
        }
        if state.account(&open_kfid).used_msgids.contains_key(msgid) {
            return match &state.config.repeated_msgid {
                super::RepeatedMsgid::EchoOk => {
                    Reply::json(&json!({"errcode": 0, "errmsg": "ok", "msgid": msgid}))
                }
                super::RepeatedMsgid::Refuse { errcode, errmsg } => error(*errcode, errmsg),
            };
        }
    }
    let (msgtype, text) = match message_part(state, body) {
        Ok(part) => part,
        Err(refused) => return refused,
    };
    let now = state.now();
    let session = state.sessions.get(&open_kfid, &touser);
    if !session.state.accepts_api_messages() {
        return error(95018, "send msg session status invalid");
    }
    match session.last_customer_message {
        Some(last) if now - last <= state.config.reply_window_secs => {}
        _ => return error(95002, "send msg out of the 48 hours window"),
    }
    if session.replies >= state.config.replies_per_customer_message {
        return error(95001, "send msg count limit");
    }
    let msgid = client_msgid.unwrap_or_else(|| state.next_msgid("msgid_"));
    state.sessions.get_mut(&open_kfid, &touser).replies += 1;
    state
        .account(&open_kfid)
        .used_msgids
        .insert(msgid.clone(), touser.clone());
    let item = json!({
        "msgid": msgid, "open_kfid": open_kfid, "external_userid": touser,
        "send_time": now, "origin": 5, "msgtype": msgtype,
    });
    state.append(&open_kfid, item, true);
    state.sent.push(SentMessage {
        open_kfid,
        touser,
        msgid: msgid.clone(),
        msgtype,
        text,
        body: body.clone(),
        at: now,
    });
    Reply::json(&json!({"errcode": 0, "errmsg": "ok", "msgid": msgid}))
}

/// `kf/send_msg_on_event`: a reply quoting an event code, once, in time.
pub fn send_msg_on_event(state: &mut State, body: &Value) -> Reply {
    let Some(code) = text_field(body, "code").map(str::to_owned) else {
        return error(40035, "invalid parameter: code");
    };
    let now = state.now();
    let event = match state.event_codes.get(&code) {
        Some(event) if !event.used && now <= event.expires_at => event.clone(),
        _ => return error(40035, "invalid parameter: code is invalid, used or expired"),
    };
    let (msgtype, text) = match message_part(state, body) {
        Ok(part) => part,
        Err(refused) => return refused,
    };
    if !matches!(msgtype.as_str(), "text" | "msgmenu") {
        return error(40008, "invalid message type");
    }
    let msgid = match text_field(body, "msgid") {
        Some(msgid) if !valid_msgid(msgid) => return error(40035, "invalid parameter: msgid"),
        Some(msgid) => msgid.to_owned(),
        None => state.next_msgid("msgid_"),
    };
    if let Some(entry) = state.event_codes.get_mut(&code) {
        entry.used = true;
    }
    state.event_replies.push(SentEventReply {
        code,
        open_kfid: event.open_kfid,
        external_userid: event.external_userid,
        msgid: msgid.clone(),
        msgtype,
        text,
        at: now,
    });
    Reply::json(&json!({"errcode": 0, "errmsg": "ok", "msgid": msgid}))
}

/// `kf/service_state/get`.
pub fn service_state_get(state: &mut State, body: &Value) -> Reply {
    let (Some(open_kfid), Some(user)) = (
        text_field(body, "open_kfid"),
        text_field(body, "external_userid"),
    ) else {
        return error(40035, "invalid parameter");
    };
    let session = state.sessions.get(open_kfid, user);
    Reply::json(&json!({
        "errcode": 0, "errmsg": "ok",
        "service_state": session.state.code(),
        "servicer_userid": session.servicer.unwrap_or_default(),
    }))
}

/// `kf/service_state/trans`: the state machine; states 2–4 return a
/// `msg_code` for one `send_msg_on_event`.
pub fn service_state_trans(state: &mut State, body: &Value) -> Reply {
    let (Some(open_kfid), Some(user)) = (
        text_field(body, "open_kfid").map(str::to_owned),
        text_field(body, "external_userid").map(str::to_owned),
    ) else {
        return error(40035, "invalid parameter");
    };
    let Some(to) = body
        .get("service_state")
        .and_then(Value::as_i64)
        .and_then(SessionState::from_code)
    else {
        return error(40035, "invalid parameter: service_state");
    };
    let servicer = text_field(body, "servicer_userid").map(str::to_owned);
    let from = state.sessions.state(&open_kfid, &user);
    if !from.may_become(to) {
        return error(95016, "invalid service state transition");
    }
    if to == SessionState::Human {
        let on_duty = servicer.as_ref().is_some_and(|s| {
            state
                .accounts
                .get(&open_kfid)
                .and_then(|a| a.servicers.get(s))
                .copied()
                .unwrap_or(false)
        });
        if !on_duty {
            return error(95014, "servicer is not on duty");
        }
    }
    state.sessions.set(
        &open_kfid,
        &user,
        to,
        servicer.clone().filter(|_| to == SessionState::Human),
    );
    state.state_changes.push(StateChange {
        open_kfid: open_kfid.clone(),
        external_userid: user.clone(),
        from,
        to,
        servicer_userid: servicer,
    });
    let mut answer = json!({"errcode": 0, "errmsg": "ok"});
    if matches!(
        to,
        SessionState::Pool | SessionState::Human | SessionState::Ended
    ) {
        answer["msg_code"] = json!(state.issue_event_code(&open_kfid, &user));
    }
    Reply::json(&answer)
}

/// `kf/customer/batchget`: profiles of customers active within 48 h;
/// `unionid` only where the test bound one.
pub fn customer_batchget(state: &mut State, body: &Value) -> Reply {
    let Some(list) = body.get("external_userid_list").and_then(Value::as_array) else {
        return error(40035, "invalid parameter: external_userid_list");
    };
    if list.is_empty() || list.len() > 100 {
        return error(40035, "invalid parameter: 1 to 100 external_userid");
    }
    let now = state.now();
    let window = state.config.profile_window_secs;
    let mut customers = Vec::new();
    let mut invalid = Vec::new();
    for id in list.iter().filter_map(Value::as_str) {
        match state.profiles.get(id) {
            Some(profile) if now - profile.last_active <= window => {
                let mut customer = json!({
                    "external_userid": id,
                    "nickname": profile.nickname,
                    "avatar": "",
                    "gender": 0,
                });
                if let Some(unionid) = &profile.unionid {
                    customer["unionid"] = json!(unionid);
                }
                customers.push(customer);
            }
            _ => invalid.push(json!(id)),
        }
    }
    Reply::json(&json!({
        "errcode": 0, "errmsg": "ok",
        "customer_list": customers,
        "invalid_external_userid": invalid,
    }))
}
