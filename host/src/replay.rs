//! `tongdao replay`: run one recording through a shop's plugin offline and
//! describe, as one JSON document, what the plugin made of it — or the
//! error. A recording is a webhook (a raw HTTP/1.1 request, through
//! `handle-push`), a frame received on a stream (raw bytes, through
//! `handle-frame`) or a poll's answer (a raw HTTP/1.1 response, through
//! `parse-poll`).

use crate::config::Config;
use crate::contract::v0_1::{self, wit::Pair};
use crate::model::{
    Frame, FrameResult, HttpRequest, HttpResponse, OutboundRequest, PollOutcome, PollRequest,
    PollResult, PushResult, ShopContext, StateEntry,
};
use crate::runtime::{CallError, Runtime, RuntimeLimits, refusal_kind, refusal_reason};
use anyhow::{Context, bail};
use serde_json::{Value, json};

/// The most headers a recorded request may carry.
const MAX_HEADERS: usize = 128;

/// Parse a raw HTTP/1.1 request: request line, headers, blank line, body.
/// A `Content-Length` header, if present, must match the body.
pub fn parse_raw_request(raw: &[u8]) -> anyhow::Result<HttpRequest> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let body_start = match request.parse(raw).context("not an HTTP/1.1 request")? {
        httparse::Status::Complete(offset) => offset,
        httparse::Status::Partial => {
            bail!("the request ends before its headers do (missing blank line?)")
        }
    };
    let method = request.method.context("no method")?.to_string();
    let url = request.path.context("no request target")?.to_string();
    let headers: Vec<Pair> = request
        .headers
        .iter()
        .map(|h| Pair {
            name: h.name.to_ascii_lowercase(),
            value: String::from_utf8_lossy(h.value).into_owned(),
        })
        .collect();
    let body = body_with_length(raw[body_start..].to_vec(), &headers)?;
    Ok(HttpRequest {
        method,
        url,
        headers,
        body,
    })
}

/// What a recording is replayed as, and the plugin state and clock it is
/// replayed with.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// The plugin's clock, Unix milliseconds.
    pub now_ms: i64,
    /// Plugin-held state to start from (a stream token, an access token).
    pub state: Vec<StateEntry>,
    /// The recording is one binary WebSocket frame (`handle-frame`).
    pub frame: bool,
    /// For a recorded poll response: the feed polled.
    pub feed: Option<String>,
    /// For a recorded poll response: the step label of the request.
    pub step: Option<String>,
    /// For a recorded poll response: the cursor the poll was made with.
    pub cursor: Option<String>,
}

/// What a recording holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Recording {
    /// A webhook request: replayed through `handle-push`.
    Request(HttpRequest),
    /// A frame received on a stream: replayed through `handle-frame`.
    Frame(Frame),
    /// A response to a poll: replayed through `parse-poll`.
    PollResponse {
        /// The poll it answered.
        poll: PollRequest,
        /// The step label of the request.
        step: String,
        /// The response.
        response: HttpResponse,
    },
}

impl Recording {
    /// Read a recording: a frame when `options.frame`, a poll response when
    /// the bytes are an HTTP response (which needs `feed` and `step`), else
    /// a webhook request.
    pub fn parse(raw: &[u8], options: &ReplayOptions) -> anyhow::Result<Recording> {
        if options.frame {
            return Ok(Recording::Frame(Frame::Binary(raw.to_vec())));
        }
        if raw.starts_with(b"HTTP/") {
            let (Some(feed), Some(step)) = (&options.feed, &options.step) else {
                bail!(
                    "this is a recorded response: say which poll it answered with --feed and --step"
                );
            };
            return Ok(Recording::PollResponse {
                poll: PollRequest {
                    feed: feed.clone(),
                    cursor: options.cursor.clone(),
                    hint_token: None,
                },
                step: step.clone(),
                response: parse_raw_response(raw)?,
            });
        }
        Ok(Recording::Request(parse_raw_request(raw)?))
    }
}

