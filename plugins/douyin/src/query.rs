//! Rendering the `query-order` action: `/order/orderDetail
//! {"shop_order_id"}`, preceded by a token request when the shop has no live
//! access token.

use crate::gateway::{self, ApiCall};
use crate::token;
use serde_json::json;
use tongdao_sdk::*;

/// Step label of `/order/orderDetail`.
pub const STEP_ORDER: &str = "order";
/// The API method of the order look-up.
pub const ORDER_DETAIL: &str = "order.orderDetail";

/// Render the next request for `action`.
pub fn render(ctx: &ShopContext, action: &Action) -> Result<OutboundRequest, PluginError> {
    let ActionKind::QueryOrder(order_id) = &action.kind else {
        return Err(PluginError::Unsupported(format!(
            "the 抖店 plugin cannot `{}`: it looks up orders only (飞鸽 customer-service chat has no public open-platform API)",
            action.kind.name()
        )));
    };
    // The order id is checked before a token is spent on it.
    let order_id = shop_order_id(order_id)?;
    if let Some(first) = token::prerequisite(ctx)? {
        return Ok(first);
    }
    let call = ApiCall {
        method: ORDER_DETAIL,
        params: json!({"shop_order_id": order_id}),
        access_token: ctx.state_value(token::ACCESS_TOKEN),
    };
    Ok(OutboundRequest {
        step: STEP_ORDER.into(),
        request: gateway::render(ctx, &call)?,
    })
}

/// A shop order id: 抖店's are decimal digits (19 of them today).
fn shop_order_id(raw: &str) -> Result<String, PluginError> {
    let id = raw.trim();
    if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PluginError::Malformed(format!(
            "`{id}` is not a 抖店 shop order id (decimal digits)"
        )));
    }
    Ok(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ShopContext {
        ShopContext::for_test("demo-doudian", 1_700_000_000_000)
            .with_credential("app_key", "7000000000000000001")
            .with_credential("app_secret", "test_secret")
            .with_setting("shop_id", "12345")
            .with_state(token::ACCESS_TOKEN, "AT", Some(1_800_000_000_000))
    }

    fn action(kind: ActionKind) -> Action {
        Action {
            idempotency_key: "0123456789abcdef0123456789abcdef".into(),
            conversation_id: "trade_6900000000000000000".into(),
            recipient: String::new(),
            route: vec![],
            kind,
            attempt: 1,
        }
    }

    #[test]
    fn query_order_renders_order_detail() {
        let request = render(
            &ctx(),
            &action(ActionKind::QueryOrder(" 6900000000000000000".into())),
        )
        .unwrap();
        assert_eq!(request.step, STEP_ORDER);
        let sign = gateway::sign(
            gateway::ApiSignMethod::HmacSha256,
            "7000000000000000001",
            "test_secret",
            "order.orderDetail",
            r#"{"shop_order_id":"6900000000000000000"}"#,
            "1700000000",
        );
        assert_eq!(
            request.request.url,
            format!(
                "https://openapi-fxg.jinritemai.com/order/orderDetail?app_key=7000000000000000001&method=order.orderDetail&access_token=AT&timestamp=1700000000&v=2&sign_method=hmac-sha256&sign={sign}"
            )
        );
        assert_eq!(
            request.request.body,
            br#"{"shop_order_id":"6900000000000000000"}"#
        );
        let bad = render(&ctx(), &action(ActionKind::QueryOrder("69000-1".into()))).unwrap_err();
        assert!(matches!(bad, PluginError::Malformed(_)));
    }

    #[test]
    fn without_a_token_the_token_comes_first() {
        let mut ctx = ctx();
        ctx.state.clear();
        let request = render(&ctx, &action(ActionKind::QueryOrder("1".into()))).unwrap();
        assert_eq!(request.step, token::STEP_CREATE);
        assert!(render(&ctx, &action(ActionKind::QueryOrder("x".into()))).is_err());
    }

    #[test]
    fn other_actions_are_not_supported() {
        for kind in [
            ActionKind::SendMessage(Content::Text("hi".into())),
            ActionKind::QueryLogistics("6900000000000000000".into()),
        ] {
            let err = render(&ctx(), &action(kind)).unwrap_err();
            assert!(matches!(err, PluginError::Unsupported(m) if m.contains("飞鸽")));
        }
    }
}
