//! Order and logistics look-ups on the seller's behalf (credential
//! `session`): `taobao.trade.fullinfo.get` for `query-order`,
//! `taobao.logistics.trace.search` for `query-logistics`, each answered as
//! the host's normalized order summary.

use crate::answer::{self, Answer};
use crate::gateway;
use serde_json::Value as Json;
use tongdao_sdk::beijing_time::parse_datetime;
use tongdao_sdk::*;

/// Step label of an order look-up.
pub const STEP_ORDER: &str = "trade";
/// Step label of a logistics look-up.
pub const STEP_LOGISTICS: &str = "trace";
/// The order method.
pub const TRADE_FULLINFO: &str = "taobao.trade.fullinfo.get";
/// The logistics method.
pub const TRACE_SEARCH: &str = "taobao.logistics.trace.search";
/// The trade fields asked for.
const TRADE_FIELDS: &str = "tid,status,payment,total_fee,created,pay_time,consign_time,end_time,buyer_open_uid,orders,type";

/// Render a look-up; other actions are unsupported (TOP has no public API
/// to message a buyer).
pub fn render(ctx: &ShopContext, action: &Action) -> Result<OutboundRequest, PluginError> {
    let (step, method, tid) = match &action.kind {
        ActionKind::QueryOrder(tid) => (STEP_ORDER, TRADE_FULLINFO, tid),
        ActionKind::QueryLogistics(tid) => (STEP_LOGISTICS, TRACE_SEARCH, tid),
        other => {
            return Err(PluginError::Unsupported(format!(
                "`{}`: Taobao offers no public API for it (the Wangwang chat services are closed to new apps)",
                other.name()
            )));
        }
    };
    if tid.is_empty() || !tid.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PluginError::Malformed(format!(
            "`{tid}` is not a Taobao trade id (tid)"
        )));
    }
    let session = ctx.credential("session")?;
    let mut params = vec![("tid", tid.clone())];
    if method == TRADE_FULLINFO {
        params.push(("fields", TRADE_FIELDS.to_string()));
    }
    Ok(OutboundRequest {
        step: step.into(),
        request: gateway::call(ctx, method, Some(session), &params)?,
    })
}

/// Where a trade stands, from TOP's trade status.
pub fn order_state(status: &str) -> OrderState {
    match status {
        "TRADE_NO_CREATE_PAY" | "WAIT_BUYER_PAY" | "PAY_PENDING" => OrderState::Created,
        "WAIT_SELLER_SEND_GOODS" | "PAID_FORBID_CONSIGN" => OrderState::Paid,
        "SELLER_CONSIGNED_PART" | "WAIT_BUYER_CONFIRM_GOODS" => OrderState::Shipped,
        "TRADE_BUYER_SIGNED" | "TRADE_FINISHED" => OrderState::Completed,
        "TRADE_CLOSED" | "TRADE_CLOSED_BY_TAOBAO" => OrderState::Closed,
        _ => OrderState::Other,
    }
}

