//! The platform side of 抖店 message pushes: [`DoudianPusher`] builds the
//! JSON array the platform POSTs to an app's push URL (`[{"tag", "msg_id",
//! "data"}]`, `data` a JSON string), signs it (`app-id`, `event-sign`, and
//! `sign-method` for HMAC-SHA256), can forge or tamper with it, and sends it
//! like the platform (5 s timeout).

use crate::signing::{SignMethod, event_sign};
use anyhow::Context;
use serde_json::{Value, json};
use std::time::Duration;

/// How long the platform waits for the answer to a push.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The answer the platform expects.
pub const SUCCESS_BODY: &str = r#"{"code":0,"msg":"success"}"#;

/// One message of a push.
#[derive(Debug, Clone, PartialEq)]
pub struct PushMessage {
    /// The message type, e.g. `101` (order paid).
    pub tag: String,
    /// The message id (the receiver's dedupe key).
    pub msg_id: String,
    /// The business JSON (sent as a JSON string).
    pub data: Value,
}

impl PushMessage {
    /// The push-URL verification message (tag `0`).
    pub fn verification() -> PushMessage {
        PushMessage {
            tag: "0".into(),
            msg_id: "0".into(),
            data: json!({}),
        }
    }

    /// `doudian_trade_TradePaid` (tag 101): shop order `p_id` paid
    /// `pay_amount_fen` at `pay_time` (Unix seconds).
    pub fn order_paid(
        msg_id: &str,
        p_id: u64,
        shop_id: u64,
        pay_amount_fen: i64,
        pay_time: i64,
    ) -> PushMessage {
        PushMessage {
            tag: "101".into(),
            msg_id: msg_id.into(),
            data: json!({
                "p_id": p_id, "s_ids": [p_id + 1], "shop_id": shop_id,
                "order_status": 2, "order_type": 0, "pay_type": 1, "biz": 2,
                "pay_time": pay_time, "pay_amount": pay_amount_fen,
            }),
        }
    }

    /// `doudian_refund_RefundCreated` (tag 200): the buyer asks for
    /// `refund_amount_fen` back on order `p_id` at `apply_time`.
    pub fn refund_created(
        msg_id: &str,
        aftersale_id: u64,
        p_id: u64,
        shop_id: u64,
        refund_amount_fen: i64,
        apply_time: i64,
    ) -> PushMessage {
        PushMessage {
            tag: "200".into(),
            msg_id: msg_id.into(),
            data: json!({
                "aftersale_id": aftersale_id, "aftersale_status": 6, "aftersale_type": 2,
                "p_id": p_id, "s_id": p_id + 1, "shop_id": shop_id,
                "refund_amount": refund_amount_fen, "refund_post_amount": 0,
                "reason_code": 1, "apply_time": apply_time,
            }),
        }
    }
}

/// A push request, ready to send; its parts can be edited to build broken
/// variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRequest {
    /// The path on the receiver, e.g. `/hooks/douyin/demo-doudian`.
    pub path: String,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}

/// What the receiver answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushResponse {
    /// The status code.
    pub status: u16,
    /// The body as text (lossy UTF-8).
    pub body: String,
}

impl PushRequest {
    /// The header `name`, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The request with header `name` set to `value`.
    pub fn with_header(mut self, name: &str, value: &str) -> PushRequest {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// The request with `event-sign` replaced by a well-formed but wrong
    /// value (the last hex digit changed).
    pub fn forged(self) -> PushRequest {
        let sign = self.header("event-sign").unwrap_or_default().to_string();
        let mut forged = sign.clone();
        let last = forged.pop();
        forged.push(if last == Some('0') { '1' } else { '0' });
        self.with_header("event-sign", &forged)
    }

    /// The request with a different body and the signature unchanged.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> PushRequest {
        self.body = body.into();
        self
    }