/// Parse a raw HTTP/1.1 response: status line, headers, blank line, body.
pub fn parse_raw_response(raw: &[u8]) -> anyhow::Result<HttpResponse> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let body_start = match response.parse(raw).context("not an HTTP/1.1 response")? {
        httparse::Status::Complete(offset) => offset,
        httparse::Status::Partial => {
            bail!("the response ends before its headers do (missing blank line?)")
        }
    };
    let status = response.code.context("no status code")?;
    let headers: Vec<Pair> = response
        .headers
        .iter()
        .map(|h| Pair {
            name: h.name.to_ascii_lowercase(),
            value: String::from_utf8_lossy(h.value).into_owned(),
        })
        .collect();
    let body = body_with_length(raw[body_start..].to_vec(), &headers)?;
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// A body cut to its `Content-Length`, which must not exceed it.
fn body_with_length(mut body: Vec<u8>, headers: &[Pair]) -> anyhow::Result<Vec<u8>> {
    if let Some(length) = headers.iter().find(|h| h.name == "content-length") {
        let length: usize = length
            .value
            .trim()
            .parse()
            .with_context(|| format!("Content-Length `{}` is not a number", length.value))?;
        if body.len() < length {
            bail!(
                "Content-Length says {length} bytes but the body has {}",
                body.len()
            );
        }
        body.truncate(length);
    }
    Ok(body)
}

/// Replay `raw` through shop `shop_id`'s plugin offline.
pub fn replay(
    config: &Config,
    shop_id: &str,
    raw: &[u8],
    options: &ReplayOptions,
) -> anyhow::Result<Value> {
    let shop = config.shops.get(shop_id).with_context(|| {
        format!(
            "{}: no shop `{shop_id}` (defined: {:?})",
            config.path.display(),
            config.shops.keys().collect::<Vec<_>>()
        )
    })?;
    let plugin_config = &config.plugins[&shop.plugin];
    let recording = Recording::parse(raw, options)?;
    let executor = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("starting the async runtime")?;
    let runtime = Runtime::new(RuntimeLimits::from(&config.limits), None)?;
    let plugin = runtime.load(&plugin_config.component)?;
    let ctx = ShopContext {
        shop_id: shop.id.clone(),
        credentials: pairs(&shop.credentials),
        settings: pairs(&shop.settings),
        state: v0_1::entries(options.state.clone()),
        now_ms: options.now_ms,
    };
    let mut document = json!({ "shop": shop.id, "plugin": plugin.name });
    let outcome = executor.block_on(async {
        match recording {
            Recording::Request(request) => runtime
                .handle_push(&plugin, ctx, request)
                .await
                .map(|result| push_json(&result)),
            Recording::Frame(frame) => runtime
                .handle_frame(&plugin, ctx, frame)
                .await
                .map(|result| frame_json(&result)),
            Recording::PollResponse {
                poll,
                step,
                response,
            } => runtime
                .parse_poll(&plugin, ctx, poll, step, response)
                .await
                .map(|result| poll_json(&result)),
        }
    });
    match outcome {
        Ok(Ok(fields)) => {
            if let (Value::Object(document), Value::Object(fields)) = (&mut document, fields) {
                document.extend(fields);
            }
        }
        Ok(Err(err)) => bail!("describing the result failed: {err}"),
        Err(err) => document["error"] = error_json(&err),
    }
    Ok(document)
}

