//! Turn a push message into a commerce event: the kind from the tag, the
//! business key (`trade_{p_id}` or `refund_{aftersale_id}`), ids as exact
//! text, the amount in yuan, and the event time from the message's own
//! timestamp field.
//!
//! Tags `0` and `100` are in the SDKs' documentation; 101, 105, 106, 200,
//! 201, 202, 207 and 208 are used the same way by independent community
//! handlers; the others follow the platform's message catalogue order and
//! are unverified (README.md lists which is which).

use crate::data_fields::DataFields;
use crate::envelope::PushMessage;
use tongdao_sdk::*;

/// What the plugin knows about one tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagInfo {
    /// The tag as pushed, e.g. `101`.
    pub tag: &'static str,
    /// The platform's message name, e.g. `doudian_trade_TradePaid`.
    pub name: &'static str,
    /// The normalized kind.
    pub kind: CommerceKind,
    /// The field holding the event's time (Unix seconds).
    pub time_field: &'static str,
    /// The field holding the event's amount in fen, if any.
    pub amount_field: Option<&'static str>,
}

/// Whether a tag's messages are about an order or an after-sale (refund).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    Order,
    Refund,
}

use CommerceKind::{
    LogisticsUpdated, OrderClosed, OrderCompleted, OrderCreated, OrderPaid, OrderShipped, Other,
    RefundCreated, RefundUpdated,
};

const REFUND: Option<&str> = Some("refund_amount");

/// The tags the plugin maps to a kind; every other tag becomes `other`.
#[rustfmt::skip]
pub const TAGS: &[TagInfo] = &[
    TagInfo { tag: "100", name: "doudian_trade_TradeCreate", kind: OrderCreated, time_field: "create_time", amount_field: None },
    TagInfo { tag: "101", name: "doudian_trade_TradePaid", kind: OrderPaid, time_field: "pay_time", amount_field: Some("pay_amount") },
    TagInfo { tag: "102", name: "doudian_trade_TradeSellerShip", kind: OrderShipped, time_field: "update_time", amount_field: None },
    TagInfo { tag: "103", name: "doudian_trade_TradeSuccess", kind: OrderCompleted, time_field: "complete_time", amount_field: None },
    TagInfo { tag: "104", name: "doudian_trade_TradeLogisticsChanged", kind: LogisticsUpdated, time_field: "update_time", amount_field: None },
    TagInfo { tag: "105", name: "doudian_trade_TradeAddressChanged", kind: Other, time_field: "update_time", amount_field: None },
    TagInfo { tag: "106", name: "doudian_trade_TradeCanceled", kind: OrderClosed, time_field: "cancel_time", amount_field: None },
    TagInfo { tag: "108", name: "doudian_trade_TradePartlySellerShip", kind: OrderShipped, time_field: "update_time", amount_field: None },
    TagInfo { tag: "200", name: "doudian_refund_RefundCreated", kind: RefundCreated, time_field: "apply_time", amount_field: REFUND },
    TagInfo { tag: "201", name: "doudian_refund_RefundAgreed", kind: RefundUpdated, time_field: "agree_time", amount_field: REFUND },
    TagInfo { tag: "202", name: "doudian_refund_ReturnApplyAgreed", kind: RefundUpdated, time_field: "update_time", amount_field: REFUND },
    TagInfo { tag: "203", name: "doudian_refund_BuyerReturnGoods", kind: RefundUpdated, time_field: "update_time", amount_field: REFUND },
    TagInfo { tag: "204", name: "doudian_refund_RefundRefused", kind: RefundUpdated, time_field: "refuse_time", amount_field: REFUND },
    TagInfo { tag: "205", name: "doudian_refund_ReturnApplyRefused", kind: RefundUpdated, time_field: "refuse_time", amount_field: REFUND },
    TagInfo { tag: "206", name: "doudian_refund_RefundSuccess", kind: RefundUpdated, time_field: "success_time", amount_field: REFUND },
    TagInfo { tag: "207", name: "doudian_refund_RefundClosed", kind: RefundUpdated, time_field: "close_time", amount_field: REFUND },
    TagInfo { tag: "208", name: "doudian_refund_RefundModified", kind: RefundUpdated, time_field: "modify_time", amount_field: REFUND },
];

/// What the plugin knows about `tag`, if it maps it to a kind.
pub fn tag_info(tag: &str) -> Option<&'static TagInfo> {
    TAGS.iter().find(|info| info.tag == tag)
}

