//! Risk alerts: a customer who threatens a complaint (投诉, 12315, 曝光, a
//! 差评 threat) or stays angry over several messages raises an alert as the
//! pipeline decides about the message, in the same commit, once per
//! conversation and kind. The console's supervisors see it at once; where
//! the config names a shop to carry alerts (`[alerts] via_shop`), the alert
//! also goes out as a message to that shop's group — a WeCom shop's plugin
//! posts it to its group robot — through the outbox, so the plugin renders
//! it and the host's egress rules and retries apply.

use crate::config::AlertsConfig;
use crate::model::{Action, ActionKind, Content, NewAction, Pair, RiskAlert, StoredEvent};
use crate::responder::NegativeMessage;
use crate::store::{RiskUpdate, Store};
use sha2::{Digest, Sha256};

/// The route name that tells a plugin a message is not for a customer.
pub const TARGET_ROUTE: &str = "tongdao-target";
/// [`TARGET_ROUTE`]'s value for the shop's group robot.
pub const TARGET_GROUP_ROBOT: &str = "group-robot";
/// The conversation id alerts to a group are queued under.
pub const ALERT_CONVERSATION: &str = "tongdao-risk-alerts";
/// The longest quote of the customer's message in an alert, in characters.
const QUOTE_CHARS: usize = 200;

/// What a negative message changes: the conversation's new risk state,
/// with the alert raised if any, and the message that carries the alert to
/// the group.
pub fn observe(
    store: &dyn Store,
    config: &AlertsConfig,
    stored: &StoredEvent,
    customer: &str,
    text: &str,
    negative: &NegativeMessage,
) -> anyhow::Result<(RiskUpdate, Option<NewAction>)> {
    let conversation = &stored.event.conversation_id;
    let mut state = store
        .risk_state(&stored.shop, conversation)?
        .unwrap_or_default();
    // Anger is timed by when the customer wrote: a backlog delivered at
    // once (a poll page) is not anger sustained within minutes.
    let written_ms = if stored.event.platform_time_ms > 0 {
        stored.event.platform_time_ms
    } else {
        stored.received_ms
    };
    let kind = state.observe(
        true,
        negative.threatens,
        written_ms,
        config.anger_messages,
        config.anger_window.as_millis() as i64,
    );
    let alert = kind.map(|kind| RiskAlert {
        shop: stored.shop.clone(),
        conversation: conversation.clone(),
        customer: customer.to_owned(),
        kind,
        message: text.chars().take(QUOTE_CHARS).collect(),
        cues: negative.cues.clone(),
        at_ms: stored.received_ms,
    });
    let to_group = match (&alert, &config.via_shop) {
        (Some(alert), Some(via_shop)) => Some(group_message(alert, via_shop)),
        _ => None,
    };
    Ok((
        RiskUpdate {
            conversation: conversation.clone(),
            state,
            alert,
        },
        to_group,
    ))
}

/// The alert in words, for a group chat.
pub fn alert_text(alert: &RiskAlert) -> String {
    format!(
        "【{}】店铺 {} · 客户 {}\n「{}」\n线索：{}\n会话：{}/{}",
        alert.kind.zh(),
        alert.shop,
        alert.customer,
        alert.message,
        alert.cues,
        alert.shop,
        alert.conversation
    )
}

/// The message that carries `alert` to `via_shop`'s group. Its idempotency
/// key comes from the conversation, the kind and the time, which raise one
/// alert.
fn group_message(alert: &RiskAlert, via_shop: &str) -> NewAction {
    let key = Sha256::digest(
        format!(
            "risk-alert\n{}\n{}\n{}\n{}",
            alert.shop,
            alert.conversation,
            alert.kind.as_str(),
            alert.at_ms
        )
        .as_bytes(),
    );
    NewAction {
        shop: via_shop.to_owned(),
        action: Action {
            idempotency_key: hex::encode(&key[..16]),
            conversation_id: ALERT_CONVERSATION.to_owned(),
            recipient: TARGET_GROUP_ROBOT.to_owned(),
            route: vec![Pair {
                name: TARGET_ROUTE.to_owned(),
                value: TARGET_GROUP_ROBOT.to_owned(),
            }],
            kind: ActionKind::SendMessage(Content::Text(alert_text(alert))),
            attempt: 0,
        },
        sent_by: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RiskKind;

    #[test]
    fn the_group_hears_what_who_and_where_once_per_conversation_and_kind() {
        let alert = RiskAlert {
            shop: "demo-oa".into(),
            conversation: "oAngry".into(),
            customer: "oAngry".into(),
            kind: RiskKind::ComplaintThreat,
            message: "再不退款我就打12315投诉你们".into(),
            cues: "p=0.97: 12315, 投诉".into(),
            at_ms: 0,
        };
        let text = alert_text(&alert);
        assert!(text.starts_with("【投诉风险】店铺 demo-oa"), "{text}");
        assert!(text.contains("「再不退款我就打12315投诉你们」"), "{text}");
        let first = group_message(&alert, "kf");
        let again = group_message(&alert, "kf");
        assert_eq!(first.action.idempotency_key, again.action.idempotency_key);
        let anger = group_message(
            &RiskAlert {
                kind: RiskKind::SustainedAnger,
                ..alert
            },
            "kf",
        );
        assert_ne!(first.action.idempotency_key, anger.action.idempotency_key);
        assert_eq!(first.shop, "kf");
    }
}
