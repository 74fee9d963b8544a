//! TMC messages (from the stream or from `taobao.tmc.messages.consume`) as
//! normalized commerce events: the kind from the topic, the business key
//! Taobao's own de-duplicating handler uses (`trade_{tid}`,
//! `refund_{refund_id}`, `item_{num_iid}`), the buyer's `buyer_open_uid`,
//! and `{topic}:{id}` as the dedupe key.

use serde_json::Value as Json;
use tongdao_sdk::*;

/// One TMC message, whichever way it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TmcMessage {
    /// The message id (the id a confirm names).
    pub id: String,
    /// The topic, e.g. `taobao_trade_TradeBuyerPay`.
    pub topic: String,
    /// The message body: JSON text.
    pub content: String,
    /// When it was published, Unix milliseconds, if the platform said.
    pub published_ms: Option<i64>,
    /// The seller's nick the message concerns.
    pub user_nick: Option<String>,
    /// The seller's user id the message concerns.
    pub user_id: Option<String>,
}

/// The commerce kind a topic announces.
pub fn kind_of(topic: &str) -> CommerceKind {
    let name = topic.rsplit('_').next().unwrap_or(topic);
    if topic.starts_with("taobao_trade_") {
        match name {
            "TradeCreate" => CommerceKind::OrderCreated,
            "TradeBuyerPay" => CommerceKind::OrderPaid,
            "TradeSellerShip" | "TradePartlySellerShip" => CommerceKind::OrderShipped,
            "TradeSuccess" => CommerceKind::OrderCompleted,
            "TradeClose" | "TradeCloseAndModifyDetailOrder" => CommerceKind::OrderClosed,
            "TradeRated" => CommerceKind::ReviewCreated,
            "TradeLogisticsAddressChanged" => CommerceKind::LogisticsUpdated,
            _ => CommerceKind::Other,
        }
    } else if topic.starts_with("taobao_refund_") {
        match name {
            "RefundCreated" | "RefundCreate" => CommerceKind::RefundCreated,
            _ => CommerceKind::RefundUpdated,
        }
    } else if topic.starts_with("taobao_logistics_") {
        CommerceKind::LogisticsUpdated
    } else {
        CommerceKind::Other
    }
}

