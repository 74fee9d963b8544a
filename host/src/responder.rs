//! What the bot says to one customer message, decided from the message
//! alone: a soothing reply to an angry customer, the knowledge base's answer
//! (the shop's wording) when confident, a clarifying question when two
//! intents are close, nothing when it does not know — and whether the
//! conversation should go to a person, and whether to offer a coupon.

use crate::config::ShopConfig;
use crate::kb::{Bot, Decision, IntentAction};
use crate::model::{Coupon, Priority};

/// Said to an angry customer while a person is fetched.
pub const SOOTHING_REPLY: &str =
    "亲，非常抱歉给您带来了不好的体验，您的问题我们一定负责到底，已为您优先转接人工客服，请稍等～";

/// Said when the bot has no answer and hands over.
pub const HAND_OVER_REPLY: &str = "亲，这个问题我为您转接人工客服，请稍等～";

/// Said to an angry customer in a shop no agent serves: no promise of a
/// person who will not come.
pub const SOOTHING_REPLY_UNATTENDED: &str =
    "亲，非常抱歉给您带来了不好的体验，您的问题我们已经记录，会尽快给您答复～";

/// Said when the bot has no answer in a shop no agent serves.
pub const NO_ANSWER_REPLY: &str = "亲，这个问题我暂时回答不了，您可以换个说法再问问我～";

/// The bot's decision about one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// What to say, if anything.
    pub text: Option<String>,
    /// A coupon to send after the text.
    pub coupon: Option<Coupon>,
    /// Whether (and how urgently) a person should take over.
    pub escalation: Option<Priority>,
    /// An order or parcel look-up to answer from instead of `text`, where
    /// the channel can look it up: (what, order number).
    pub look_up: Option<(IntentAction, String)>,
    /// A short description of the decision, for logs and the admin view.
    pub decision: String,
}

/// Decides the bot's reply to a customer's text in a shop. Without agents
/// for the shop (`attended` false) nothing is escalated: a conversation
/// handed to nobody would leave the customer with a silent bot.
pub fn respond(bot: &Bot, shop: &ShopConfig, text: &str, attended: bool) -> Reply {
    let mut reply = decide(bot, shop, text);
    if !attended && reply.escalation.take().is_some() {
        reply.text = reply.text.map(|said| match said.as_str() {
            SOOTHING_REPLY => SOOTHING_REPLY_UNATTENDED.to_owned(),
            HAND_OVER_REPLY => NO_ANSWER_REPLY.to_owned(),
            _ => said,
        });
        reply
            .decision
            .push_str(" (no agent serves the shop: not escalated)");
    }
    reply
}

fn decide(bot: &Bot, shop: &ShopConfig, text: &str) -> Reply {
    let assessment = bot.assess(text);
    if assessment.is_negative() {
        return Reply {
            text: Some(SOOTHING_REPLY.to_owned()),
            coupon: None,
            escalation: Some(if assessment.threatens() {
                Priority::Threat
            } else {
                Priority::Angry
            }),
            decision: format!("negative ({})", assessment.explanation()),
            look_up: None,
        };
    }
    let Some(matcher) = bot.matcher() else {
        return Reply {
            text: None,
            coupon: None,
            escalation: Some(Priority::Normal),
            decision: "no knowledge base".into(),
            look_up: None,
        };
    };
    let knowledge_base = matcher.knowledge_base();
    match matcher.decide(text) {
        Decision::Answer { intent, confidence } => {
            let answer = knowledge_base.answer_for(&shop.id, intent).to_owned();
            let decision = format!("intent {} ({confidence:.2})", intent.id);
            match intent.action {
                Some(IntentAction::HandOver) => Reply {
                    text: Some(answer),
                    coupon: None,
                    escalation: Some(Priority::Normal),
                    decision,
                    look_up: None,
                },
                Some(IntentAction::OfferCoupon) => Reply {
                    text: Some(answer),
                    coupon: shop.coupon_offer(),
                    escalation: None,
                    decision,
                    look_up: None,
                },
                Some(action @ (IntentAction::LookUpOrder | IntentAction::LookUpLogistics)) => {
                    Reply {
                        text: Some(answer),
                        coupon: None,
                        escalation: None,
                        decision,
                        look_up: tongdao_bot::text::order_numbers(text)
                            .into_iter()
                            .next()
                            .map(|order| (action, order)),
                    }
                }
                None => Reply {
                    text: Some(answer),
                    coupon: None,
                    escalation: None,
                    decision,
                    look_up: None,
                },
            }
        }
        Decision::Clarify { candidates } => {
            let names: Vec<String> = candidates
                .iter()
                .map(|intent| {
                    let name = if intent.name.is_empty() {
                        &intent.id
                    } else {
                        &intent.name
                    };
                    format!("「{name}」")
                })
                .collect();
            Reply {
                text: Some(format!("亲，您是想咨询{}呢？", names.join("还是"))),
                coupon: None,
                escalation: None,
                decision: format!(
                    "clarify between {}",
                    candidates
                        .iter()
                        .map(|i| i.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                look_up: None,
            }
        }
        Decision::Unknown => Reply {
            text: Some(HAND_OVER_REPLY.to_owned()),
            coupon: None,
            escalation: Some(Priority::Normal),
            decision: "no match".into(),
            look_up: None,
        },
    }
}