fn pairs(map: &std::collections::BTreeMap<String, String>) -> Vec<Pair> {
    map.iter()
        .map(|(name, value)| Pair {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

fn push_json(result: &PushResult) -> serde_json::Result<Value> {
    Ok(json!({
        "response": response_json(&result.response),
        "events": serde_json::to_value(&result.events)?,
        "state": serde_json::to_value(&result.state)?,
        "poll_hints": serde_json::to_value(&result.poll_hints)?,
    }))
}

fn frame_json(result: &FrameResult) -> serde_json::Result<Value> {
    Ok(json!({
        "events": serde_json::to_value(&result.events)?,
        "replies": result.replies.iter().map(frame_bytes_json).collect::<Vec<_>>(),
        "acks": result.acks.iter().map(frame_bytes_json).collect::<Vec<_>>(),
        "state": serde_json::to_value(&result.state)?,
        "close": result.close,
    }))
}

fn poll_json(result: &PollResult) -> serde_json::Result<Value> {
    let outcome = match &result.outcome {
        PollOutcome::Page(page) => json!({ "page": {
            "events": serde_json::to_value(&page.events)?,
            "next_cursor": page.next_cursor,
            "has_more": page.has_more,
            "acks": page.acks.iter().map(outbound_json).collect::<Vec<_>>(),
        }}),
        PollOutcome::Step(step) => json!({ "step": serde_json::to_value(step)? }),
    };
    Ok(json!({ "outcome": outcome, "state": serde_json::to_value(&result.state)? }))
}

fn frame_bytes_json(frame: &Frame) -> Value {
    match frame {
        Frame::Text(text) => json!({ "text": text }),
        Frame::Binary(bytes) => json!({ "binary_hex": hex::encode(bytes) }),
    }
}

fn outbound_json(request: &OutboundRequest) -> Value {
    let mut value = json!({
        "step": request.step,
        "method": request.request.method,
        "url": request.request.url,
        "headers": request.request.headers,
    });
    match std::str::from_utf8(&request.request.body) {
        Ok(text) => value["body"] = json!(text),
        Err(_) => value["body_hex"] = json!(hex::encode(&request.request.body)),
    }
    value
}

fn response_json(response: &HttpResponse) -> Value {
    let mut value = json!({ "status": response.status, "headers": response.headers });
    match std::str::from_utf8(&response.body) {
        Ok(text) => value["body"] = json!(text),
        Err(_) => value["body_hex"] = json!(hex::encode(&response.body)),
    }
    value
}

fn error_json(err: &CallError) -> Value {
    let (kind, message) = match err {
        CallError::Refused(refusal) => (refusal_kind(refusal), refusal_reason(refusal).to_string()),
        CallError::Timeout { .. } => ("timeout", err.to_string()),
        CallError::MemoryExceeded { .. } => ("memory-exceeded", err.to_string()),
        CallError::Trapped(_) => ("trapped", err.to_string()),
        CallError::OutputTooLarge { .. } => ("output-too-large", err.to_string()),
        CallError::InvalidOutput(_) => ("invalid-output", err.to_string()),
        CallError::CircuitOpen { .. } => ("circuit-open", err.to_string()),
        CallError::ShuttingDown => ("shutting-down", err.to_string()),
    };
    json!({ "kind": kind, "message": message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_requests_parse_with_their_body() {
        let raw = b"POST /hooks/wechat/demo?signature=abc HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: 5\r\n\r\nhello";
        let request = parse_raw_request(raw).unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(request.url, "/hooks/wechat/demo?signature=abc");
        assert_eq!(request.headers[1].name, "content-type");
        assert_eq!(request.body, b"hello");
    }

    #[test]
    fn recordings_are_told_apart() {
        let options = ReplayOptions::default();
        let request = Recording::parse(b"POST /h HTTP/1.1\r\n\r\nx", &options).unwrap();
        assert!(matches!(request, Recording::Request(r) if r.body == b"x"));

        let response =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        let err = Recording::parse(response, &options).unwrap_err();
        assert!(err.to_string().contains("--feed and --step"), "{err}");
        let poll_options = ReplayOptions {
            feed: Some("chatlog".into()),
            step: Some("pull".into()),
            cursor: Some("c1".into()),
            ..ReplayOptions::default()
        };
        match Recording::parse(response, &poll_options).unwrap() {
            Recording::PollResponse {
                poll,
                step,
                response,
            } => {
                assert_eq!(poll.feed, "chatlog");
                assert_eq!(poll.cursor.as_deref(), Some("c1"));
                assert_eq!(step, "pull");
                assert_eq!(response.status, 200);
                assert_eq!(response.body, b"{}");
                assert_eq!(response.headers[0].name, "content-type");
            }
            other => panic!("{other:?}"),
        }

        let frame_options = ReplayOptions {
            frame: true,
            ..ReplayOptions::default()
        };
        assert_eq!(
            Recording::parse(&[2, 2, 0, 0], &frame_options).unwrap(),
            Recording::Frame(Frame::Binary(vec![2, 2, 0, 0]))
        );
    }

    #[test]
    fn truncated_requests_are_refused_clearly() {
        let err =
            parse_raw_request(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc").unwrap_err();
        assert!(
            err.to_string()
                .contains("Content-Length says 10 bytes but the body has 3"),
            "{err}"
        );
        let err = parse_raw_request(b"POST / HTTP/1.1\r\nHost: x\r\n").unwrap_err();
        assert!(err.to_string().contains("missing blank line"), "{err}");
    }
}
