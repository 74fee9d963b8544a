//! The group robot's webhook (群机器人, developer.work.weixin.qq.com
//! document 91770): `POST /cgi-bin/webhook/send?key=KEY` with
//! `{"msgtype": "text", "text": {"content"}}` (≤ 2048 bytes) or `markdown`
//! (≤ 4096 bytes). A wrong key is 93000 (invalid webhook url); more than 20
//! messages in a minute is 45009. No access token: the key is the secret.

use super::{State, error};
use serde_json::{Value, json};
use std::collections::VecDeque;
use tongdao_loopback::{Incoming, Reply};

/// A message the robot posted to its group.
#[derive(Debug, Clone, PartialEq)]
pub struct RobotMessage {
    /// `text` or `markdown`.
    pub msgtype: String,
    /// The content.
    pub content: String,
    /// When it was accepted, Unix seconds (the emulator's clock).
    pub at: i64,
}

/// The robot's log and its recent sends.
#[derive(Debug, Default)]
pub(super) struct Robot {
    pub(super) accepted: Vec<RobotMessage>,
    recent: VecDeque<i64>,
}

/// `POST /cgi-bin/webhook/send`.
pub(super) fn send(state: &mut State, request: &Incoming) -> Reply {
    let key_ok = state
        .config
        .robot_key
        .as_deref()
        .is_some_and(|key| request.query("key") == Some(key));
    if !key_ok {
        return error(93000, "invalid webhook url");
    }
    let Some(body) = serde_json::from_slice::<Value>(&request.body)
        .ok()
        .filter(Value::is_object)
    else {
        return error(40035, "invalid parameter, Warning: wrong json format.");
    };
    let msgtype = body["msgtype"].as_str().unwrap_or_default().to_owned();
    let (limit, content) = match msgtype.as_str() {
        "text" => (2048, body["text"]["content"].as_str()),
        "markdown" => (4096, body["markdown"]["content"].as_str()),
        _ => return error(40008, "invalid message type"),
    };
    let Some(content) = content.filter(|c| !c.is_empty()) else {
        return error(44004, "empty content");
    };
    if content.len() > limit {
        return error(45002, "content size out of limit");
    }
    let now = state.now();
    let robot = &mut state.robot;
    while robot.recent.front().is_some_and(|&at| now - at >= 60) {
        robot.recent.pop_front();
    }
    if robot.recent.len() >= state.config.robot_messages_per_minute {
        return error(45009, "api freq out of limit");
    }
    robot.recent.push_back(now);
    robot.accepted.push(RobotMessage {
        msgtype,
        content: content.to_owned(),
        at: now,
    });
    Reply::json(&json!({"errcode": 0, "errmsg": "ok"}))
}
