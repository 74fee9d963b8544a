//! Proactive care (主动关怀): a shop's rules turn its order, refund and
//! logistics events into messages to the customer (a thank-you when paid,
//! the waybill when shipped, a survey when signed for, a confirmation when
//! a refund is approved, an apology when a parcel is stuck), sent only
//! through a mechanism the platform allows ([`reach`]), never in quiet
//! hours (one due then waits), never over the customer's cap, never after
//! they opted out (退订), and at most once per (order, rule): the outbox
//! key is derived from them and the store records each rule's outcome in
//! the same commit that queues the message.

pub mod opt_out;
pub mod reach;
pub mod trigger;

mod quiet;

use crate::clock;
use crate::config::{CareConfig, CareRule, CareTrigger, placeholder_names};
use crate::model::{
    CareChanges, CareSend, CareWatch, CommerceEvent, Identity, StoredEvent, WatchChange,
};
use crate::shops::{Shop, Shops};
use crate::store::Store;
use reach::Letter;
use sha2::{Digest, Sha256};
use trigger::WatchEffect;

/// Fields of a platform's payload that carry the waybill number.
const WAYBILL_FIELDS: &[&str] = &[
    "out_sid",
    "waybill_no",
    "logistics_no",
    "express_no",
    "tracking_no",
];

/// What care decides about a commerce event of `shop`: the rules it fires
/// and the order's stuck-parcel watch.
pub fn on_commerce(
    store: &dyn Store,
    shops: &Shops,
    shop: &Shop,
    stored: &StoredEvent,
    event: &CommerceEvent,
) -> anyhow::Result<Option<CareChanges>> {
    let Some(care) = &shop.config.care else {
        return Ok(None);
    };
    let Some(order) = event.order_id.as_deref().filter(|id| !id.is_empty()) else {
        return Ok(None);
    };
    let fields = fields_of(event);
    let at_ms = event_time(stored);
    let mut changes = CareChanges::default();
    if let (Some(trigger), Some(buyer)) = (trigger::trigger_of(event), &event.customer) {
        for rule in care.rules.iter().filter(|rule| rule.on == trigger) {
            changes.sends.push(send(
                store,
                shops,
                care,
                shop.id(),
                order,
                buyer,
                rule,
                &fields,
                at_ms,
            )?);
        }
    }
    if let Some(stuck) = care.rules.iter().find(|rule| rule.on == CareTrigger::Stuck) {
        // Counted from when the host learned of the update: a backlog
        // decided late does not find its watch already overdue.
        let due_ms = stored.received_ms + stuck.stuck_after.unwrap_or_default().as_millis() as i64;
        let (shop_id, order_id) = (shop.id().to_owned(), order.to_owned());
        changes.watch = match (trigger::watch_effect(event), &event.customer) {
            (WatchEffect::Restart, Some(buyer)) => Some(WatchChange::Set(CareWatch {
                shop: shop_id,
                order: order_id,
                customer: buyer.platform_user_id.clone(),
                due_ms,
                fields,
            })),
            (WatchEffect::Restart, None) => Some(WatchChange::PushBack {
                shop: shop_id,
                order: order_id,
                due_ms,
            }),
            (WatchEffect::Stop, _) => Some(WatchChange::Cancel {
                shop: shop_id,
                order: order_id,
            }),
            (WatchEffect::Keep, _) => None,
        };
    }
    Ok((!changes.sends.is_empty() || changes.watch.is_some()).then_some(changes))
}

/// Refuses to start when a shop's care goes through a channel that cannot
/// carry it (a Tmall, JD or 抖店 shop: none offers a way to message a
/// buyer first).
pub fn check_channels(shops: &Shops, config_path: &std::path::Path) -> anyhow::Result<()> {
    for shop in shops.iter() {
        let Some(care) = &shop.config.care else {
            continue;
        };
        for via in &care.via {
            if let Some(channel) = shops.get(via)
                && !reach::can_carry(channel)
            {
                anyhow::bail!(
                    "{}: shops.{}.care.via: shop `{via}` ({}) has no way to message a customer first: its platform offers neither a notification API nor a reply window",
                    config_path.display(),
                    shop.id(),
                    channel.plugin().manifest.platform,
                );
            }
        }
    }
    Ok(())
}

/// Fires the `stuck` rule of every watch due by `now_ms`. Returns how many
/// messages were queued.
pub fn fire_stuck_parcels(store: &dyn Store, shops: &Shops, now_ms: i64) -> anyhow::Result<usize> {
    let mut queued = 0;
    for watch in store.due_care_watches(now_ms, 256)? {
        match fire_watch(store, shops, &watch, now_ms) {
            Ok(true) => queued += 1,
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(shop = %watch.shop, order = %watch.order, error = %format!("{err:#}"), "a stuck-parcel watch could not fire; it is tried again");
            }
        }
    }
    Ok(queued)
}

