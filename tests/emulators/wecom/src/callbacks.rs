//! The platform side of 微信客服 callbacks, for end-to-end tests:
//! [`WecomCallbacks`] builds the requests WeCom sends to the app's callback
//! URL — the URL-verification GET with an encrypted `echostr`, and the
//! encrypted `kf_msg_or_event` POST that tells a kf account has something to
//! pull — signs them with `msg_signature`, can forge, age or tamper with
//! them, and sends them like WeCom: a 5 s timeout, and redelivery (up to 3
//! more attempts) when the answer is not HTTP 200.
//!
//! The crypto is the platform-side implementation of the WeChat emulator
//! (`tongdao_emulator_wechat::signing`), independent of the plugins'
//! `wechat-crypto` crate.

use rand::Rng;
use std::time::Duration;
use tongdao_emulator_wechat::signing::{self, WebhookRequest, WebhookResponse, cdata};

/// How long WeCom waits for a callback's answer.
pub const CALLBACK_TIMEOUT: Duration = Duration::from_secs(5);
/// How many times WeCom delivers a callback again after a failed attempt.
pub const REDELIVERIES: usize = 3;

/// Fixed values for a callback instead of the defaults (now, a random
/// nonce, random bytes at the start of the envelope).
#[derive(Debug, Clone, Default)]
pub struct CallbackOptions {
    /// The `timestamp` (Unix seconds); default now.
    pub timestamp: Option<i64>,
    /// The `nonce`; default a random 9–10 digit number.
    pub nonce: Option<String>,
    /// The 16 bytes that start the sealed envelope; default random.
    pub random: Option<[u8; 16]>,
}

impl CallbackOptions {
    /// Sign at `timestamp`.
    pub fn at(timestamp: i64) -> CallbackOptions {
        CallbackOptions {
            timestamp: Some(timestamp),
            ..CallbackOptions::default()
        }
    }

    /// Sign `secs` seconds in the past (a replayed or delayed callback).
    pub fn stale_by(secs: i64) -> CallbackOptions {
        CallbackOptions::at(signing::now_secs() - secs)
    }

    /// Fully fixed values, for reproducible vectors.
    pub fn fixed(timestamp: i64, nonce: &str, random: [u8; 16]) -> CallbackOptions {
        CallbackOptions {
            timestamp: Some(timestamp),
            nonce: Some(nonce.to_string()),
            random: Some(random),
        }
    }
}

/// Every attempt WeCom made to deliver one callback.
#[derive(Debug)]
pub struct Delivery {
    /// The attempts in order: the answer, or why there was none.
    pub attempts: Vec<anyhow::Result<WebhookResponse>>,
}

impl Delivery {
    /// Whether an attempt was answered with HTTP 200.
    pub fn delivered(&self) -> bool {
        self.attempts
            .iter()
            .any(|attempt| matches!(attempt, Ok(response) if response.status == 200))
    }

    /// The last answer received, if any.
    pub fn last_response(&self) -> Option<&WebhookResponse> {
        self.attempts.iter().rev().find_map(|a| a.as_ref().ok())
    }
}

/// WeCom's side of an app's callback configuration: the Token, the
/// EncodingAESKey and the corp id sealed into every envelope.
#[derive(Debug, Clone)]
pub struct WecomCallbacks {
    /// The callback configuration's Token.
    pub token: String,
    /// The corp id (the envelopes' receive id and the body's `ToUserName`).
    pub corp_id: String,
    /// The 43-character EncodingAESKey.
    pub encoding_aes_key: String,
    client: reqwest::Client,
}

impl WecomCallbacks {
    /// Callbacks for the app; the HTTP client gives up after
    /// [`CALLBACK_TIMEOUT`] like WeCom.
    pub fn new(token: &str, corp_id: &str, encoding_aes_key: &str) -> WecomCallbacks {
        let client = reqwest::Client::builder()
            .timeout(CALLBACK_TIMEOUT)
            .build()
            .unwrap_or_default();
        WecomCallbacks {
            token: token.to_string(),
            corp_id: corp_id.to_string(),
            encoding_aes_key: encoding_aes_key.to_string(),
            client,
        }
    }

    /// The decrypted `kf_msg_or_event` event for `open_kfid` carrying the
    /// sync token `sync_token`.
    pub fn kf_event_xml(&self, open_kfid: &str, sync_token: &str, create_time: i64) -> String {
        format!(
            "<xml><ToUserName>{}</ToUserName><CreateTime>{create_time}</CreateTime><MsgType>{}</MsgType><Event>{}</Event><Token>{}</Token><OpenKfId>{}</OpenKfId></xml>",
            cdata(&self.corp_id),
            cdata("event"),
            cdata("kf_msg_or_event"),
            cdata(sync_token),
            cdata(open_kfid)
        )
    }

