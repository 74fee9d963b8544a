//! A lean stand-in for WeCom's 微信客服 API, fast enough for load runs:
//! `gettoken`, `kf/sync_msg` (a kf account's message log, paged by cursor)
//! and `kf/send_msg`, which accepts a client `msgid` once and drops a
//! repeat (answering ok, as WeCom does), so a resend cannot reach the
//! customer twice. Customers' messages join the log as the driver sends
//! their callbacks.

use crate::sends::{Sends, index_of};
use crate::serve::{Answer, Call, json};
use serde_json::json as value;
use std::collections::HashSet;
use std::sync::Mutex;

/// The corp's id.
pub const CORP_ID: &str = "wwload000000001";
/// The 微信客服 app secret.
pub const SECRET: &str = "load-kf-secret";
/// The callback configuration's Token.
pub const TOKEN: &str = "loadwecomtoken";
/// The callback configuration's EncodingAESKey.
pub const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
/// The kf account customers write to.
pub const OPEN_KFID: &str = "wkLOADkf000000001";
const ACCESS_TOKEN: &str = "LOAD_WECOM_ACCESS_TOKEN";
const CURSOR_PREFIX: &str = "c";
const MAX_PAGE: usize = 1000;

#[derive(Default)]
struct Log {
    /// Items as JSON, in arrival order.
    items: Vec<String>,
    /// Message indexes already in the log (a resent callback adds nothing).
    indexes: HashSet<usize>,
    /// Client msgids accepted by `send_msg`.
    msgids: HashSet<String>,
}

/// The stand-in's state.
#[derive(Default)]
pub struct WecomStandIn {
    log: Mutex<Log>,
}

impl WecomStandIn {
    /// Customer `external_userid` (message `index`) writes `text` now;
    /// nothing happens if that message is already in the log.
    pub fn customer_says(
        &self,
        index: usize,
        msgid: &str,
        external_userid: &str,
        text: &str,
        unix_secs: i64,
    ) {
        let mut log = self.log.lock().expect("log lock");
        if !log.indexes.insert(index) {
            return;
        }
        let item = value!({
            "msgid": msgid,
            "open_kfid": OPEN_KFID,
            "external_userid": external_userid,
            "send_time": unix_secs,
            "origin": 3,
            "msgtype": "text",
            "text": {"content": text},
        });
        log.items.push(item.to_string());
    }

    /// Answer one API call, recording replies in `sends`.
    pub fn answer(&self, sends: &Sends, call: &Call<'_>) -> Answer {
        if call.path == "/cgi-bin/gettoken" {
            if call.query_param("corpid") != Some(CORP_ID) {
                return json(value!({"errcode": 40013, "errmsg": "invalid corpid"}));
            }
            if call.query_param("corpsecret") != Some(SECRET) {
                return json(value!({"errcode": 40001, "errmsg": "invalid credential"}));
            }
            return json(
                value!({"errcode": 0, "errmsg": "ok", "access_token": ACCESS_TOKEN, "expires_in": 7200}),
            );
        }
        if call.query_param("access_token") != Some(ACCESS_TOKEN) {
            return json(value!({"errcode": 40014, "errmsg": "invalid access_token"}));
        }
        let Ok(body) = serde_json::from_slice::<serde_json::Value>(call.body) else {
            return json(value!({"errcode": 47001, "errmsg": "data format error"}));
        };
        if body["open_kfid"] != OPEN_KFID {
            return json(value!({"errcode": 95000, "errmsg": "invalid open_kfid"}));
        }
        match call.path {
            "/cgi-bin/kf/sync_msg" => self.sync_msg(&body),
            "/cgi-bin/kf/send_msg" => self.send_msg(sends, &body),
            _ => (404, "text/plain", bytes::Bytes::from_static(b"not found")),
        }
    }

    fn sync_msg(&self, body: &serde_json::Value) -> Answer {
        let log = self.log.lock().expect("log lock");
        let start = match body["cursor"].as_str().filter(|c| !c.is_empty()) {
            None => 0,
            Some(cursor) => match cursor
                .strip_prefix(CURSOR_PREFIX)
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|&n| n <= log.items.len())
            {
                Some(start) => start,
                None => {
                    return json(value!({"errcode": 40035, "errmsg": "invalid parameter: cursor"}));
                }
            },
        };
        let limit = body["limit"]
            .as_u64()
            .map_or(MAX_PAGE, |l| (l as usize).clamp(1, MAX_PAGE));
        let end = (start + limit).min(log.items.len());
        let page = format!(
            "{{\"errcode\":0,\"errmsg\":\"ok\",\"next_cursor\":\"{CURSOR_PREFIX}{end}\",\"has_more\":{},\"msg_list\":[{}]}}",
            u8::from(end < log.items.len()),
            log.items[start..end].join(",")
        );
        (200, "application/json", bytes::Bytes::from(page))
    }

    fn send_msg(&self, sends: &Sends, body: &serde_json::Value) -> Answer {
        let Some(touser) = body["touser"].as_str() else {
            return json(value!({"errcode": 40003, "errmsg": "invalid external_userid"}));
        };
        let msgid = body["msgid"].as_str().unwrap_or_default().to_string();
        if !msgid.is_empty()
            && !self
                .log
                .lock()
                .expect("log lock")
                .msgids
                .insert(msgid.clone())
        {
            sends.record_repeat_without_effect();
            return json(value!({"errcode": 0, "errmsg": "ok", "msgid": msgid}));
        }
        sends.record(index_of(touser));
        json(value!({"errcode": 0, "errmsg": "ok", "msgid": msgid}))
    }
}