/// A field of the content as text (TMC writes ids as numbers or strings).
fn text(content: &Json, field: &str) -> Option<String> {
    match content.get(field)? {
        Json::String(s) if !s.is_empty() => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The normalized event for `message`.
pub fn event(message: &TmcMessage, now_ms: i64) -> Event {
    let content: Option<Json> = serde_json::from_str(&message.content)
        .ok()
        .filter(Json::is_object);
    let field = |name: &str| content.as_ref().and_then(|c| text(c, name));
    let kind = kind_of(&message.topic);
    let order_id = field("tid");
    let refund_id = field("refund_id");
    let business_key = if message.topic.starts_with("taobao_refund_") && refund_id.is_some() {
        format!("refund_{}", refund_id.as_deref().unwrap_or_default())
    } else if message.topic.starts_with("taobao_item_") && field("num_iid").is_some() {
        format!("item_{}", field("num_iid").unwrap_or_default())
    } else if let Some(tid) = &order_id {
        format!("trade_{tid}")
    } else {
        format!("tmc_{}", message.id)
    };
    let amount = if message.topic.starts_with("taobao_refund_") {
        field("refund_fee")
    } else {
        field("payment").or_else(|| field("total_fee"))
    }
    .and_then(|a| money::yuan(&a));
    let customer = field("buyer_open_uid").map(|open_uid| {
        let mut hints = Vec::new();
        if let Some(ouid) = field("ouid") {
            hints.push(IdentityHint {
                kind: "taobao-ouid".into(),
                value: ouid,
            });
        }
        if let Some(omid) = field("omid") {
            hints.push(IdentityHint {
                kind: "taobao-omid".into(),
                value: omid,
            });
        }
        Identity {
            platform_user_id: open_uid,
            display_name: None,
            hints,
        }
    });
    let status = field("status").or_else(|| field("refund_phase"));
    let detail_json = match &content {
        Some(_) => message.content.clone(),
        // Not JSON: kept as a JSON string so nothing is lost.
        None => Json::String(message.content.clone()).to_string(),
    };
    let mut route = vec![Pair::new("topic", message.topic.clone())];
    if let Some(nick) = &message.user_nick {
        route.push(Pair::new("seller_nick", nick.clone()));
    }
    if let Some(user_id) = &message.user_id {
        route.push(Pair::new("seller_id", user_id.clone()));
    }
    Event {
        platform_id: format!("{}:{}", message.topic, message.id),
        conversation_id: business_key.clone(),
        platform_time_ms: message.published_ms.unwrap_or(now_ms),
        route,
        body: EventBody::Commerce(CommerceEvent {
            kind,
            topic: message.topic.clone(),
            business_key,
            order_id,
            refund_id,
            customer,
            status,
            amount,
            detail_json,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(topic: &str, content: &str) -> TmcMessage {
        TmcMessage {
            id: "4380000000000001".into(),
            topic: topic.into(),
            content: content.into(),
            published_ms: Some(1_714_037_059_000),
            user_nick: Some("demo_shop".into()),
            user_id: Some("2200000000001".into()),
        }
    }

    fn commerce(event: &Event) -> &CommerceEvent {
        match &event.body {
            EventBody::Commerce(c) => c,
            other => panic!("not commerce: {other:?}"),
        }
    }

    #[test]
    fn a_paid_trade_becomes_order_paid() {
        let content = r#"{"tid":3000000000000000001,"oid":3000000000000000001,"buyer_nick":"t**1","buyer_open_uid":"AAGM90gYAAjcqSrFKsJi7Izh","payment":"99.00","status":"WAIT_SELLER_SEND_GOODS","type":"guarantee_trade","seller_nick":"demo_shop"}"#;
        let event = event(&message("taobao_trade_TradeBuyerPay", content), 0);
        assert_eq!(
            event.platform_id,
            "taobao_trade_TradeBuyerPay:4380000000000001"
        );
        assert_eq!(event.conversation_id, "trade_3000000000000000001");
        assert_eq!(event.platform_time_ms, 1_714_037_059_000);
        let c = commerce(&event);
        assert_eq!(c.kind, CommerceKind::OrderPaid);
        assert_eq!(c.business_key, "trade_3000000000000000001");
        assert_eq!(c.order_id.as_deref(), Some("3000000000000000001"));
        assert_eq!(c.refund_id, None);
        assert_eq!(c.amount.as_deref(), Some("99.00"));
        assert_eq!(c.status.as_deref(), Some("WAIT_SELLER_SEND_GOODS"));
        assert_eq!(
            c.customer,
            Some(Identity::new("AAGM90gYAAjcqSrFKsJi7Izh")),
            "the masked nick is not a name to show or merge on"
        );
        assert_eq!(c.detail_json, content);
        assert_eq!(
            event.route,
            vec![
                Pair::new("topic", "taobao_trade_TradeBuyerPay"),
                Pair::new("seller_nick", "demo_shop"),
                Pair::new("seller_id", "2200000000001"),
            ]
        );
    }

    #[test]
    fn a_refund_is_keyed_by_its_refund_id() {
        let content = r#"{"refund_id":"7000000000000001","tid":3000000000000000001,"oid":3000000000000000001,"refund_fee":"99","refund_phase":"onsale","buyer_open_uid":"AAGM","ouid":"OU1"}"#;
        let event = event(&message("taobao_refund_RefundCreated", content), 0);
        let c = commerce(&event);
        assert_eq!(c.kind, CommerceKind::RefundCreated);
        assert_eq!(c.business_key, "refund_7000000000000001");
        assert_eq!(event.conversation_id, "refund_7000000000000001");
        assert_eq!(c.refund_id.as_deref(), Some("7000000000000001"));
        assert_eq!(c.order_id.as_deref(), Some("3000000000000000001"));
        assert_eq!(c.amount.as_deref(), Some("99.00"));
        assert_eq!(c.status.as_deref(), Some("onsale"));
        assert_eq!(
            c.customer.as_ref().unwrap().hints,
            vec![IdentityHint {
                kind: "taobao-ouid".into(),
                value: "OU1".into()
            }]
        );
    }

    #[test]
    fn topics_map_to_kinds() {
        for (topic, kind) in [
            ("taobao_trade_TradeCreate", CommerceKind::OrderCreated),
            ("taobao_trade_TradeBuyerPay", CommerceKind::OrderPaid),
            ("taobao_trade_TradeSellerShip", CommerceKind::OrderShipped),
            ("taobao_trade_TradeSuccess", CommerceKind::OrderCompleted),
            ("taobao_trade_TradeClose", CommerceKind::OrderClosed),
            ("taobao_trade_TradeRated", CommerceKind::ReviewCreated),
            ("taobao_refund_RefundCreated", CommerceKind::RefundCreated),
            ("taobao_refund_RefundSuccess", CommerceKind::RefundUpdated),
            ("taobao_refund_RefundClosed", CommerceKind::RefundUpdated),
            ("taobao_item_ItemAdd", CommerceKind::Other),
            ("taobao_trade_TradeMemoModified", CommerceKind::Other),
        ] {
            assert_eq!(kind_of(topic), kind, "{topic}");
        }
    }

    #[test]
    fn content_that_is_not_json_is_kept_as_a_string() {
        let event = event(&message("taobao_trade_TradeCreate", "not json"), 5);
        let c = commerce(&event);
        assert_eq!(c.detail_json, "\"not json\"");
        assert_eq!(c.business_key, "tmc_4380000000000001");
        assert_eq!(c.order_id, None);
    }

    #[test]
    fn items_are_keyed_by_num_iid() {
        let event = event(&message("taobao_item_ItemUpdate", r#"{"num_iid":12}"#), 5);
        assert_eq!(commerce(&event).business_key, "item_12");
    }
}
