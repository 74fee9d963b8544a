//! A `tongdao:channel@0.2.0` test plugin, written against the contract's
//! own bindings: "example-platform v2" signs pushes with HMAC-SHA256 and
//! takes calls signed with MD5, both with secret credentials this plugin
//! never reads. It names them and the host signs (the `secrets`
//! interface). The protocol is in this crate's README.

wit_bindgen::generate!({
    path: "../../../wit/0.2.0",
    world: "plugin",
});

use exports::tongdao::channel::channel::Guest;
use tongdao::channel::secrets::{self, DigestAlgorithm, MacAlgorithm, Piece};
use tongdao::channel::types::*;

/// The plugin.
pub struct Signer;

/// The platform's API host (a shop's `api_base` may point it elsewhere).
const API_HOST: &str = "api.example.com";
/// How far a push's timestamp may be from the host's clock.
const TOLERANCE_SECS: i64 = 300;

/// A pushed message, as the platform sends it.
#[derive(serde::Deserialize)]
struct Pushed {
    id: String,
    from: String,
    text: String,
    time_ms: i64,
}

fn credential<'a>(ctx: &'a ShopContext, name: &str) -> Result<&'a str, PluginError> {
    ctx.credentials
        .iter()
        .find(|pair| pair.name == name && !pair.value.is_empty())
        .map(|pair| pair.value.as_str())
        .ok_or_else(|| {
            PluginError::Misconfigured(format!("shop `{}` has no credential `{name}`", ctx.shop_id))
        })
}

fn header<'a>(headers: &'a [Pair], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|pair| pair.name.eq_ignore_ascii_case(name))
        .map(|pair| pair.value.as_str())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn signing_failed(err: secrets::SecretError) -> PluginError {
    match err {
        secrets::SecretError::Unknown(name) => {
            PluginError::Misconfigured(format!("the host has no secret `{name}` for this shop"))
        }
        secrets::SecretError::TooLarge(limit) => {
            PluginError::Unsupported(format!("the host signs at most {limit} bytes"))
        }
        secrets::SecretError::Refused(reason) => PluginError::Unsupported(reason),
    }
}

fn pair(name: &str, value: &str) -> Pair {
    Pair {
        name: name.into(),
        value: value.into(),
    }
}

/// The names of the credentials this call was given values of, for
/// `x-credentials-seen`.
fn seen(ctx: &ShopContext) -> String {
    let names: Vec<&str> = ctx.credentials.iter().map(|p| p.name.as_str()).collect();
    names.join(",")
}

impl Guest for Signer {
    fn describe() -> Manifest {
        let credential = |name: &str, description: &str, secret: bool| CredentialSpec {
            name: name.into(),
            description: description.into(),
            required: true,
            secret,
        };
        Manifest {
            name: "signer".into(),
            version: "0.2.0".into(),
            platform: "example-platform-v2".into(),
            ingestion: vec![IngestionShape::Push],
            egress_hosts: vec![API_HOST.into()],
            content_kinds: vec![ContentKind::Text],
            actions: vec![ActionName::SendMessage],
            max_text_bytes: 2000,
            reply_window: None,
            credentials: vec![
                credential("app_id", "the app's id, sent with every call", false),
                credential(
                    "signing_key",
                    "the key the platform signs pushes with (HMAC-SHA256)",
                    true,
                ),
                credential("api_secret", "the secret calls are signed with (MD5)", true),
            ],
            idempotent_delivery: false,
            poll_interval_ms: None,
        }
    }

    fn handle_push(ctx: ShopContext, request: HttpRequest) -> Result<PushResult, PluginError> {
        let app_id = credential(&ctx, "app_id")?;
        if header(&request.headers, "x-app-id") != Some(app_id) {
            return Err(PluginError::Unauthenticated(
                "x-app-id is not this shop's".into(),
            ));
        }
        let timestamp = header(&request.headers, "x-timestamp")
            .and_then(|t| t.parse::<i64>().ok())
            .ok_or_else(|| PluginError::Unauthenticated("no x-timestamp".into()))?;
        if (timestamp - ctx.now_ms.div_euclid(1000)).abs() > TOLERANCE_SECS {
            return Err(PluginError::Stale(format!(
                "x-timestamp {timestamp} is too far from now"
            )));
        }
        let mut signed = format!("{timestamp}\n").into_bytes();
        signed.extend_from_slice(&request.body);
        let expected = secrets::mac(MacAlgorithm::HmacSha256, "signing_key", &signed)
            .map_err(signing_failed)?;
        let presented = header(&request.headers, "x-signature").unwrap_or_default();
        if !constant_time_eq(presented.as_bytes(), hex(&expected).as_bytes()) {
            return Err(PluginError::Unauthenticated(
                "x-signature does not match".into(),
            ));
        }
        let pushed: Pushed = serde_json::from_slice(&request.body)
            .map_err(|err| PluginError::Malformed(format!("not a message: {err}")))?;
        let event = Event {
            platform_id: pushed.id,
            conversation_id: pushed.from.clone(),
            platform_time_ms: pushed.time_ms,
            route: Vec::new(),
            body: EventBody::Message(Message {
                author: Identity {
                    platform_user_id: pushed.from,
                    display_name: None,
                    hints: Vec::new(),
                },
                role: AuthorRole::Customer,
                direction: Direction::Inbound,
                content: Content::Text(pushed.text),
            }),
        };
        Ok(PushResult {
            response: HttpResponse {
                status: 200,
                headers: vec![pair("content-type", "text/plain")],
                body: b"ok".to_vec(),
            },
            events: vec![event],
            state: Vec::new(),
            poll_hints: Vec::new(),
        })
    }

