//! What the bot says to one customer message, decided from the message and
//! the conversation's short context (what the bot last asked): a soothing
//! reply to an angry customer, the knowledge base's answer (the shop's
//! wording) when confident, a clarifying question when two intents are close
//! and the intent the customer's answer picks, a request for the order
//! number an order look-up lacks and the look-up when it comes, nothing when
//! it does not know — and whether the conversation should go to a person,
//! whether to offer a coupon, and what to remember for the next message.

use crate::config::ShopConfig;
use crate::kb::{Bot, Decision, IntentAction};
use crate::model::{BotContext, ContextUpdate, Coupon, Priority};
use tongdao_bot::Intent;

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
    /// What the bot remembers for the conversation's next message.
    pub context: ContextUpdate,
    /// The knowledge base has no answer for the question (kept for
    /// suggestions).
    pub unanswered: bool,
    /// The message is negative: whether it threatens a complaint, and the
    /// cues found (for risk alerts).
    pub negative: Option<NegativeMessage>,
    /// The intent the bot answered (or looks an order up for), for the
    /// voice of the customer: (id, scenario).
    pub intent: Option<(String, String)>,
    /// The customer rated the service they were invited to rate: who
    /// served, and the rating.
    pub rating: Option<(String, crate::csat::Rating)>,
}

/// What made a message negative.
#[derive(Debug, Clone, PartialEq)]
pub struct NegativeMessage {
    /// It threatens a complaint or a bad review.
    pub threatens: bool,
    /// The cues, in words.
    pub cues: String,
}

impl Reply {
    fn new(text: Option<String>, decision: String) -> Reply {
        Reply {
            text,
            coupon: None,
            escalation: None,
            look_up: None,
            decision,
            context: ContextUpdate::Clear,
            unanswered: false,
            negative: None,
            intent: None,
            rating: None,
        }
    }
}

