//! The JOS router (`/routerjson`): the gateway's checks, in its order and
//! with its codes, then the business methods.

use crate::signing::{expected_sign, parse_time};
use crate::{ApiCall, State, im, orders};
use serde_json::{Value, json};
use tongdao_loopback::{Incoming, Reply};

/// The router's path.
pub const ROUTER_PATH: &str = "/routerjson";

/// An `error_response`.
pub(crate) fn error(code: &str, zh_desc: &str, en_desc: &str) -> Value {
    json!({"error_response": {"code": code, "zh_desc": zh_desc, "en_desc": en_desc}})
}

/// A success object for `method` (JOS spells it `_responce`).
pub(crate) fn success(method: &str, mut body: Value) -> Value {
    body["code"] = json!("0");
    json!({ format!("{}_responce", method.replace('.', "_")): body })
}

/// Answer one call.
pub(crate) fn handle(state: &mut State, request: &Incoming) -> Reply {
    let params = request.params();
    let method = params
        .iter()
        .find(|(k, _)| k == "method")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let body = answer(state, &method, &params);
    let error_code = body.as_ref().and_then(|b| {
        b.get("error_response")
            .and_then(|e| e.get("code"))
            .and_then(Value::as_str)
            .map(String::from)
    });
    state.calls.push(ApiCall {
        method,
        params,
        error_code,
    });
    match body {
        Some(body) => Reply::json(&body),
        None => Reply {
            status: 200,
            content_type: "text/html".into(),
            headers: Vec::new(),
            body: b"<html><body>502 Bad Gateway</body></html>".to_vec(),
        },
    }
}

/// The answer to one call; `None` for a garbled one.
fn answer(state: &mut State, method: &str, params: &[(String, String)]) -> Option<Value> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    if method.is_empty() {
        return Some(error("14", "缺少方法名参数", "Missing Method"));
    }
    if get("app_key") != Some(state.config.app_key.as_str()) {
        return Some(error("20", "无效的app_key", "Invalid app_key"));
    }
    let Some(timestamp) = get("timestamp") else {
        return Some(error("7", "缺少时间戳参数", "Missing Timestamp"));
    };
    match parse_time(timestamp) {
        Some(ms) if (state.now_ms() - ms).abs() <= state.config.timestamp_tolerance_ms => {}
        _ => return Some(error("8", "非法的时间戳参数", "Invalid Timestamp")),
    }
    let Some(sign) = get("sign") else {
        return Some(error("11", "缺少签名参数", "Missing Signature"));
    };
    if sign != expected_sign(&state.config.app_secret, params) {
        return Some(error("12", "无效签名", "Invalid Signature"));
    }
    let known = [
        im::SESSION_LIST,
        im::CHAT_LOG,
        im::CHAT_PUSH,
        orders::ORDER_SEARCH,
        orders::ORDER_GET,
    ];
    if !known.contains(&method) {
        return Some(error("15", "不存在的方法名", "Invalid Method"));
    }
    match get("access_token") {
        Some(token) if state.valid_tokens.iter().any(|t| t == token) => {}
        _ => return Some(error("19", "无效access_token", "Invalid access_token")),
    }
    if let Some(left) = state.garbled.get_mut(method)
        && *left > 0
    {
        *left -= 1;
        return None;
    }
    if let Some(position) = state.injected.iter().position(|i| i.method == method) {
        let injected = state.injected[position].clone();
        state.injected[position].remaining -= 1;
        if state.injected[position].remaining == 0 {
            state.injected.remove(position);
        }
        return Some(error(&injected.code, &injected.zh_desc, &injected.en_desc));
    }
    if let Some(left) = state.call_limits.get_mut(method) {
        if *left == 0 {
            return Some(error("2", "限制时间内调用失败次数", "App Call Limited"));
        }
        *left -= 1;
    }
    let Some(business) =
        get("360buy_param_json").and_then(|t| serde_json::from_str::<Value>(t).ok())
    else {
        return Some(error(
            "100",
            "360buy_param_json 不是 JSON",
            "360buy_param_json is not JSON",
        ));
    };
    let body = match method {
        im::SESSION_LIST => im::session_list(state, &business),
        im::CHAT_LOG => im::chat_log(state, &business),
        im::CHAT_PUSH => im::push(state, &business),
        orders::ORDER_SEARCH => orders::search(state, &business),
        _ => orders::get(state, &business),
    };
    Some(match body {
        Ok(body) => success(method, body),
        Err(refusal) => refusal,
    })
}
