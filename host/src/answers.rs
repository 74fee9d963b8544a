//! Answering a customer from an order or logistics look-up: when a look-up
//! the bot made for a customer's question ends, the customer gets the
//! result in words (state, carrier, tracking number, the parcel's latest
//! step) — or, if the look-up failed or said nothing useful, the knowledge
//! base's answer. Plugins give results as the SDK's `OrderSummary` JSON.

use crate::kb::{Bot, Decision};
use crate::model::{Action, ActionKind, Content, EventBody, NewAction, OutboxItem, customer_text};
use crate::store::Store;
use serde::Deserialize;

/// The host's reading of a plugin's `OrderSummary` (every field optional:
/// a plugin that says little still gets an answer).
#[derive(Debug, Default, Deserialize)]
struct Summary {
    order_id: Option<String>,
    state: Option<String>,
    status: Option<String>,
    amount: Option<String>,
    #[serde(default)]
    shipments: Vec<ShipmentView>,
}

/// An order as the console's customer panel shows it, from a look-up's
/// result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderView {
    /// The order id.
    pub order_id: String,
    /// Where it stands, in words.
    pub state: String,
    /// The amount paid, if the platform said.
    pub amount: Option<String>,
    /// The first parcel: carrier, tracking number and latest step.
    pub parcel: Option<String>,
}