fn text(value: &Json, field: &str) -> Option<String> {
    match value.get(field)? {
        Json::String(s) if !s.is_empty() => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A list TOP may wrap in `{"<item>": [...]}`.
fn list<'a>(value: Option<&'a Json>, item: &str) -> Vec<&'a Json> {
    match value {
        Some(Json::Array(items)) => items.iter().collect(),
        Some(Json::Object(wrapped)) => match wrapped.get(item) {
            Some(Json::Array(items)) => items.iter().collect(),
            Some(one @ Json::Object(_)) => vec![one],
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

fn order_summary(tid: &str, body: &Json) -> Option<OrderSummary> {
    let trade = body.get("trade")?;
    let status = text(trade, "status").unwrap_or_default();
    let shipments = list(trade.get("orders"), "order")
        .into_iter()
        .filter_map(|order| {
            let number = text(order, "invoice_no");
            let company = text(order, "logistics_company");
            (number.is_some() || company.is_some()).then_some(Shipment {
                company,
                tracking_number: number,
                latest: None,
            })
        })
        .fold(Vec::new(), |mut all: Vec<Shipment>, s| {
            if !all.contains(&s) {
                all.push(s);
            }
            all
        });
    Some(OrderSummary {
        order_id: text(trade, "tid").unwrap_or_else(|| tid.to_string()),
        state: order_state(&status),
        status,
        amount: text(trade, "payment").and_then(|a| money::yuan(&a)),
        shipments,
        raw: trade.clone(),
    })
}

fn trace_summary(tid: &str, body: &Json) -> OrderSummary {
    let steps = list(body.get("trace_list"), "transit_step_info");
    let latest = steps
        .iter()
        .map(|step| TrackingStep {
            time_ms: text(step, "status_time")
                .and_then(|t| parse_datetime(&t))
                .unwrap_or(0),
            description: text(step, "status_desc")
                .or_else(|| text(step, "desc"))
                .unwrap_or_default(),
        })
        .max_by_key(|step| step.time_ms);
    let status = text(body, "status").unwrap_or_default();
    OrderSummary {
        order_id: text(body, "tid").unwrap_or_else(|| tid.to_string()),
        state: if status.contains("签收") {
            OrderState::Completed
        } else {
            OrderState::Shipped
        },
        status,
        amount: None,
        shipments: vec![Shipment {
            company: text(body, "company_name"),
            tracking_number: text(body, "out_sid"),
            latest,
        }],
        raw: body.clone(),
    }
}

/// Interpret the answer to a look-up.
pub fn interpret(
    action: &Action,
    step: &str,
    response: &HttpResponse,
) -> Result<Interpretation, PluginError> {
    let (method, tid) = match (&action.kind, step) {
        (ActionKind::QueryOrder(tid), STEP_ORDER) => (TRADE_FULLINFO, tid),
        (ActionKind::QueryLogistics(tid), STEP_LOGISTICS) => (TRACE_SEARCH, tid),
        (kind, _) => {
            return Err(PluginError::Malformed(format!(
                "step `{step}` is not one this plugin renders for `{}`",
                kind.name()
            )));
        }
    };
    let body = match answer::read(method, response) {
        Answer::Success(body) => body,
        Answer::Failed(outcome) => return Ok(Interpretation::outcome(outcome)),
    };
    let summary = if method == TRADE_FULLINFO {
        match order_summary(tid, &body) {
            Some(summary) => summary,
            None => {
                return Ok(Interpretation::outcome(DeliveryOutcome::permanent(
                    "no-trade",
                    format!("TOP answered without a trade for tid {tid}"),
                )));
            }
        }
    } else {
        trace_summary(tid, &body)
    };
    Ok(Interpretation::outcome(DeliveryOutcome::answered(
        summary.to_result_json(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ShopContext {
        ShopContext::for_test("demo-tmall", 1_714_037_060_000)
            .with_credential("app_key", "12345678")
            .with_credential("app_secret", "helloworld")
            .with_credential("session", "demo-session")
    }

    fn action(kind: ActionKind) -> Action {
        Action {
            idempotency_key: "0123456789abcdef0123456789abcdef".into(),
            conversation_id: "trade_3000000000000000001".into(),
            recipient: "AAGM".into(),
            route: Vec::new(),
            kind,
            attempt: 1,
        }
    }

    fn form(body: &[u8]) -> Vec<(String, String)> {
        form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn an_order_look_up_is_a_signed_fullinfo_call_with_the_session() {
        let rendered = render(
            &ctx(),
            &action(ActionKind::QueryOrder("3000000000000000001".into())),
        )
        .unwrap();
        assert_eq!(rendered.step, STEP_ORDER);
        let params = form(&rendered.request.body);
        assert!(params.contains(&("method".into(), TRADE_FULLINFO.into())));
        assert!(params.contains(&("session".into(), "demo-session".into())));
        assert!(params.contains(&("tid".into(), "3000000000000000001".into())));
        assert!(
            params
                .iter()
                .any(|(k, v)| k == "fields" && v.contains("status"))
        );
        let no_session = ShopContext::for_test("s", 0)
            .with_credential("app_key", "1")
            .with_credential("app_secret", "2");
        assert!(matches!(
            render(&no_session, &action(ActionKind::QueryOrder("1".into()))),
            Err(PluginError::Misconfigured(m)) if m.contains("session")
        ));
        assert!(matches!(
            render(&ctx(), &action(ActionKind::QueryOrder("1 OR 2".into()))),
            Err(PluginError::Malformed(_))
        ));
        assert!(matches!(
            render(&ctx(), &action(ActionKind::SendMessage(Content::Text("hi".into())))),
            Err(PluginError::Unsupported(m)) if m.contains("Wangwang")
        ));
    }

    #[test]
    fn a_trade_answer_becomes_an_order_summary() {
        let body = r#"{"trade_fullinfo_get_response":{"trade":{"tid":3000000000000000001,"status":"WAIT_BUYER_CONFIRM_GOODS","payment":"99.00",
            "orders":{"order":[{"oid":1,"invoice_no":"SF100","logistics_company":"顺丰速运"},{"oid":2,"invoice_no":"SF100","logistics_company":"顺丰速运"}]}}}}"#;
        let outcome = interpret(
            &action(ActionKind::QueryOrder("3000000000000000001".into())),
            STEP_ORDER,
            &HttpResponse::json(200, body),
        )
        .unwrap()
        .outcome;
        let DeliveryOutcome::Delivered(receipt) = outcome else {
            panic!("delivered")
        };
        let json: Json = serde_json::from_str(&receipt.result_json.unwrap()).unwrap();
        assert_eq!(json["order_id"], "3000000000000000001");
        assert_eq!(json["state"], "shipped");
        assert_eq!(json["amount"], "99.00");
        assert_eq!(json["shipments"].as_array().unwrap().len(), 1);
        assert_eq!(json["shipments"][0]["tracking_number"], "SF100");
    }

    #[test]
    fn a_trace_answer_becomes_the_latest_step() {
        let body = r#"{"logistics_trace_search_response":{"tid":3000000000000000001,"out_sid":"SF100","company_name":"顺丰速运","status":"在途中",
            "trace_list":{"transit_step_info":[{"status_time":"2024-04-26 08:00:00","status_desc":"已揽收"},{"status_time":"2024-04-26 20:00:00","status_desc":"到达杭州"}]}}}"#;
        let outcome = interpret(
            &action(ActionKind::QueryLogistics("3000000000000000001".into())),
            STEP_LOGISTICS,
            &HttpResponse::json(200, body),
        )
        .unwrap()
        .outcome;
        let DeliveryOutcome::Delivered(receipt) = outcome else {
            panic!("delivered")
        };
        let json: Json = serde_json::from_str(&receipt.result_json.unwrap()).unwrap();
        assert_eq!(json["state"], "shipped");
        assert_eq!(json["shipments"][0]["latest"]["description"], "到达杭州");
        assert_eq!(json["shipments"][0]["company"], "顺丰速运");
    }

    #[test]
    fn errors_are_classified_and_wrong_steps_refused() {
        let expired = interpret(
            &action(ActionKind::QueryOrder("1".into())),
            STEP_ORDER,
            &HttpResponse::json(
                200,
                r#"{"error_response":{"code":27,"msg":"Invalid session"}}"#,
            ),
        )
        .unwrap();
        assert!(matches!(&expired.outcome, DeliveryOutcome::Permanent(f) if f.code == "27"));
        assert!(!format!("{expired:?}").contains("demo-session"));
        let empty = interpret(
            &action(ActionKind::QueryOrder("1".into())),
            STEP_ORDER,
            &HttpResponse::json(200, r#"{"trade_fullinfo_get_response":{}}"#),
        )
        .unwrap();
        assert!(matches!(empty.outcome, DeliveryOutcome::Permanent(_)));
        assert!(
            interpret(
                &action(ActionKind::QueryOrder("1".into())),
                STEP_LOGISTICS,
                &HttpResponse::json(200, "{}")
            )
            .is_err()
        );
    }

    #[test]
    fn statuses_map_to_states() {
        assert_eq!(order_state("WAIT_BUYER_PAY"), OrderState::Created);
        assert_eq!(order_state("WAIT_SELLER_SEND_GOODS"), OrderState::Paid);
        assert_eq!(order_state("WAIT_BUYER_CONFIRM_GOODS"), OrderState::Shipped);
        assert_eq!(order_state("TRADE_FINISHED"), OrderState::Completed);
        assert_eq!(order_state("TRADE_CLOSED_BY_TAOBAO"), OrderState::Closed);
        assert_eq!(order_state("SOMETHING_NEW"), OrderState::Other);
    }
}
