//! Which care trigger a commerce event is, and what it does to the order's
//! stuck-parcel watch. Platforms name the same moments differently (TOP's
//! `taobao_refund_RefundSuccess`, 抖店's `doudian_refund_RefundAgreed`, a
//! logistics status of `SIGNED`): the names here are the ones the bundled
//! plugins deliver.

use crate::config::CareTrigger;
use crate::model::{CommerceEvent, CommerceKind};

/// Topic endings that mean a refund was approved or paid.
const REFUND_APPROVED_TOPICS: &[&str] = &[
    "RefundSuccess",
    "RefundAgreed",
    "ReturnApplyAgreed",
    "RefundSellerAgreeAgreement",
];

/// Refund statuses that mean the same (TOP's refund `status`: the refund
/// was paid).
const REFUND_APPROVED_STATUSES: &[&str] = &["SUCCESS"];

/// Logistics statuses that mean the parcel was signed for.
const SIGNED_STATUSES: &[&str] = &["SIGN", "SIGNED", "TRADE_BUYER_SIGNED", "签收", "已签收"];

/// The trigger an event is, if any.
pub fn trigger_of(event: &CommerceEvent) -> Option<CareTrigger> {
    match event.kind {
        CommerceKind::OrderPaid => Some(CareTrigger::Paid),
        CommerceKind::OrderShipped => Some(CareTrigger::Shipped),
        CommerceKind::OrderCompleted => Some(CareTrigger::SignedFor),
        CommerceKind::LogisticsUpdated if signed_for(event) => Some(CareTrigger::SignedFor),
        CommerceKind::RefundUpdated if refund_approved(event) => Some(CareTrigger::RefundApproved),
        _ => None,
    }
}

/// What an event does to the order's stuck-parcel watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEffect {
    /// The parcel moved (or left): watch from now.
    Restart,
    /// It arrived, or the order ended: stop watching.
    Stop,
    /// Nothing.
    Keep,
}

/// The event's effect on the watch.
pub fn watch_effect(event: &CommerceEvent) -> WatchEffect {
    match event.kind {
        CommerceKind::OrderShipped => WatchEffect::Restart,
        CommerceKind::LogisticsUpdated if signed_for(event) => WatchEffect::Stop,
        CommerceKind::LogisticsUpdated => WatchEffect::Restart,
        CommerceKind::OrderCompleted | CommerceKind::OrderClosed => WatchEffect::Stop,
        _ => WatchEffect::Keep,
    }
}

fn signed_for(event: &CommerceEvent) -> bool {
    event.status.as_deref().is_some_and(|status| {
        SIGNED_STATUSES.contains(&status.trim().to_ascii_uppercase().as_str())
    })
}

fn refund_approved(event: &CommerceEvent) -> bool {
    REFUND_APPROVED_TOPICS
        .iter()
        .any(|ending| event.topic.ends_with(ending))
        || event
            .status
            .as_deref()
            .is_some_and(|status| REFUND_APPROVED_STATUSES.contains(&status))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: CommerceKind, topic: &str, status: Option<&str>) -> CommerceEvent {
        CommerceEvent {
            kind,
            topic: topic.into(),
            business_key: "trade_1".into(),
            order_id: Some("1".into()),
            refund_id: None,
            customer: None,
            status: status.map(String::from),
            amount: None,
            detail_json: "{}".into(),
        }
    }

    #[test]
    fn platform_moments_map_to_triggers() {
        use CommerceKind::*;
        let cases = [
            (
                event(OrderPaid, "taobao_trade_TradeBuyerPay", None),
                Some(CareTrigger::Paid),
            ),
            (
                event(OrderShipped, "doudian_trade_TradeSellerShip", None),
                Some(CareTrigger::Shipped),
            ),
            (
                event(OrderCompleted, "taobao_trade_TradeSuccess", None),
                Some(CareTrigger::SignedFor),
            ),
            (
                event(LogisticsUpdated, "x", Some("SIGNED")),
                Some(CareTrigger::SignedFor),
            ),
            (
                event(LogisticsUpdated, "x", Some("已签收")),
                Some(CareTrigger::SignedFor),
            ),
            (event(LogisticsUpdated, "x", Some("TRANSPORT")), None),
            (event(LogisticsUpdated, "x", Some("SIGN_FAILED")), None),
            (event(LogisticsUpdated, "x", Some("ASSIGNED")), None),
            (event(LogisticsUpdated, "x", Some("未签收")), None),
            (
                event(RefundUpdated, "taobao_refund_RefundSuccess", None),
                Some(CareTrigger::RefundApproved),
            ),
            (
                event(RefundUpdated, "doudian_refund_RefundAgreed", None),
                Some(CareTrigger::RefundApproved),
            ),
            (
                event(
                    RefundUpdated,
                    "taobao_refund_RefundSellerRefuseAgreement",
                    Some("SELLER_REFUSE_BUYER"),
                ),
                None,
            ),
            (
                event(
                    RefundCreated,
                    "taobao_refund_RefundCreated",
                    Some("WAIT_SELLER_AGREE"),
                ),
                None,
            ),
            (event(OrderCreated, "taobao_trade_TradeCreate", None), None),
        ];
        for (event, expected) in cases {
            assert_eq!(trigger_of(&event), expected, "{event:?}");
        }
    }

    #[test]
    fn a_parcel_is_watched_from_shipping_until_it_is_signed_for() {
        use CommerceKind::*;
        assert_eq!(
            watch_effect(&event(OrderShipped, "t", None)),
            WatchEffect::Restart
        );
        assert_eq!(
            watch_effect(&event(LogisticsUpdated, "t", Some("TRANSPORT"))),
            WatchEffect::Restart
        );
        assert_eq!(
            watch_effect(&event(LogisticsUpdated, "t", Some("SIGNED"))),
            WatchEffect::Stop
        );
        assert_eq!(
            watch_effect(&event(OrderClosed, "t", None)),
            WatchEffect::Stop
        );
        assert_eq!(
            watch_effect(&event(OrderPaid, "t", None)),
            WatchEffect::Keep
        );
    }
}
