//! `tongdao replay`: run one recorded webhook (a raw HTTP/1.1 message) through
//! a shop's plugin offline and describe, as one JSON document, the response
//! the platform would get and the normalized events — or the error.

use crate::config::Config;
use crate::model::{HttpRequest, HttpResponse, Pair};
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
    let mut body = raw[body_start..].to_vec();
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
    Ok(HttpRequest {
        method,
        url,
        headers,
        body,
    })
}

/// Replay `raw` through shop `shop_id`'s plugin with the clock at `now_ms`.
pub fn replay(config: &Config, shop_id: &str, raw: &[u8], now_ms: i64) -> anyhow::Result<Value> {
    let shop = config.shops.get(shop_id).with_context(|| {
        format!(
            "{}: no shop `{shop_id}` (defined: {:?})",
            config.path.display(),
            config.shops.keys().collect::<Vec<_>>()
        )
    })?;
    let plugin_config = &config.plugins[&shop.plugin];
    let request = parse_raw_request(raw)?;
    let runtime = Runtime::new(RuntimeLimits::from(&config.limits), None)?;
    let plugin = runtime.load(&plugin_config.component)?;
    let ctx = crate::model::ShopContext {
        shop_id: shop.id.clone(),
        credentials: shop
            .credentials
            .iter()
            .map(|(name, value)| Pair {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
        settings: shop
            .settings
            .iter()
            .map(|(name, value)| Pair {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
        state: Vec::new(),
        now_ms,
    };
    let mut document = json!({ "shop": shop.id, "plugin": plugin.name });
    match runtime.handle_push_blocking(&plugin, ctx, request) {
        Ok(result) => {
            document["response"] = response_json(&result.response);
            document["events"] = serde_json::to_value(&result.events)?;
            document["state"] = serde_json::to_value(&result.state)?;
            document["poll_hints"] = serde_json::to_value(&result.poll_hints)?;
        }
        Err(err) => document["error"] = error_json(&err),
    }
    Ok(document)
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