    /// The URL-verification GET sent when the callback URL is saved: the
    /// server must answer `plaintext` (sealed here into `echostr`) exactly.
    pub fn verification(
        &self,
        path: &str,
        plaintext: &str,
        options: &CallbackOptions,
    ) -> anyhow::Result<WebhookRequest> {
        let (timestamp, nonce, random) = stamp(options);
        let echostr = signing::encrypt(&self.encoding_aes_key, &self.corp_id, plaintext, random)?;
        Ok(WebhookRequest {
            method: "GET",
            path: path.to_string(),
            query: vec![
                (
                    "msg_signature".into(),
                    signing::msg_signature(&self.token, &timestamp, &nonce, &echostr),
                ),
                ("timestamp".into(), timestamp),
                ("nonce".into(), nonce),
                ("echostr".into(), echostr),
            ],
            body: Vec::new(),
        })
    }

    /// The callback telling `open_kfid` has messages or events to pull, with
    /// the sync token the API will accept for 10 minutes.
    pub fn kf_msg_or_event(
        &self,
        path: &str,
        open_kfid: &str,
        sync_token: &str,
        options: &CallbackOptions,
    ) -> anyhow::Result<WebhookRequest> {
        let create_time = options.timestamp.unwrap_or_else(signing::now_secs);
        let xml = self.kf_event_xml(open_kfid, sync_token, create_time);
        self.callback(path, &xml, options)
    }

    /// A callback POST carrying `xml`, sealed and signed:
    /// `?msg_signature&timestamp&nonce`, body
    /// `<xml><ToUserName/><Encrypt/><AgentID/></xml>`.
    pub fn callback(
        &self,
        path: &str,
        xml: &str,
        options: &CallbackOptions,
    ) -> anyhow::Result<WebhookRequest> {
        let (timestamp, nonce, random) = stamp(options);
        let sealed = signing::encrypt(&self.encoding_aes_key, &self.corp_id, xml, random)?;
        let body = format!(
            "<xml><ToUserName>{}</ToUserName><Encrypt>{}</Encrypt><AgentID>{}</AgentID></xml>",
            cdata(&self.corp_id),
            cdata(&sealed),
            cdata("")
        );
        Ok(WebhookRequest {
            method: "POST",
            path: path.to_string(),
            query: vec![
                (
                    "msg_signature".into(),
                    signing::msg_signature(&self.token, &timestamp, &nonce, &sealed),
                ),
                ("timestamp".into(), timestamp),
                ("nonce".into(), nonce),
            ],
            body: body.into_bytes(),
        })
    }

    /// Open a callback this type (or anyone with the same credentials)
    /// built: check `msg_signature`, decrypt, check the receive id, and
    /// return the inner XML (GET: the echostr plaintext).
    pub fn open(&self, request: &WebhookRequest) -> anyhow::Result<String> {
        let param = |name: &str| {
            request
                .query_param(name)
                .ok_or_else(|| anyhow::anyhow!("the callback has no `{name}`"))
        };
        let sealed = match request.method {
            "GET" => param("echostr")?.to_string(),
            _ => {
                let body = String::from_utf8_lossy(&request.body);
                signing::xml_field(&body, "Encrypt")
                    .ok_or_else(|| anyhow::anyhow!("the callback body has no <Encrypt>"))?
            }
        };
        let expected =
            signing::msg_signature(&self.token, param("timestamp")?, param("nonce")?, &sealed);
        anyhow::ensure!(
            param("msg_signature")? == expected,
            "msg_signature is {}, expected {expected}",
            param("msg_signature")?
        );
        let opened = signing::decrypt(&self.encoding_aes_key, &sealed)?;
        anyhow::ensure!(
            opened.receive_id == self.corp_id,
            "sealed for {:?}, not {:?}",
            opened.receive_id,
            self.corp_id
        );
        Ok(opened.message)
    }

    /// Send `request` once to `base_url`, as WeCom does.
    pub async fn send(
        &self,
        base_url: &str,
        request: &WebhookRequest,
    ) -> anyhow::Result<WebhookResponse> {
        request.send(&self.client, base_url).await
    }

    /// Deliver `request` like WeCom: again after a failed attempt (no
    /// answer within 5 s, or a status other than 200), up to
    /// [`REDELIVERIES`] more times, `pause` apart.
    pub async fn deliver(
        &self,
        base_url: &str,
        request: &WebhookRequest,
        pause: Duration,
    ) -> Delivery {
        let mut attempts = Vec::new();
        for attempt in 0..=REDELIVERIES {
            if attempt > 0 {
                tokio::time::sleep(pause).await;
            }
            let answer = self.send(base_url, request).await;
            let done = matches!(&answer, Ok(response) if response.status == 200);
            attempts.push(answer);
            if done {
                break;
            }
        }
        Delivery { attempts }
    }
}

fn stamp(options: &CallbackOptions) -> (String, String, [u8; 16]) {
    let timestamp = options
        .timestamp
        .unwrap_or_else(signing::now_secs)
        .to_string();
    let nonce = options.nonce.clone().unwrap_or_else(|| {
        rand::rng()
            .random_range(100_000_000u64..10_000_000_000)
            .to_string()
    });
    let random = options.random.unwrap_or_else(|| rand::rng().random());
    (timestamp, nonce, random)
}

#[cfg(test)]
mod tests;
