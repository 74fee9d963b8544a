//! The WeChat emulator's notifications, which reach followers outside the
//! chat window:
//!
//! * `POST /cgi-bin/message/template/send` (模板消息) — the token checks,
//!   then 47001 for a body that is not a JSON object, 40003 for a missing
//!   openid, 40037 for a template the account does not have, 43004 when the
//!   openid does not follow the account, 47003 for a field that is not
//!   `{"value": "…"}`; a repeat of the same `client_msg_id` to the same
//!   openid within 10 minutes is answered with the first message's msgid
//!   and not sent again;
//! * `POST /cgi-bin/message/subscribe/bizsend` (订阅通知) — the same checks,
//!   and 43101 unless the follower subscribed to the template: each
//!   subscription (一次性订阅) lets one message through.

use crate::api::{State, check_token, error};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tongdao_loopback::{Incoming, Reply};

/// Path of the template-message endpoint.
pub const TEMPLATE_SEND_PATH: &str = "/cgi-bin/message/template/send";
/// Path of the subscription-message endpoint.
pub const SUBSCRIBE_SEND_PATH: &str = "/cgi-bin/message/subscribe/bizsend";
/// How long WeChat remembers a `client_msg_id`, in seconds.
const CLIENT_MSG_ID_SECS: i64 = 600;

/// Which API a notification came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeApi {
    /// `message/template/send`.
    Template,
    /// `message/subscribe/bizsend`.
    Subscription,
}

/// A notification the emulator accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct SentNotice {
    /// Through which API.
    pub api: NoticeApi,
    /// The recipient openid.
    pub touser: String,
    /// The template.
    pub template_id: String,
    /// The fields' values.
    pub fields: BTreeMap<String, String>,
    /// `url` (template) or `page` (subscription).
    pub link: Option<String>,
    /// The id it was answered with.
    pub msgid: u64,
    /// The emulator's clock when it was accepted (Unix seconds).
    pub at: i64,
}

/// What the emulator keeps about notifications.
#[derive(Debug, Default)]
pub(crate) struct Notices {
    /// Templates the account has.
    pub templates: std::collections::HashSet<String>,
    /// Followers besides those who wrote.
    pub follows: std::collections::HashSet<String>,
    /// (openid, template) → subscriptions not yet used.
    pub subscriptions: BTreeMap<(String, String), u32>,
    /// (openid, client_msg_id) → (msgid, when).
    pub client_msg_ids: BTreeMap<(String, String), (u64, i64)>,
    /// Accepted, in order.
    pub sent: Vec<SentNotice>,
    /// Template messages answered from the `client_msg_id` cache instead
    /// of being sent again.
    pub repeats: usize,
}

/// Serves both notification endpoints.
pub(crate) fn send(state: &mut State, request: &Incoming, api: NoticeApi) -> Reply {
    if let Err(refused) = check_token(state, request) {
        return refused;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return error(47001, "data format error");
    };
    if !body.is_object() {
        return error(47001, "data format error");
    }
    let Some(touser) = body["touser"].as_str().filter(|t| !t.is_empty()) else {
        return error(40003, "invalid openid");
    };
    let template_id = body["template_id"].as_str().unwrap_or_default();
    if !state.notices.templates.contains(template_id) {
        return error(40037, "invalid template_id");
    }
    if !state.followers.contains_key(touser) && !state.notices.follows.contains(touser) {
        return error(43004, "require subscribe");
    }
    let mut fields = BTreeMap::new();
    if let Some(data) = body["data"].as_object() {
        for (name, field) in data {
            let Some(value) = field["value"].as_str() else {
                return error(
                    47003,
                    &format!("argument invalid! data.{name}.value invalid"),
                );
            };
            fields.insert(name.clone(), value.to_owned());
        }
    } else if !body["data"].is_null() {
        return error(47003, "argument invalid! data invalid");
    }
    let now = state.now();
    let client_msg_id = body["client_msg_id"].as_str().map(str::to_owned);
    if let (NoticeApi::Template, Some(id)) = (api, &client_msg_id)
        && let Some((msgid, at)) = state
            .notices
            .client_msg_ids
            .get(&(touser.to_owned(), id.clone()))
        && now - at < CLIENT_MSG_ID_SECS
    {
        state.notices.repeats += 1;
        return Reply::json(&json!({"errcode": 0, "errmsg": "ok", "msgid": msgid}));
    }
    if let Some((code, message)) = state.failures.pop_front() {
        return error(code, &message);
    }
    if api == NoticeApi::Subscription {
        let key = (touser.to_owned(), template_id.to_owned());
        match state.notices.subscriptions.get_mut(&key) {
            Some(left) if *left > 0 => *left -= 1,
            _ => return error(43101, "user refuse to accept the msg"),
        }
    }
    let msgid = 2_000_000_000 + state.notices.sent.len() as u64;
    if let Some(id) = client_msg_id {
        state
            .notices
            .client_msg_ids
            .insert((touser.to_owned(), id), (msgid, now));
    }
    let link = match api {
        NoticeApi::Template => body["url"].as_str(),
        NoticeApi::Subscription => body["page"].as_str(),
    };
    state.notices.sent.push(SentNotice {
        api,
        touser: touser.to_owned(),
        template_id: template_id.to_owned(),
        fields,
        link: link.map(str::to_owned),
        msgid,
        at: now,
    });
    Reply::json(&json!({"errcode": 0, "errmsg": "ok", "msgid": msgid}))
}