/// Decides the bot's reply to a customer's text in a shop, given what the
/// bot last asked in the conversation (`context`, if still current at
/// `now_ms`). Without agents for the shop (`attended` false) nothing is
/// escalated: a conversation handed to nobody would leave the customer with
/// a silent bot.
pub fn respond(
    bot: &Bot,
    shop: &ShopConfig,
    text: &str,
    attended: bool,
    context: Option<&BotContext>,
    now_ms: i64,
) -> Reply {
    let context = context.filter(|c| c.is_current(now_ms));
    let mut reply = decide(bot, shop, text, context, now_ms);
    if context.is_none() && reply.context == ContextUpdate::Clear {
        // Nothing to forget.
        reply.context = ContextUpdate::Keep;
    }
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

fn decide(
    bot: &Bot,
    shop: &ShopConfig,
    text: &str,
    context: Option<&BotContext>,
    now_ms: i64,
) -> Reply {
    // An answer to an invitation to rate is a rating; an angry one is
    // still handled as anger (soothed, handed over, alerted) as well.
    let rating = match context {
        Some(BotContext::AwaitingRating { served_by, .. }) => {
            crate::csat::parse(text).map(|rating| (served_by.clone(), rating))
        }
        _ => None,
    };
    let assessment = bot.assess(text);
    if let (Some((served_by, rating)), false) = (&rating, assessment.is_negative()) {
        let comment = if rating.comment.is_empty() {
            String::new()
        } else {
            format!(": {}", rating.comment)
        };
        let mut reply = Reply::new(
            Some(crate::csat::THANKS.to_owned()),
            format!("rated {} for {served_by}{comment}", rating.score),
        );
        reply.rating = Some((served_by.clone(), rating.clone()));
        return reply;
    }
    if assessment.is_negative() {
        let mut reply = Reply::new(
            Some(SOOTHING_REPLY.to_owned()),
            format!("negative ({})", assessment.explanation()),
        );
        reply.escalation = Some(if assessment.threatens() {
            Priority::Threat
        } else {
            Priority::Angry
        });
        reply.negative = Some(NegativeMessage {
            threatens: assessment.threatens(),
            cues: assessment.explanation(),
        });
        if let Some((served_by, rated)) = &rating {
            reply
                .decision
                .push_str(&format!("; rated {} for {served_by}", rated.score));
        }
        reply.rating = rating;
        return reply;
    }
    let Some(matcher) = bot.matcher() else {
        let mut reply = Reply::new(None, "no knowledge base".into());
        reply.escalation = Some(Priority::Normal);
        return reply;
    };
    let knowledge_base = matcher.knowledge_base();
    let order_number = tongdao_bot::text::order_numbers(text).into_iter().next();
    match context {
        Some(BotContext::Clarifying { candidates, .. }) => {
            if let Some(intent) = tongdao_bot::followup::settle(&matcher, candidates, text) {
                let mut reply = answer(shop, knowledge_base, intent, order_number, now_ms);
                reply.decision = format!("clarified: {}", reply.decision);
                return reply;
            }
        }
        Some(BotContext::AwaitingOrder { intent, .. }) => {
            if let (Some(order), Some(intent)) = (&order_number, knowledge_base.intent(intent))
                && let Some(action) = intent.action
            {
                let mut reply = Reply::new(
                    Some(knowledge_base.answer_for(&shop.id, intent).to_owned()),
                    format!("order number for intent {}", intent.id),
                );
                reply.look_up = Some((action, order.clone()));
                reply.intent = Some((intent.id.clone(), intent.scenario.clone()));
                return reply;
            }
        }
        Some(BotContext::AwaitingRating { .. }) | None => {}
    }
    match matcher.decide(text) {
        Decision::Answer { intent, confidence } => {
            let mut reply = answer(shop, knowledge_base, intent, order_number, now_ms);
            reply.decision = format!("{} ({confidence:.2})", reply.decision);
            reply
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
            let ids: Vec<String> = candidates.iter().map(|i| i.id.clone()).collect();
            let mut reply = Reply::new(
                Some(format!("亲，您是想咨询{}呢？", names.join("还是"))),
                format!("clarify between {}", ids.join(", ")),
            );
            reply.context = ContextUpdate::Set(BotContext::Clarifying {
                candidates: ids,
                asked_ms: now_ms,
            });
            reply
        }
        Decision::Unknown => {
            let mut reply = Reply::new(Some(HAND_OVER_REPLY.to_owned()), "no match".into());
            reply.escalation = Some(Priority::Normal);
            reply.unanswered = true;
            reply
        }
    }
}

/// The reply for an intent the bot is sure of: its answer in the shop's
/// wording, with what the intent's action adds. A look-up without an order
/// number asks for it and waits.
fn answer(
    shop: &ShopConfig,
    knowledge_base: &tongdao_bot::KnowledgeBase,
    intent: &Intent,
    order_number: Option<String>,
    now_ms: i64,
) -> Reply {
    let answer = knowledge_base.answer_for(&shop.id, intent).to_owned();
    let mut reply = Reply::new(Some(answer), format!("intent {}", intent.id));
    reply.intent = Some((intent.id.clone(), intent.scenario.clone()));
    match intent.action {
        Some(IntentAction::HandOver) => reply.escalation = Some(Priority::Normal),
        Some(IntentAction::OfferCoupon) => reply.coupon = shop.coupon_offer(),
        Some(action @ (IntentAction::LookUpOrder | IntentAction::LookUpLogistics)) => {
            match order_number {
                Some(order) => reply.look_up = Some((action, order)),
                None => {
                    if let Some(prompt) = &intent.order_prompt {
                        reply.text = Some(prompt.clone());
                    }
                    reply.context = ContextUpdate::Set(BotContext::AwaitingOrder {
                        intent: intent.id.clone(),
                        asked_ms: now_ms,
                    });
                }
            }
        }
        None => {}
    }
    reply
}
