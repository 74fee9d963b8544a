//! The TOP REST router (`/router/rest`): the checks TOP applies to every
//! call, in its order and with its codes (21/22 method, 28/29 app key,
//! 30/31 timestamp, 24/25 signature, 26/27 session, 40/41 arguments, 7 call
//! limit), injected failures, and the methods tongdao uses.

use crate::signing::{expected_sign, format_timestamp, parse_timestamp};
use crate::{ApiCall, Confirm, Shared, State, Via, lock};
use serde_json::{Value, json};
use tongdao_loopback::{Incoming, Reply};

/// The router's path.
pub const ROUTER_PATH: &str = "/router/rest";

fn error(code: &str, msg: &str, sub: Option<(&str, &str)>) -> Value {
    let mut body = json!({"code": code.parse::<i64>().map(Value::from).unwrap_or(Value::from(code)), "msg": msg, "request_id": "emulated"});
    if let Some((sub_code, sub_msg)) = sub {
        body["sub_code"] = json!(sub_code);
        body["sub_msg"] = json!(sub_msg);
    }
    json!({ "error_response": body })
}

/// Answer one HTTP request.
pub(crate) fn handle(shared: &Shared, request: &Incoming) -> Reply {
    if request.path != ROUTER_PATH {
        return Reply::not_found();
    }
    let params = request.params();
    let mut state = lock(&shared.state);
    let (body, confirms) = answer(&mut state, &params);
    let method = params
        .iter()
        .find(|(k, _)| k == "method")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let error_code = body
        .get("error_response")
        .and_then(|e| e.get("code"))
        .map(|c| c.to_string().trim_matches('"').to_string());
    let call = ApiCall {
        method,
        params,
        error_code,
    };
    let on_call = state.on_call.clone().map(|hook| (hook, call.clone()));
    state.calls.push(call);
    let hook = state.on_confirm.clone();
    drop(state);
    if let Some((on_call, call)) = on_call {
        on_call(&call);
    }
    for confirm in &confirms {
        if let Some(hook) = &hook {
            hook(confirm);
        }
        shared.confirmed.send_modify(|n| *n += 1);
    }
    Reply::json(&body)
}

