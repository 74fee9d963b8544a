//! Loopback emulator of "example-platform v2", the platform of the signer
//! test plugin (`tests/plugins/signer`, contract 0.2.0): it signs pushes
//! with HMAC-SHA256 over `timestamp + "\n" + body`, and its message API
//! takes only calls signed `MD5(api_secret + app_id + timestamp + body +
//! api_secret)`, answering 401 to anything else. The signatures are
//! computed here, independently of the host that signs for the plugin.

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use std::sync::{Arc, Mutex};
use tongdao_loopback::{Incoming, LoopbackServer, Reply};

/// The platform's keys for one app.
#[derive(Debug, Clone)]
pub struct Keys {
    /// The app's id.
    pub app_id: String,
    /// The key pushes are signed with.
    pub signing_key: String,
    /// The secret calls are signed with.
    pub api_secret: String,
}

impl Keys {
    /// The headers and body of a push of `text` from `from`, signed at
    /// `now_secs`.
    pub fn push(
        &self,
        id: &str,
        from: &str,
        text: &str,
        now_secs: i64,
    ) -> (Vec<(String, String)>, Vec<u8>) {
        let body = serde_json::json!({
            "id": id, "from": from, "text": text, "time_ms": now_secs * 1000,
        })
        .to_string()
        .into_bytes();
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(self.signing_key.as_bytes())
            .expect("HMAC takes any key");
        mac.update(format!("{now_secs}\n").as_bytes());
        mac.update(&body);
        let headers = vec![
            ("content-type".into(), "application/json".into()),
            ("x-app-id".into(), self.app_id.clone()),
            ("x-timestamp".into(), now_secs.to_string()),
            (
                "x-signature".into(),
                hex::encode(mac.finalize().into_bytes()),
            ),
        ];
        (headers, body)
    }

    /// What a call's `x-signature` must be.
    pub fn call_signature(&self, timestamp: &str, body: &[u8]) -> String {
        let mut md5 = Md5::new();
        md5.update(self.api_secret.as_bytes());
        md5.update(self.app_id.as_bytes());
        md5.update(timestamp.as_bytes());
        md5.update(body);
        md5.update(self.api_secret.as_bytes());
        hex::encode_upper(md5.finalize())
    }
}

/// A message the API accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    /// The recipient.
    pub to: String,
    /// The text.
    pub text: String,
    /// The caller's id for the message.
    pub client_id: String,
    /// The plugin's `x-credentials-seen` header: the credential names it
    /// was given.
    pub credentials_seen: String,
    /// The plugin's `x-secrets-named` header: the secrets the host named
    /// to it.
    pub secrets_named: String,
}

#[derive(Default)]
struct Log {
    delivered: Vec<Delivered>,
    refused: Vec<String>,
}

/// The running message API.
pub struct SignedApi {
    server: LoopbackServer,
    log: Arc<Mutex<Log>>,
}

impl SignedApi {
    /// Serves the message API for `keys` on a loopback port.
    pub async fn start(keys: Keys) -> anyhow::Result<SignedApi> {
        let log = Arc::new(Mutex::new(Log::default()));
        let seen = Arc::clone(&log);
        let server = LoopbackServer::start_sync(move |request| {
            let mut log = seen.lock().unwrap_or_else(|p| p.into_inner());
            match accept(&keys, &request) {
                Ok(delivered) => {
                    let id = format!("msg-{}", log.delivered.len() + 1);
                    log.delivered.push(delivered);
                    Reply::json(&serde_json::json!({ "id": id }))
                }
                Err((status, reason)) => {
                    log.refused.push(reason.clone());
                    Reply::text(status, &reason)
                }
            }
        })
        .await?;
        Ok(SignedApi { server, log })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Every message accepted, in order.
    pub fn delivered(&self) -> Vec<Delivered> {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .delivered
            .clone()
    }

    /// Why each refused call was refused.
    pub fn refused(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .refused
            .clone()
    }
}

fn accept(keys: &Keys, request: &Incoming) -> Result<Delivered, (u16, String)> {
    if request.method != "POST" || request.path != "/v2/messages" {
        return Err((404, format!("{} {}", request.method, request.path)));
    }
    if request.header("x-app-id") != Some(keys.app_id.as_str()) {
        return Err((401, "unknown x-app-id".into()));
    }
    let timestamp = request.header("x-timestamp").unwrap_or_default();
    let expected = keys.call_signature(timestamp, &request.body);
    if request.header("x-signature") != Some(expected.as_str()) {
        return Err((401, "x-signature does not match".into()));
    }
    let body: serde_json::Value = serde_json::from_slice(&request.body)
        .map_err(|err| (400, format!("body is not JSON: {err}")))?;
    let field = |name: &str| {
        body.get(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| (400, format!("no `{name}`")))
    };
    Ok(Delivered {
        to: field("to")?,
        text: field("text")?,
        client_id: field("client_id")?,
        credentials_seen: request
            .header("x-credentials-seen")
            .unwrap_or_default()
            .to_owned(),
        secrets_named: request
            .header("x-secrets-named")
            .unwrap_or_default()
            .to_owned(),
    })
}
