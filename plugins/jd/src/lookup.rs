//! Order and parcel look-ups on the seller's behalf: `query-order` and
//! `query-logistics` both read `jingdong.pop.order.get` and answer with the
//! host's order summary; the parcel is the carrier and waybill the order
//! carries (JD's parcel-trace APIs belong to 京东物流, a separate product).

use crate::action_failure;
use crate::answer::{self, Answer, business_failure};
use crate::gateway;
use crate::order_info::{self, ORDER_FIELDS};
use crate::token::{self, Token};
use serde_json::json;
use tongdao_sdk::*;

/// Step label of an order look-up.
pub const STEP_ORDER: &str = "order";
/// Step label of a parcel look-up.
pub const STEP_LOGISTICS: &str = "logistics";
/// The order method.
pub const ORDER_GET: &str = "jingdong.pop.order.get";

fn order_id(action: &Action) -> Option<(&'static str, &str)> {
    match &action.kind {
        ActionKind::QueryOrder(id) => Some((STEP_ORDER, id)),
        ActionKind::QueryLogistics(id) => Some((STEP_LOGISTICS, id)),
        _ => None,
    }
}

/// Whether `action` is a look-up this module renders.
pub fn handles(action: &Action) -> bool {
    order_id(action).is_some()
}

/// Render a look-up.
pub fn render(ctx: &ShopContext, action: &Action) -> Result<OutboundRequest, PluginError> {
    let Some((step, id)) = order_id(action) else {
        return Err(PluginError::Unsupported(format!(
            "`{}` is not a look-up",
            action.kind.name()
        )));
    };
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PluginError::Malformed(format!(
            "`{id}` is not a JD order id"
        )));
    }
    let access_token = match token::token(ctx)? {
        Token::Ready(token) => token,
        Token::Refresh(request) => return Ok(request),
    };
    let params = json!({"order_id": id, "optional_fields": ORDER_FIELDS});
    Ok(OutboundRequest {
        step: step.into(),
        request: gateway::call(ctx, ORDER_GET, access_token, &params)?,
    })
}

/// Interpret the answer to a look-up (or to the token refresh before it).
pub fn interpret(
    ctx: &ShopContext,
    action: &Action,
    step: &str,
    response: &HttpResponse,
) -> Result<Interpretation, PluginError> {
    if step == token::STEP_REFRESH {
        return Ok(token::read_refresh(ctx, response));
    }
    match order_id(action) {
        Some((expected, _)) if expected == step => {}
        _ => {
            return Err(PluginError::Unsupported(format!(
                "step `{step}` is not one this plugin renders for `{}`",
                action.kind.name()
            )));
        }
    }
    let body = match answer::read(ORDER_GET, response) {
        Answer::Success(body) => body,
        Answer::Failed(outcome) => return Ok(action_failure(ctx, outcome)),
    };
    let detail = body.get("orderDetailInfo").unwrap_or(&body);
    if let Some(outcome) = business_failure(detail) {
        return Ok(Interpretation::outcome(outcome));
    }
    match detail.get("orderInfo").and_then(order_info::read) {
        Some(order) => Ok(Interpretation::outcome(DeliveryOutcome::answered(
            order.summary().to_result_json(),
        ))),
        None => Ok(Interpretation::outcome(DeliveryOutcome::permanent(
            "no-order",
            "JOS answered without the order (`orderDetailInfo.orderInfo`)",
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ShopContext {
        ShopContext::for_test("demo-jd", 1_714_037_059_000)
            .with_credential("app_key", "JDAPPKEY")
            .with_credential("app_secret", "jd-secret")
            .with_credential("access_token", "jd-token")
    }

    fn action(kind: ActionKind) -> Action {
        Action {
            idempotency_key: "k1".into(),
            conversation_id: "order_1000000001".into(),
            recipient: "jd_buyer_1".into(),
            route: vec![],
            kind,
            attempt: 1,
        }
    }

    #[test]
    fn an_order_look_up_is_answered_with_the_summary() {
        let look_up = action(ActionKind::QueryOrder("1000000001".into()));
        let request = render(&ctx(), &look_up).unwrap();
        assert_eq!(request.step, STEP_ORDER);
        let body = String::from_utf8(request.request.body.clone()).unwrap();
        assert!(body.contains("method=jingdong.pop.order.get"));
        let answer = HttpResponse::json(
            200,
            &json!({"jingdong_pop_order_get_responce": {"code": "0", "orderDetailInfo": {
                "apiResult": {"success": true},
                "orderInfo": {"orderId": "1000000001", "orderState": "WAIT_GOODS_RECEIVE_CONFIRM",
                    "orderPayment": "99.00", "waybill": "JDV000000001", "logisticsId": "467"}
            }}})
            .to_string(),
        );
        let read = interpret(&ctx(), &look_up, STEP_ORDER, &answer).unwrap();
        let DeliveryOutcome::Delivered(receipt) = read.outcome else {
            panic!("delivered")
        };
        let summary: serde_json::Value =
            serde_json::from_str(receipt.result_json.as_deref().unwrap()).unwrap();
        assert_eq!(summary["state"], "shipped");
        assert_eq!(summary["amount"], "99.00");
        assert_eq!(summary["shipments"][0]["tracking_number"], "JDV000000001");
    }

    #[test]
    fn a_missing_order_is_permanent_and_bad_ids_are_refused() {
        let look_up = action(ActionKind::QueryLogistics("1000000002".into()));
        let answer = HttpResponse::json(
            200,
            &json!({"jingdong_pop_order_get_responce": {"code": "0", "orderDetailInfo": {
                "apiResult": {"success": false, "numberCode": 10100042, "chineseErrCode": "订单不存在"}
            }}})
            .to_string(),
        );
        let read = interpret(&ctx(), &look_up, STEP_LOGISTICS, &answer).unwrap();
        assert!(
            matches!(read.outcome, DeliveryOutcome::Permanent(f) if f.reason.contains("订单不存在"))
        );
        assert!(interpret(&ctx(), &look_up, STEP_ORDER, &answer).is_err());
        assert!(matches!(
            render(&ctx(), &action(ActionKind::QueryOrder("12a".into()))),
            Err(PluginError::Malformed(_))
        ));
    }

    #[test]
    fn a_rejected_token_is_refreshed_before_the_look_up() {
        let look_up = action(ActionKind::QueryOrder("1000000001".into()));
        let expired = HttpResponse::json(
            200,
            r#"{"error_response":{"code":"19","zh_desc":"无效access_token","en_desc":"Invalid access_token"}}"#,
        );
        let read = interpret(&ctx(), &look_up, STEP_ORDER, &expired).unwrap();
        assert_eq!(read.outcome, DeliveryOutcome::TokenExpired);
        let mut after = ctx().with_credential("refresh_token", "jd-refresh");
        for change in read.state {
            if let StateChange::Set(entry) = change {
                after.state.push(entry);
            }
        }
        let request = render(&after, &look_up).unwrap();
        assert_eq!(request.step, token::STEP_REFRESH);
    }
}