/// The order a look-up's result describes, if it names one.
pub fn order_view(result_json: &str) -> Option<OrderView> {
    let summary: Summary = serde_json::from_str(result_json).ok()?;
    let order_id = summary.order_id.filter(|id| !id.is_empty())?;
    let state = match summary.state.as_deref() {
        Some("created") => "待付款",
        Some("paid") => "已付款",
        Some("shipped") => "已发货",
        Some("completed") => "已签收",
        Some("closed") => "已关闭",
        Some("refunding") => "退款中",
        _ => "",
    };
    let state = if state.is_empty() {
        summary.status.unwrap_or_default()
    } else {
        state.to_owned()
    };
    let parcel = summary.shipments.first().map(|shipment| {
        [
            shipment.company.clone(),
            shipment.tracking_number.clone(),
            shipment.latest.as_ref().and_then(|s| s.description.clone()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ")
    });
    Some(OrderView {
        order_id,
        state,
        amount: summary.amount,
        parcel,
    })
}

#[derive(Debug, Default, Deserialize)]
struct ShipmentView {
    company: Option<String>,
    tracking_number: Option<String>,
    latest: Option<StepView>,
}

#[derive(Debug, Default, Deserialize)]
struct StepView {
    description: Option<String>,
}

/// Words for a look-up result, or `None` if it says nothing a customer
/// can use.
pub fn describe(result_json: &str) -> Option<String> {
    let summary: Summary = serde_json::from_str(result_json).ok()?;
    let state = match summary.state.as_deref() {
        Some("created") => "已下单，还未付款",
        Some("paid") => "已付款，正在备货，会尽快为您发出",
        Some("shipped") => "已发货",
        Some("completed") => "已签收",
        Some("closed") => "已关闭",
        Some("refunding") => "正在退款处理中",
        _ => "",
    };
    let status = if state.is_empty() {
        summary.status.clone().filter(|s| !s.is_empty())?
    } else {
        state.to_owned()
    };
    let mut text = match &summary.order_id {
        Some(id) if !id.is_empty() => format!("亲，您的订单 {id} {status}"),
        _ => format!("亲，您的订单{status}"),
    };
    for shipment in &summary.shipments {
        let carrier = shipment.company.as_deref().unwrap_or("快递");
        if let Some(number) = &shipment.tracking_number {
            text.push_str(&format!("，{carrier}单号 {number}"));
        }
        if let Some(step) = shipment
            .latest
            .as_ref()
            .and_then(|s| s.description.as_deref())
            .filter(|d| !d.is_empty())
        {
            text.push_str(&format!("，最新进展：{step}"));
        }
    }
    text.push('～');
    Some(text)
}

/// What to send after a look-up ends: the result in words for the customer
/// whose question caused it; the knowledge base's answer if it failed.
/// Look-ups caused by order events (not questions) need no answer.
/// The answers to look-ups, as delivery's [`crate::delivery::FollowUps`].
pub struct LookUpAnswers {
    /// Where the question that caused a look-up is read.
    pub store: std::sync::Arc<dyn Store>,
    /// The bot that words the answer.
    pub bot: std::sync::Arc<Bot>,
}

impl crate::delivery::FollowUps for LookUpAnswers {
    fn after(
        &self,
        item: &OutboxItem,
        result_json: Option<&str>,
    ) -> anyhow::Result<Vec<NewAction>> {
        after_look_up(self.store.as_ref(), &self.bot, item, result_json)
    }
}

pub fn after_look_up(
    store: &dyn Store,
    bot: &Bot,
    item: &OutboxItem,
    result_json: Option<&str>,
) -> anyhow::Result<Vec<NewAction>> {
    if !matches!(
        item.action.kind,
        ActionKind::QueryOrder(_) | ActionKind::QueryLogistics(_)
    ) {
        return Ok(Vec::new());
    }
    let Some(cause) = &item.cause else {
        return Ok(Vec::new());
    };
    let Some(event) = store.event(cause)? else {
        return Ok(Vec::new());
    };
    let (EventBody::Message(message), Some(question)) =
        (&event.event.body, customer_text(&event.event))
    else {
        return Ok(Vec::new());
    };
    let text = match result_json.and_then(describe) {
        Some(text) => text,
        None => {
            let Some(matcher) = bot.matcher() else {
                return Ok(Vec::new());
            };
            match matcher.decide(question) {
                Decision::Answer { intent, .. } => matcher
                    .knowledge_base()
                    .answer_for(&item.shop, intent)
                    .to_owned(),
                _ => return Ok(Vec::new()),
            }
        }
    };
    Ok(vec![NewAction {
        shop: item.shop.clone(),
        action: Action {
            idempotency_key: crate::pipeline::action_key(&event, "look-up answer"),
            conversation_id: item.action.conversation_id.clone(),
            recipient: message.author.platform_user_id.clone(),
            route: item.action.route.clone(),
            kind: ActionKind::SendMessage(Content::Text(text)),
            attempt: 0,
        },
        sent_by: None,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shipped_order_is_told_with_carrier_number_and_latest_step() {
        let json = r#"{"order_id":"2024052012345","state":"shipped","status":"WAIT_BUYER_CONFIRM_GOODS","amount":"99.00",
            "shipments":[{"company":"顺丰速运","tracking_number":"SF1234567890","latest":{"time_ms":0,"description":"【杭州】已发出，下一站上海"}}],"raw":{}}"#;
        assert_eq!(
            describe(json).unwrap(),
            "亲，您的订单 2024052012345 已发货，顺丰速运单号 SF1234567890，最新进展：【杭州】已发出，下一站上海～"
        );
    }

    #[test]
    fn an_unknown_state_falls_back_to_the_platform_status_or_nothing() {
        assert_eq!(
            describe(r#"{"order_id":"1","state":"other","status":"TRADE_FINISHED"}"#).unwrap(),
            "亲，您的订单 1 TRADE_FINISHED～"
        );
        assert_eq!(describe(r#"{"order_id":"1","state":"other"}"#), None);
        assert_eq!(describe("not json"), None);
    }

    #[test]
    fn the_customer_panel_shows_an_order_with_its_amount_and_parcel() {
        let json = r#"{"order_id":"2024052012345","state":"shipped","status":"WAIT_BUYER_CONFIRM_GOODS","amount":"99.00",
            "shipments":[{"company":"顺丰速运","tracking_number":"SF1234567890","latest":{"time_ms":0,"description":"已发出"}}],"raw":{}}"#;
        assert_eq!(
            order_view(json).unwrap(),
            OrderView {
                order_id: "2024052012345".into(),
                state: "已发货".into(),
                amount: Some("99.00".into()),
                parcel: Some("顺丰速运 · SF1234567890 · 已发出".into()),
            }
        );
        assert_eq!(order_view(r#"{"state":"paid"}"#), None, "no order id");
    }
}