fn answer(state: &mut State, params: &[(String, String)]) -> (Value, Vec<Confirm>) {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let Some(method) = get("method") else {
        return (error("21", "Missing Method", None), vec![]);
    };
    let Some(app_key) = get("app_key") else {
        return (error("28", "Missing App Key", None), vec![]);
    };
    if app_key != state.config.app_key {
        return (error("29", "Invalid App Key", None), vec![]);
    }
    let Some(timestamp) = get("timestamp") else {
        return (error("30", "Missing Timestamp", None), vec![]);
    };
    match parse_timestamp(timestamp) {
        Some(ms) if (state.now_ms() - ms).abs() <= state.config.timestamp_tolerance_ms => {}
        _ => return (error("31", "Invalid Timestamp", None), vec![]),
    }
    let Some(sign) = get("sign") else {
        return (error("24", "Missing Signature", None), vec![]);
    };
    let sign_method = get("sign_method").unwrap_or("md5");
    match expected_sign(sign_method, &state.config.app_secret, params) {
        Some(expected) if expected == sign => {}
        _ => return (error("25", "Invalid Signature", None), vec![]),
    }
    let known = [
        "taobao.trade.fullinfo.get",
        "taobao.logistics.trace.search",
        "taobao.tmc.messages.consume",
        "taobao.tmc.messages.confirm",
    ];
    if !known.contains(&method) {
        return (error("22", "Invalid Method", None), vec![]);
    }
    let needs_session = matches!(
        method,
        "taobao.trade.fullinfo.get" | "taobao.logistics.trace.search"
    );
    if needs_session {
        match get("session") {
            None => return (error("26", "Missing Session", None), vec![]),
            Some(session) if session != state.config.session => {
                return (
                    error(
                        "27",
                        "Invalid session",
                        Some(("invalid-sessionkey", "SessionKey非法")),
                    ),
                    vec![],
                );
            }
            Some(_) => {}
        }
    }
    if let Some(position) = state.injected.iter().position(|i| i.method == method) {
        let injected = state.injected[position].clone();
        state.injected[position].remaining -= 1;
        if state.injected[position].remaining == 0 {
            state.injected.remove(position);
        }
        let sub = injected
            .sub_code
            .as_deref()
            .map(|c| (c, injected.sub_msg.as_deref().unwrap_or("")));
        return (error(&injected.code, &injected.msg, sub), vec![]);
    }
    if let Some(left) = state.call_limits.get_mut(method) {
        if *left == 0 {
            return (
                error(
                    "7",
                    "App Call Limited",
                    Some((
                        "accesscontrol.limited-by-app-access-count",
                        "This ban will last for 1 more seconds",
                    )),
                ),
                vec![],
            );
        }
        *left -= 1;
    }
    match method {
        "taobao.trade.fullinfo.get" => {
            let (Some(tid), Some(_fields)) = (get("tid"), get("fields")) else {
                return (
                    error("40", "Missing Required Arguments:tid,fields", None),
                    vec![],
                );
            };
            match state.trades.get(tid) {
                Some(trade) => (
                    json!({"trade_fullinfo_get_response": {"trade": trade, "request_id": "emulated"}}),
                    vec![],
                ),
                None => (
                    error(
                        "15",
                        "Remote service error",
                        Some(("isv.trade-not-exist", "交易不存在")),
                    ),
                    vec![],
                ),
            }
        }
        "taobao.logistics.trace.search" => {
            let Some(tid) = get("tid") else {
                return (error("40", "Missing Required Arguments:tid", None), vec![]);
            };
            match state.traces.get(tid) {
                Some(trace) => {
                    let mut body = trace.clone();
                    body["request_id"] = json!("emulated");
                    (json!({ "logistics_trace_search_response": body }), vec![])
                }
                None => (
                    error(
                        "15",
                        "Remote service error",
                        Some(("isv.logistics-not-exist", "物流信息不存在")),
                    ),
                    vec![],
                ),
            }
        }
        "taobao.tmc.messages.consume" => {
            if get("group_name").is_some_and(|g| g != state.config.group_name) {
                return (
                    error(
                        "15",
                        "Remote service error",
                        Some(("isv.group-not-exist", "group not exist")),
                    ),
                    vec![],
                );
            }
            let quantity = match get("quantity").map(str::parse::<usize>) {
                None => 100,
                Some(Ok(n)) if (1..=200).contains(&n) => n,
                Some(_) => return (error("41", "Invalid Arguments:quantity", None), vec![]),
            };
            let due = state.take_due(0, quantity);
            let nick = state.config.seller_nick.clone();
            let user_id = state.config.seller_id;
            let app_key = state.config.app_key.clone();
            let messages: Vec<Value> = due
                .iter()
                .map(|m| {
                    json!({
                        "id": m.id, "topic": m.topic, "content": m.content,
                        "pub_time": format_timestamp(m.published_ms),
                        "user_nick": nick, "user_id": user_id, "pub_app_key": app_key,
                    })
                })
                .collect();
            let mut response = json!({"request_id": "emulated"});
            if !messages.is_empty() {
                response["messages"] = json!({ "tmc_message": messages });
            }
            (json!({ "tmc_messages_consume_response": response }), vec![])
        }
        "taobao.tmc.messages.confirm" => {
            let Some(ids) = get("s_message_ids") else {
                return (
                    error("40", "Missing Required Arguments:s_message_ids", None),
                    vec![],
                );
            };
            let ids: Vec<&str> = ids.split(',').collect();
            if ids.len() > 200 || ids.iter().any(|id| id.parse::<i64>().is_err()) {
                return (error("41", "Invalid Arguments:s_message_ids", None), vec![]);
            }
            let confirms: Vec<Confirm> = ids
                .iter()
                .map(|id| Confirm {
                    id: id.parse().unwrap_or(0),
                    token: None,
                    token_valid: false,
                    via: Via::Http,
                })
                .collect();
            for confirm in &confirms {
                state.confirm(confirm.clone());
            }
            (
                json!({"tmc_messages_confirm_response": {"is_success": true, "request_id": "emulated"}}),
                confirms,
            )
        }
        _ => (error("22", "Invalid Method", None), vec![]),
    }
}
