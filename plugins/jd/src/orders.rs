//! Poll feed `orders`: the shop's POP orders that changed in a window,
//! from `jingdong.pop.order.search` (by modification time, page by page),
//! as commerce events — one per order and state, so each state an order
//! reaches is stored once however often a window reads it. The round's
//! window and next page are the cursor, committed with every page.

use crate::answer::{self, Answer, business_failure, text};
use crate::gateway;
use crate::order_info::{self, ORDER_FIELDS, OrderInfo};
use crate::token::{self, Token};
use crate::window::{self, Window, more_pages};
use crate::{page_items, poll_failure};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tongdao_sdk::*;

/// The feed name.
pub const FEED: &str = "orders";
/// The order search method.
pub const ORDER_SEARCH: &str = "jingdong.pop.order.search";
/// Step kind of an order page.
const STEP_ORDERS: &str = "orders";
/// Orders per page (JOS's most).
pub const PAGE_SIZE: u32 = 100;
/// The states asked for: paid, shipped, finished, cancelled, locked, paused.
const STATES: &str = "WAIT_SELLER_STOCK_OUT,WAIT_SELLER_DELIVERY,WAIT_GOODS_RECEIVE_CONFIRM,FINISHED_L,TRADE_CANCELED,LOCKED,PAUSE";

/// The round under way: its window and the next page to read.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Round {
    from: i64,
    to: i64,
    page: u32,
}

/// The feed's cursor.
type Cursor = window::Cursor<Round>;

/// Render the next request of feed `orders`.
pub fn render(ctx: &ShopContext, poll: &PollRequest) -> Result<OutboundRequest, PluginError> {
    let cursor = Cursor::read(ctx, poll)?;
    let access_token = match token::token(ctx)? {
        Token::Ready(token) => token,
        Token::Refresh(request) => return Ok(request),
    };
    let (window, page) = match cursor.round {
        Some(round) => (
            Window {
                from_ms: round.from,
                to_ms: round.to,
            },
            round.page,
        ),
        None => (window::next(cursor.since, ctx.now_ms), 1),
    };
    let params = json!({
        "start_date": window.start_text(),
        "end_date": window.end_text(),
        "order_state": STATES,
        "optional_fields": ORDER_FIELDS,
        "page": page.to_string(),
        "page_size": PAGE_SIZE.to_string(),
        "dateType": 0,
        "sortType": 1,
    });
    Ok(OutboundRequest {
        step: window.step(STEP_ORDERS, page),
        request: gateway::call(ctx, ORDER_SEARCH, access_token, &params)?,
    })
}

/// Interpret an answer of feed `orders`.
pub fn parse(
    ctx: &ShopContext,
    poll: &PollRequest,
    step: &str,
    response: &HttpResponse,
) -> Result<PollResult, PluginError> {
    if step == token::STEP_REFRESH {
        return Ok(token::read_refresh(ctx, response).into());
    }
    let Some((window, page)) = Window::from_step(STEP_ORDERS, step) else {
        return Err(PluginError::Unsupported(format!(
            "feed `{FEED}` has no step `{step}`"
        )));
    };
    let cursor = Cursor::read(ctx, poll)?;
    let body = match answer::read(ORDER_SEARCH, response) {
        Answer::Success(body) => body,
        Answer::Failed(outcome) => return Ok(poll_failure(ctx, outcome)),
    };
    let result = body
        .get("searchorderinfo_result")
        .or_else(|| body.get("searchorderinfoResult"))
        .unwrap_or(&body);
    if let Some(outcome) = business_failure(result) {
        return Ok(poll_failure(ctx, outcome));
    }
    let orders = page_items(result, &["orderInfoList", "order_info_list"]);
    let events = orders
        .iter()
        .filter_map(order_info::read)
        .map(|order| order_event(&order, ctx.now_ms))
        .collect();
    let total = text(result, "orderTotal").and_then(|t| t.parse::<u64>().ok());
    let more = more_pages(page, PAGE_SIZE, orders.len(), total);
    let next = if more {
        Cursor {
            since: cursor.since,
            round: Some(Round {
                from: window.from_ms,
                to: window.to_ms,
                page: page + 1,
            }),
        }
    } else {
        Cursor {
            since: window.to_ms,
            round: None,
        }
    };
    Ok(PollResult {
        outcome: PollOutcome::Page(PollPage {
            events,
            next_cursor: Some(next.write()),
            has_more: more,
            acks: Vec::new(),
        }),
        state: Vec::new(),
    })
}

