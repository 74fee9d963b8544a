//! One JD POP order (`orderInfo` of `jingdong.pop.order.get`, an element of
//! `orderInfoList` of `jingdong.pop.order.search`) in the common model's
//! terms: where it stands, what was paid, who bought it, when it last
//! changed, and its parcel.

use crate::answer::text;
use serde_json::Value as Json;
use tongdao_sdk::beijing_time::parse_datetime;
use tongdao_sdk::*;

/// The order fields asked for (`optional_fields`).
pub const ORDER_FIELDS: &str = "orderId,orderState,orderStateRemark,orderPayment,orderTotalPrice,orderStartTime,paymentConfirmTime,modified,pin,open_id_buyer,xid_buyer,waybill,logisticsId";

/// Where an order stands, from JD's `orderState`. POP orders reach the
/// order APIs once paid, so none is `created`.
pub fn order_state(state: &str) -> OrderState {
    match state {
        "WAIT_SELLER_STOCK_OUT" | "WAIT_SELLER_DELIVERY" => OrderState::Paid,
        "WAIT_GOODS_RECEIVE_CONFIRM" => OrderState::Shipped,
        "FINISHED_L" => OrderState::Completed,
        "TRADE_CANCELED" => OrderState::Closed,
        // LOCKED, PAUSE and states not listed here.
        _ => OrderState::Other,
    }
}

/// The commerce event kind an order reaching `state` stands for.
pub fn commerce_kind(state: &str) -> CommerceKind {
    match order_state(state) {
        OrderState::Created => CommerceKind::OrderCreated,
        OrderState::Paid => CommerceKind::OrderPaid,
        OrderState::Shipped => CommerceKind::OrderShipped,
        OrderState::Completed => CommerceKind::OrderCompleted,
        OrderState::Closed => CommerceKind::OrderClosed,
        OrderState::Refunding | OrderState::Other => CommerceKind::Other,
    }
}

/// An order as the plugin reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderInfo {
    /// `orderId`.
    pub order_id: String,
    /// `orderState`, e.g. `WAIT_SELLER_STOCK_OUT`.
    pub state: String,
    /// `orderPayment` (what the buyer paid) as yuan with two decimals.
    pub amount: Option<String>,
    /// The buyer, if the order names one.
    pub buyer: Option<Identity>,
    /// `modified` (or the payment / start time), Unix milliseconds.
    pub changed_ms: Option<i64>,
    /// The parcel, if the order has shipped.
    pub shipment: Option<Shipment>,
    /// The order as JOS gave it.
    pub raw: Json,
}

/// The buyer: the account (`pin`, which JD now gives de-identified) or the
/// app-scoped `open_id_buyer`; `xid_buyer` as a `jd-xid-buyer` hint.
fn buyer(order: &Json) -> Option<Identity> {
    let id = text(order, "pin").or_else(|| text(order, "open_id_buyer"))?;
    let mut identity = Identity::new(id);
    if let Some(xid) = text(order, "xid_buyer") {
        identity.hints.push(IdentityHint {
            kind: "jd-xid-buyer".into(),
            value: xid,
        });
    }
    Some(identity)
}

/// Read one order; `None` if it has no `orderId`.
pub fn read(order: &Json) -> Option<OrderInfo> {
    let order_id = text(order, "orderId")?;
    // JD names the carrier by an id (`logisticsId`), not a name: the parcel
    // is its waybill; the id stays in `raw`.
    let waybill = text(order, "waybill");
    Some(OrderInfo {
        state: text(order, "orderState").unwrap_or_default(),
        amount: text(order, "orderPayment")
            .or_else(|| text(order, "orderTotalPrice"))
            .and_then(|a| money::yuan(&a)),
        buyer: buyer(order),
        changed_ms: ["modified", "paymentConfirmTime", "orderStartTime"]
            .iter()
            .find_map(|field| text(order, field).and_then(|t| parse_datetime(&t))),
        shipment: waybill.map(|number| Shipment {
            company: None,
            tracking_number: Some(number),
            latest: None,
        }),
        order_id,
        raw: order.clone(),
    })
}

impl OrderInfo {
    /// The host's order summary of this order.
    pub fn summary(&self) -> OrderSummary {
        OrderSummary {
            order_id: self.order_id.clone(),
            state: order_state(&self.state),
            status: self.state.clone(),
            amount: self.amount.clone(),
            shipments: self.shipment.iter().cloned().collect(),
            raw: self.raw.clone(),
        }
    }

    /// The business key (and conversation) of events about this order.
    pub fn business_key(&self) -> String {
        format!("order_{}", self.order_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_order_is_read_with_its_buyer_amount_time_and_parcel() {
        let order = json!({
            "orderId": "1000000001", "orderState": "WAIT_GOODS_RECEIVE_CONFIRM",
            "orderPayment": "99", "orderTotalPrice": "109.00",
            "modified": "2024-04-25 17:24:19", "pin": "jd_buyer_1",
            "xid_buyer": "o*AAQ2VMNw", "waybill": "JDV000000001", "logisticsId": "467"
        });
        let info = read(&order).unwrap();
        assert_eq!(info.order_id, "1000000001");
        assert_eq!(info.amount.as_deref(), Some("99.00"));
        assert_eq!(info.changed_ms, Some(1_714_037_059_000));
        let buyer = info.buyer.clone().unwrap();
        assert_eq!(buyer.platform_user_id, "jd_buyer_1");
        assert_eq!(buyer.hints[0].kind, "jd-xid-buyer");
        assert_eq!(info.business_key(), "order_1000000001");
        let summary = info.summary();
        assert_eq!(summary.state, OrderState::Shipped);
        assert_eq!(
            summary.shipments[0].tracking_number.as_deref(),
            Some("JDV000000001")
        );
        assert!(read(&json!({"orderState": "FINISHED_L"})).is_none());
    }

    #[test]
    fn states_map_to_kinds() {
        assert_eq!(
            commerce_kind("WAIT_SELLER_STOCK_OUT"),
            CommerceKind::OrderPaid
        );
        assert_eq!(
            commerce_kind("WAIT_GOODS_RECEIVE_CONFIRM"),
            CommerceKind::OrderShipped
        );
        assert_eq!(commerce_kind("FINISHED_L"), CommerceKind::OrderCompleted);
        assert_eq!(commerce_kind("TRADE_CANCELED"), CommerceKind::OrderClosed);
        assert_eq!(commerce_kind("LOCKED"), CommerceKind::Other);
    }
}