    /// The request as raw HTTP/1.1 text (for recorded examples).
    pub fn to_http(&self, host: &str) -> Vec<u8> {
        let mut head = format!("POST {} HTTP/1.1\r\nhost: {host}\r\n", self.path);
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("content-length: {}\r\n\r\n", self.body.len()));
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// POST it to `base_url` (`http://127.0.0.1:PORT`) like the platform.
    pub async fn send(
        &self,
        client: &reqwest::Client,
        base_url: &str,
    ) -> anyhow::Result<PushResponse> {
        let url = format!("{}{}", base_url.trim_end_matches('/'), self.path);
        let mut request = client
            .post(&url)
            .timeout(PUSH_TIMEOUT)
            .body(self.body.clone());
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .with_context(|| format!("reading the answer to POST {url}"))?;
        Ok(PushResponse {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

/// The platform's side of an app's push subscription.
#[derive(Debug, Clone)]
pub struct DoudianPusher {
    /// The App Key (sent as `app-id`).
    pub app_key: String,
    /// The App Secret (signs pushes).
    pub app_secret: String,
    /// The signing method.
    pub method: SignMethod,
}

impl DoudianPusher {
    /// A pusher for the app, signing with MD5 (the original scheme).
    pub fn new(app_key: &str, app_secret: &str) -> DoudianPusher {
        DoudianPusher {
            app_key: app_key.into(),
            app_secret: app_secret.into(),
            method: SignMethod::Md5,
        }
    }

    /// The same pusher signing with `method`.
    pub fn signing_with(mut self, method: SignMethod) -> DoudianPusher {
        self.method = method;
        self
    }

    /// The body of a push of `messages`: `{"tag","msg_id","data"}` in that
    /// order, `data` as a JSON string.
    pub fn body(messages: &[PushMessage]) -> Vec<u8> {
        let string = |s: &str| Value::String(s.to_string()).to_string();
        let elements: Vec<String> = messages
            .iter()
            .map(|m| {
                format!(
                    r#"{{"tag":{},"msg_id":{},"data":{}}}"#,
                    string(&m.tag),
                    string(&m.msg_id),
                    string(&m.data.to_string())
                )
            })
            .collect();
        format!("[{}]", elements.join(",")).into_bytes()
    }

    /// A signed push of `messages` to `path`.
    pub fn push(&self, path: &str, messages: &[PushMessage]) -> PushRequest {
        self.push_body(path, Self::body(messages))
    }

    /// A signed push of exactly `body` to `path`.
    pub fn push_body(&self, path: &str, body: Vec<u8>) -> PushRequest {
        let sign = event_sign(self.method, &self.app_key, &self.app_secret, &body);
        let mut headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("app-id".to_string(), self.app_key.clone()),
            ("event-sign".to_string(), sign),
        ];
        if self.method == SignMethod::HmacSha256 {
            headers.push(("sign-method".to_string(), self.method.name().to_string()));
        }
        PushRequest {
            path: path.to_string(),
            headers,
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tongdao_loopback::{Incoming, LoopbackServer, Reply};

    const APP_KEY: &str = "7000000000000000001";
    const SECRET: &str = "test_secret";

    #[test]
    fn the_documented_push_signs_to_the_vectors() {
        let body = br#"[{"tag":"100","msg_id":"7000000000000000000:100:1700000000","data":"{\"p_id\":6900000000000000000,\"shop_id\":12345,\"order_status\":1}"}]"#.to_vec();
        let md5 = DoudianPusher::new(APP_KEY, SECRET).push_body("/h", body.clone());
        assert_eq!(
            md5.header("event-sign"),
            Some("b16b00cbf39698f45614f23b7cbd442f")
        );
        assert_eq!(md5.header("sign-method"), None);
        let hmac = DoudianPusher::new(APP_KEY, SECRET)
            .signing_with(SignMethod::HmacSha256)
            .push_body("/h", body);
        assert_eq!(
            hmac.header("event-sign"),
            Some("4f3da5a04b4e4bae965b092c1753e1243eb42f4f91e89fa1f3fb13f10dd44ac9")
        );
        assert_eq!(hmac.header("sign-method"), Some("hmac-sha256"));
        assert_eq!(hmac.header("app-id"), Some(APP_KEY));
    }

    #[test]
    fn bodies_carry_data_as_json_strings() {
        let body = DoudianPusher::body(&[PushMessage::order_paid(
            "m1",
            6900000000000000000,
            12345,
            9900,
            1700000000,
        )]);
        let parsed: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed[0]["tag"], "101");
        assert_eq!(parsed[0]["msg_id"], "m1");
        let data: Value = serde_json::from_str(parsed[0]["data"].as_str().unwrap()).unwrap();
        assert_eq!(data["p_id"].as_u64(), Some(6900000000000000000));
        assert_eq!(data["pay_amount"], 9900);
    }

    #[test]
    fn forging_changes_only_the_signature() {
        let push = DoudianPusher::new(APP_KEY, SECRET).push("/h", &[PushMessage::verification()]);
        let forged = push.clone().forged();
        assert_ne!(forged.header("event-sign"), push.header("event-sign"));
        assert_eq!(forged.header("event-sign").unwrap().len(), 32);
        assert_eq!(forged.body, push.body);
        let raw = String::from_utf8(push.to_http("hooks.example")).unwrap();
        assert!(raw.starts_with("POST /h HTTP/1.1\r\nhost: hooks.example\r\n"));
        assert!(
            raw.ends_with(r#"[{"tag":"0","msg_id":"0","data":"{}"}]"#),
            "{raw}"
        );
    }

    #[tokio::test]
    async fn pushes_arrive_signed_over_http() {
        let seen: Arc<Mutex<Vec<Incoming>>> = Arc::default();
        let log = Arc::clone(&seen);
        let receiver = LoopbackServer::start_sync(move |request| {
            log.lock().unwrap().push(request);
            Reply::json(&serde_json::from_str(SUCCESS_BODY).unwrap())
        })
        .await
        .unwrap();
        let pusher = DoudianPusher::new(APP_KEY, SECRET).signing_with(SignMethod::HmacSha256);
        let push = pusher.push(
            "/hooks/douyin/demo-doudian",
            &[PushMessage::refund_created(
                "m2",
                7100000000000000001,
                6900000000000000000,
                12345,
                9900,
                1700000100,
            )],
        );
        let answer = push
            .send(&reqwest::Client::new(), &receiver.base_url())
            .await
            .unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, SUCCESS_BODY);
        let seen = seen.lock().unwrap();
        let request = &seen[0];
        assert_eq!(request.path, "/hooks/douyin/demo-doudian");
        assert_eq!(request.header("app-id"), Some(APP_KEY));
        let expected = event_sign(SignMethod::HmacSha256, APP_KEY, SECRET, &request.body);
        assert_eq!(request.header("event-sign"), Some(expected.as_str()));
        assert_eq!(request.header("sign-method"), Some("hmac-sha256"));
    }
}