/// The commerce event of an order in its current state.
fn order_event(order: &OrderInfo, now_ms: i64) -> Event {
    let key = order.business_key();
    Event {
        platform_id: format!("{key}:{}", order.state),
        conversation_id: key.clone(),
        platform_time_ms: order.changed_ms.unwrap_or(now_ms),
        route: Vec::new(),
        body: EventBody::Commerce(CommerceEvent {
            kind: order_info::commerce_kind(&order.state),
            topic: order.state.clone(),
            business_key: key,
            order_id: Some(order.order_id.clone()),
            refund_id: None,
            customer: order.buyer.clone(),
            status: (!order.state.is_empty()).then(|| order.state.clone()),
            amount: order.amount.clone(),
            detail_json: order.raw.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value as Json;

    fn ctx() -> ShopContext {
        ShopContext::for_test("demo-jd", 1_714_037_359_000)
            .with_credential("app_key", "JDAPPKEY")
            .with_credential("app_secret", "jd-secret")
            .with_credential("access_token", "jd-token")
    }

    fn poll(cursor: Option<&str>) -> PollRequest {
        PollRequest {
            feed: FEED.into(),
            cursor: cursor.map(String::from),
            hint_token: None,
        }
    }

    fn param_json(request: &OutboundRequest) -> Json {
        let form: Vec<(String, String)> = form_urlencoded::parse(&request.request.body)
            .into_owned()
            .collect();
        let text = &form
            .iter()
            .find(|(k, _)| k == gateway::PARAM_JSON)
            .unwrap()
            .1;
        serde_json::from_str(text).unwrap()
    }

    fn page(result: &PollResult) -> &PollPage {
        match &result.outcome {
            PollOutcome::Page(page) => page,
            other => panic!("not a page: {other:?}"),
        }
    }

    fn answer(orders: Json, total: u64) -> HttpResponse {
        HttpResponse::json(
            200,
            &json!({"jingdong_pop_order_search_responce": {"code": "0", "searchorderinfo_result": {
                "apiResult": {"success": true}, "orderInfoList": orders, "orderTotal": total
            }}})
            .to_string(),
        )
    }

    #[test]
    fn the_first_round_looks_back_and_pages_until_the_total_is_read() {
        let first = render(&ctx(), &poll(None)).unwrap();
        let params = param_json(&first);
        assert_eq!(params["start_date"], "2024-04-25 17:17:19");
        assert_eq!(params["end_date"], "2024-04-25 17:29:19");
        assert_eq!(params["page"], "1");
        assert_eq!(first.step, "orders:1714036639000:1714037359000:1");

        let full: Vec<Json> = (0..PAGE_SIZE)
            .map(|i| json!({"orderId": format!("{}", 1000 + i), "orderState": "WAIT_SELLER_STOCK_OUT", "orderPayment": "99.00"}))
            .collect();
        let parsed = parse(&ctx(), &poll(None), &first.step, &answer(json!(full), 150)).unwrap();
        let page1 = page(&parsed);
        assert_eq!(page1.events.len(), 100);
        assert!(page1.has_more);
        let cursor = page1.next_cursor.clone().unwrap();

        // The next page keeps the window although the clock moved.
        let mut later = ctx();
        later.now_ms += 5_000;
        let second = render(&later, &poll(Some(&cursor))).unwrap();
        assert_eq!(second.step, "orders:1714036639000:1714037359000:2");
        let rest = json!([{"orderId": "2000", "orderState": "FINISHED_L", "orderPayment": "5"}]);
        let parsed = parse(
            &later,
            &poll(Some(&cursor)),
            &second.step,
            &answer(rest, 150),
        )
        .unwrap();
        let page2 = page(&parsed);
        assert!(!page2.has_more);
        assert_eq!(
            page2.next_cursor.as_deref(),
            Some(r#"{"since":1714037359000}"#)
        );
        let next_round = render(&later, &poll(page2.next_cursor.as_deref())).unwrap();
        assert_eq!(next_round.step, "orders:1714037239000:1714037364000:1");
    }

    #[test]
    fn an_order_becomes_one_event_per_state() {
        let order = json!({
            "orderId": "1000000001", "orderState": "WAIT_SELLER_STOCK_OUT", "orderPayment": "99.00",
            "modified": "2024-04-25 17:24:19", "pin": "jd_buyer_1", "xid_buyer": "o*AAQ2"
        });
        let step = "orders:1714036639000:1714037359000:1";
        let parsed = parse(&ctx(), &poll(None), step, &answer(json!([order]), 1)).unwrap();
        let event = &page(&parsed).events[0];
        assert_eq!(event.platform_id, "order_1000000001:WAIT_SELLER_STOCK_OUT");
        assert_eq!(event.conversation_id, "order_1000000001");
        assert_eq!(event.platform_time_ms, 1_714_037_059_000);
        let EventBody::Commerce(commerce) = &event.body else {
            panic!("a commerce event")
        };
        assert_eq!(commerce.kind, CommerceKind::OrderPaid);
        assert_eq!(commerce.amount.as_deref(), Some("99.00"));
        assert_eq!(commerce.order_id.as_deref(), Some("1000000001"));
        assert_eq!(
            commerce.customer.as_ref().unwrap().platform_user_id,
            "jd_buyer_1"
        );
    }

    #[test]
    fn failures_become_steps_and_a_rejected_token_is_dropped() {
        let step = "orders:1714036639000:1714037359000:1";
        let expired = HttpResponse::json(
            200,
            r#"{"error_response":{"code":"19","zh_desc":"无效access_token","en_desc":"Invalid access_token"}}"#,
        );
        let parsed = parse(&ctx(), &poll(None), step, &expired).unwrap();
        assert_eq!(
            parsed.outcome,
            PollOutcome::Step(DeliveryOutcome::TokenExpired)
        );
        assert_eq!(parsed.state.len(), 1);
        let refused = HttpResponse::json(
            200,
            &json!({"jingdong_pop_order_search_responce": {"code": "0", "searchorderinfo_result": {
                "apiResult": {"success": false, "numberCode": 10100001, "chineseErrCode": "参数错误"}
            }}})
            .to_string(),
        );
        let parsed = parse(&ctx(), &poll(None), step, &refused).unwrap();
        assert!(matches!(
            parsed.outcome,
            PollOutcome::Step(DeliveryOutcome::Permanent(f)) if f.code == "10100001"
        ));
        assert!(parse(&ctx(), &poll(None), "chatlog:1:2:1", &refused).is_err());
        assert!(matches!(
            render(&ctx(), &poll(Some("not json"))),
            Err(PluginError::Malformed(_))
        ));
    }
}