    fn open_stream(_ctx: ShopContext) -> Result<StreamConnect, PluginError> {
        Err(PluginError::Unsupported("streams".into()))
    }

    fn handle_frame(_ctx: ShopContext, _frame: Frame) -> Result<FrameResult, PluginError> {
        Err(PluginError::Unsupported("streams".into()))
    }

    fn stream_heartbeat(_ctx: ShopContext) -> Result<Vec<Frame>, PluginError> {
        Err(PluginError::Unsupported("streams".into()))
    }

    fn render_poll(_ctx: ShopContext, _poll: PollRequest) -> Result<OutboundRequest, PluginError> {
        Err(PluginError::Unsupported("polling".into()))
    }

    fn parse_poll(
        _ctx: ShopContext,
        _poll: PollRequest,
        _step: String,
        _response: HttpResponse,
    ) -> Result<PollResult, PluginError> {
        Err(PluginError::Unsupported("polling".into()))
    }

    fn render_action(ctx: ShopContext, action: Action) -> Result<OutboundRequest, PluginError> {
        let text = match &action.kind {
            ActionKind::SendMessage(Content::Text(text)) => text.clone(),
            _ => return Err(PluginError::Unsupported("only text messages".into())),
        };
        let app_id = credential(&ctx, "app_id")?;
        let timestamp = ctx.now_ms.div_euclid(1000).to_string();
        let body = serde_json::json!({
            "to": action.conversation_id,
            "text": text,
            "client_id": action.idempotency_key,
        })
        .to_string()
        .into_bytes();
        let mut signed = format!("{app_id}{timestamp}").into_bytes();
        signed.extend_from_slice(&body);
        let signature = secrets::digest(
            DigestAlgorithm::Md5,
            &[
                Piece::Secret("api_secret".into()),
                Piece::Bytes(signed),
                Piece::Secret("api_secret".into()),
            ],
        )
        .map_err(signing_failed)?;
        Ok(OutboundRequest {
            step: "send".into(),
            request: HttpRequest {
                method: "POST".into(),
                url: format!("https://{API_HOST}/v2/messages"),
                headers: vec![
                    pair("content-type", "application/json"),
                    pair("x-app-id", app_id),
                    pair("x-timestamp", &timestamp),
                    pair("x-signature", &hex(&signature).to_uppercase()),
                    pair("x-credentials-seen", &seen(&ctx)),
                    pair("x-secrets-named", &ctx.secrets.join(",")),
                ],
                body,
            },
        })
    }

    fn interpret_response(
        _ctx: ShopContext,
        _action: Action,
        _step: String,
        response: HttpResponse,
    ) -> Result<Interpretation, PluginError> {
        let reason = || String::from_utf8_lossy(&response.body).into_owned();
        let outcome = match response.status {
            200..=299 => DeliveryOutcome::Delivered(DeliveryReceipt {
                platform_id: serde_json::from_slice::<serde_json::Value>(&response.body)
                    .ok()
                    .and_then(|v| v.get("id")?.as_str().map(str::to_owned)),
                result_json: None,
            }),
            429 => DeliveryOutcome::QuotaExceeded(RetryHint {
                after_ms: None,
                reason: reason(),
            }),
            500..=599 => DeliveryOutcome::Retry(RetryHint {
                after_ms: None,
                reason: reason(),
            }),
            status => DeliveryOutcome::Permanent(Failure {
                code: status.to_string(),
                reason: reason(),
            }),
        };
        Ok(Interpretation {
            outcome,
            state: Vec::new(),
        })
    }
}

// Exported only in the component: a native build (the workspace's tests)
// has no host to import from.
#[cfg(target_arch = "wasm32")]
export!(Signer);