fn subject(tag: &str) -> Option<Subject> {
    match tag.as_bytes().first() {
        Some(b'1') if tag.len() == 3 => Some(Subject::Order),
        Some(b'2') if tag.len() == 3 => Some(Subject::Refund),
        _ => None,
    }
}

/// Fields tried, in order, when the tag's own time field is missing.
const FALLBACK_TIME_FIELDS: &[&str] = &["update_time", "create_time", "pay_time", "apply_time"];

/// The event for one message (not the verification message). `now_ms` is
/// the event time when the message carries no timestamp.
pub fn event(message: &PushMessage, now_ms: i64) -> Result<Event, String> {
    let data = DataFields::parse(&message.data)?;
    let info = tag_info(&message.tag);
    let order_id = data.id("p_id")?;
    let refund_id = data.id("aftersale_id")?;
    let subject = subject(&message.tag);
    let business_key = match (subject, &order_id, &refund_id) {
        (Some(Subject::Refund), _, Some(refund)) => format!("refund_{refund}"),
        (Some(Subject::Refund), _, None) if info.is_some() => {
            return Err(format!(
                "tag {} is an after-sale message without `aftersale_id`",
                message.tag
            ));
        }
        (_, Some(order), _) => format!("trade_{order}"),
        (Some(Subject::Order), None, _) if info.is_some() => {
            return Err(format!(
                "tag {} is an order message without `p_id`",
                message.tag
            ));
        }
        (_, None, Some(refund)) => format!("refund_{refund}"),
        (_, None, None) => format!("message_{}", message.msg_id),
    };
    let (kind, status, amount) = match info {
        Some(info) => {
            let status_field = match subject {
                Some(Subject::Refund) => "aftersale_status",
                _ => "order_status",
            };
            let amount = match info.amount_field {
                Some(field) => data.yuan(field)?,
                None => None,
            };
            (info.kind, data.text(status_field), amount)
        }
        None => (
            CommerceKind::Other,
            data.text("order_status")
                .or_else(|| data.text("aftersale_status")),
            None,
        ),
    };
    let platform_time_ms = info
        .map(|info| info.time_field)
        .into_iter()
        .chain(FALLBACK_TIME_FIELDS.iter().copied())
        .find_map(|field| data.time_ms(field))
        .unwrap_or(now_ms);
    Ok(Event {
        platform_id: message.msg_id.clone(),
        conversation_id: business_key.clone(),
        platform_time_ms,
        route: Vec::new(),
        body: EventBody::Commerce(CommerceEvent {
            kind,
            topic: message.tag.clone(),
            business_key,
            order_id,
            refund_id,
            customer: None,
            status,
            amount,
            detail_json: message.data.clone(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(tag: &str, data: &str) -> PushMessage {
        PushMessage {
            tag: tag.into(),
            msg_id: "m-1".into(),
            data: data.into(),
        }
    }

    fn commerce(event: &Event) -> &CommerceEvent {
        match &event.body {
            EventBody::Commerce(c) => c,
            other => panic!("not commerce: {other:?}"),
        }
    }

    #[test]
    fn order_paid() {
        let data = r#"{"p_id":3000000000000000001,"s_ids":[3000000000000000002],"shop_id":12345,"order_status":2,"order_type":0,"pay_type":1,"biz":2,"pay_time":1700000000,"pay_amount":9900}"#;
        let event = event(&message("101", data), 5).unwrap();
        assert_eq!(event.platform_id, "m-1");
        assert_eq!(event.conversation_id, "trade_3000000000000000001");
        assert_eq!(event.platform_time_ms, 1_700_000_000_000);
        assert!(event.route.is_empty());
        let c = commerce(&event);
        assert_eq!(c.kind, CommerceKind::OrderPaid);
        assert_eq!(c.topic, "101");
        assert_eq!(c.business_key, "trade_3000000000000000001");
        assert_eq!(c.order_id.as_deref(), Some("3000000000000000001"));
        assert_eq!(c.refund_id, None);
        assert_eq!(c.customer, None);
        assert_eq!(c.status.as_deref(), Some("2"));
        assert_eq!(c.amount.as_deref(), Some("99.00"));
        assert_eq!(c.detail_json, data);
    }

    #[test]
    fn order_created_without_a_timestamp_uses_the_receipt_time() {
        let data = r#"{"p_id":6900000000000000000,"shop_id":12345,"order_status":1}"#;
        let event = event(&message("100", data), 1_700_000_123_000).unwrap();
        assert_eq!(event.platform_time_ms, 1_700_000_123_000);
        let c = commerce(&event);
        assert_eq!(c.kind, CommerceKind::OrderCreated);
        assert_eq!(c.order_id.as_deref(), Some("6900000000000000000"));
        assert_eq!(c.amount, None);
        assert_eq!(c.status.as_deref(), Some("1"));
    }

    #[test]
    fn refunds_coalesce_on_the_after_sale() {
        let data = r#"{"aftersale_id":7100000000000000001,"aftersale_status":6,"aftersale_type":2,"apply_time":1700000100,"p_id":3000000000000000001,"s_id":3000000000000000002,"refund_amount":9900,"shop_id":12345}"#;
        let event = event(&message("200", data), 0).unwrap();
        let c = commerce(&event);
        assert_eq!(c.kind, CommerceKind::RefundCreated);
        assert_eq!(c.business_key, "refund_7100000000000000001");
        assert_eq!(event.conversation_id, "refund_7100000000000000001");
        assert_eq!(c.refund_id.as_deref(), Some("7100000000000000001"));
        assert_eq!(c.order_id.as_deref(), Some("3000000000000000001"));
        assert_eq!(c.status.as_deref(), Some("6"));
        assert_eq!(c.amount.as_deref(), Some("99.00"));
        assert_eq!(event.platform_time_ms, 1_700_000_100_000);
        let success = event_for(
            "206",
            r#"{"aftersale_id":"7100000000000000001","success_time":1700000200,"refund_amount":100}"#,
        );
        assert_eq!(commerce(&success).kind, CommerceKind::RefundUpdated);
        assert_eq!(success.platform_time_ms, 1_700_000_200_000);
    }

    fn event_for(tag: &str, data: &str) -> Event {
        event(&message(tag, data), 0).unwrap()
    }

    #[test]
    fn kinds_by_tag() {
        let order = r#"{"p_id":1,"update_time":1700000000}"#;
        for (tag, kind) in [
            ("102", CommerceKind::OrderShipped),
            ("103", CommerceKind::OrderCompleted),
            ("104", CommerceKind::LogisticsUpdated),
            ("105", CommerceKind::Other),
            ("106", CommerceKind::OrderClosed),
            ("108", CommerceKind::OrderShipped),
        ] {
            let event = event_for(tag, order);
            assert_eq!(commerce(&event).kind, kind, "tag {tag}");
            assert_eq!(commerce(&event).business_key, "trade_1");
        }
        let cancel = event_for(
            "106",
            r#"{"p_id":1,"cancel_time":1700000300,"update_time":1}"#,
        );
        assert_eq!(cancel.platform_time_ms, 1_700_000_300_000);
    }

    #[test]
    fn unknown_tags_are_kept_as_other() {
        let event = event_for("999", r#"{"product_id":"3600000000000000001","event":"x"}"#);
        let c = commerce(&event);
        assert_eq!(c.kind, CommerceKind::Other);
        assert_eq!(c.topic, "999");
        assert_eq!(c.business_key, "message_m-1");
        assert_eq!(
            c.detail_json,
            r#"{"product_id":"3600000000000000001","event":"x"}"#
        );
        // An unknown tag that names an order still coalesces on it.
        let with_order = event_for("120", r#"{"p_id":42}"#);
        assert_eq!(commerce(&with_order).business_key, "trade_42");
        assert_eq!(commerce(&with_order).kind, CommerceKind::Other);
    }

    #[test]
    fn known_tags_need_their_ids() {
        assert!(
            event(&message("101", r#"{"pay_amount":1}"#), 0)
                .unwrap_err()
                .contains("without `p_id`")
        );
        assert!(
            event(&message("200", r#"{"p_id":1}"#), 0)
                .unwrap_err()
                .contains("without `aftersale_id`")
        );
        assert!(
            event(&message("101", r#"{"p_id":6.9e18}"#), 0)
                .unwrap_err()
                .contains("not an integer id")
        );
        assert!(event(&message("101", r#"{"p_id":1,"pay_amount":"a lot"}"#), 0).is_err());
        assert!(event(&message("101", "[]"), 0).is_err());
    }
}