/// Fires one due watch; a watch whose shop no longer has a `stuck` rule is
/// dropped. Whether a message was queued.
fn fire_watch(
    store: &dyn Store,
    shops: &Shops,
    watch: &CareWatch,
    now_ms: i64,
) -> anyhow::Result<bool> {
    let rule = shops.get(&watch.shop).and_then(|shop| {
        let care = shop.config.care.as_ref()?;
        let rule = care
            .rules
            .iter()
            .find(|rule| rule.on == CareTrigger::Stuck)?;
        Some((care, rule))
    });
    let Some((care, rule)) = rule else {
        store.fire_care_watch(watch, None, now_ms)?;
        return Ok(false);
    };
    let buyer = Identity {
        platform_user_id: watch.customer.clone(),
        display_name: None,
        hints: Vec::new(),
    };
    let send = send(
        store,
        shops,
        care,
        &watch.shop,
        &watch.order,
        &buyer,
        rule,
        &watch.fields,
        now_ms,
    )?;
    Ok(store.fire_care_watch(watch, Some(&send), now_ms)?.is_some())
}

/// One rule's message for one order, due at `at_ms` (or after the quiet
/// hours), with where it goes or why it cannot.
#[allow(clippy::too_many_arguments)]
fn send(
    store: &dyn Store,
    shops: &Shops,
    care: &CareConfig,
    shop: &str,
    order: &str,
    buyer: &Identity,
    rule: &CareRule,
    fields: &[(String, String)],
    at_ms: i64,
) -> anyhow::Result<CareSend> {
    let due_ms = match &care.quiet_hours {
        Some(quiet) => quiet.release(at_ms.max(clock::now_ms())),
        None => at_ms.max(clock::now_ms()),
    };
    let letter = Letter {
        rule,
        text: fill(&rule.text, fields),
        fields: rule
            .wechat
            .iter()
            .flat_map(|notice| &notice.fields)
            .map(|(name, value)| (name.clone(), fill(value, fields)))
            .collect(),
        key: idempotency_key(shop, order, &rule.name),
        shop: shop.to_owned(),
    };
    let message = reach::reach(store, shops, care, shop, buyer, &letter, due_ms)?;
    Ok(CareSend {
        shop: shop.to_owned(),
        order: order.to_owned(),
        rule: rule.name.clone(),
        message,
        due_ms,
        most_per_customer: care.most_per_customer,
        cap_window_ms: care.cap_window.as_millis() as i64,
    })
}

/// When a care message whose attempt is due at `at_ms` may be tried: after
/// the quiet hours of the shop whose rule sent it (from its route), so a
/// retry does not land in them either. Other actions: `at_ms`.
pub fn next_attempt(shops: &Shops, route: &[crate::model::Pair], at_ms: i64) -> i64 {
    route
        .iter()
        .find(|pair| pair.name == reach::CARE_ROUTE)
        .and_then(|pair| shops.get(&pair.value))
        .and_then(|shop| shop.config.care.as_ref()?.quiet_hours)
        .map_or(at_ms, |quiet| quiet.release(at_ms))
}

/// The outbox key of a rule's message about an order: 32 hex characters of
/// a hash of the shop, the order and the rule, so the same (order, rule)
/// can never queue two messages, whatever events or restarts lead to it.
pub fn idempotency_key(shop: &str, order: &str, rule: &str) -> String {
    let mut hash = Sha256::new();
    for part in ["care", shop, order, rule] {
        hash.update((part.len() as u32).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hex::encode(&hash.finalize()[..16])
}

/// When an event happened: the platform's time, unless it claims to be
/// later than its arrival.
fn event_time(stored: &StoredEvent) -> i64 {
    match stored.event.platform_time_ms {
        at if at > 0 => at.min(stored.received_ms),
        _ => stored.received_ms,
    }
}

/// The placeholders' values from an event.
fn fields_of(event: &CommerceEvent) -> Vec<(String, String)> {
    let detail: serde_json::Value = serde_json::from_str(&event.detail_json).unwrap_or_default();
    let waybill = WAYBILL_FIELDS
        .iter()
        .find_map(|name| match detail.get(name)? {
            serde_json::Value::String(text) if !text.is_empty() => Some(text.clone()),
            serde_json::Value::Number(number) => Some(number.to_string()),
            _ => None,
        });
    [
        ("order_id", event.order_id.clone()),
        ("refund_id", event.refund_id.clone()),
        ("amount", event.amount.clone()),
        ("status", event.status.clone()),
        ("waybill", waybill),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some((name.to_owned(), value?)))
    .collect()
}

/// `template` with each `{name}` replaced by its value (empty when the
/// event had none).
fn fill(template: &str, fields: &[(String, String)]) -> String {
    let mut text = template.to_owned();
    for name in placeholder_names(template).collect::<Vec<_>>() {
        let value = fields
            .iter()
            .find(|(field, _)| field == name)
            .map_or("", |(_, value)| value.as_str());
        text = text.replace(&format!("{{{name}}}"), value);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_from_the_event() {
        let fields = vec![
            ("order_id".to_owned(), "3001".to_owned()),
            ("waybill".to_owned(), "SF123".to_owned()),
        ];
        assert_eq!(
            fill("订单{order_id}已发货，运单号{waybill}{amount}", &fields),
            "订单3001已发货，运单号SF123"
        );
    }

    #[test]
    fn the_key_is_the_order_and_the_rule_only() {
        let key = idempotency_key("tmall", "3001", "thanks");
        assert_eq!(key.len(), 32);
        assert_eq!(key, idempotency_key("tmall", "3001", "thanks"));
        assert_ne!(key, idempotency_key("tmall", "3001", "shipped"));
        assert_ne!(key, idempotency_key("tmall", "30013", "thanks"));
        assert_ne!(
            idempotency_key("a", "bc", "d"),
            idempotency_key("ab", "c", "d")
        );
    }
}
