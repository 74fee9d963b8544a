//! Learning from agents (the 未知问题 loop): the questions the bot could not
//! answer, paired with the first reply an agent gave in the same
//! conversation afterwards (sent through the desk, or written in the
//! platform's own client and read back from its chat log), grouped into
//! suggested new examples and intents. Accepting one is
//! [`crate::kb::Bot::edit`], which changes the knowledge base while the host
//! serves.

use crate::kb::Bot;
use crate::model::{
    ActionKind, AuthorRole, Content, Direction, EventBody, Message, UnansweredQuestion,
};
use crate::store::Store;
use std::collections::HashMap;
use tongdao_bot::suggest::{Suggestion, Unanswered, suggest};

/// How many unanswered questions one report reads at most.
const MOST_QUESTIONS: usize = 20_000;

/// Suggestions from the questions unanswered since `since_ms` in the shops
/// `visible` lets through, for groups of at least `min_count` questions.
pub fn suggestions(
    store: &dyn Store,
    bot: &Bot,
    since_ms: i64,
    min_count: usize,
    visible: impl Fn(&str) -> bool,
) -> anyhow::Result<Vec<Suggestion>> {
    let Some(matcher) = bot.matcher() else {
        anyhow::bail!("no knowledge base is configured ([bot] knowledge_base)");
    };
    let questions: Vec<UnansweredQuestion> = store
        .unanswered(since_ms, MOST_QUESTIONS)?
        .into_iter()
        .filter(|q| visible(&q.shop))
        .collect();
    let mut replies: HashMap<(String, String), Vec<(i64, String)>> = HashMap::new();
    let mut items = Vec::with_capacity(questions.len());
    for question in &questions {
        let key = (question.shop.clone(), question.conversation.clone());
        if !replies.contains_key(&key) {
            let found = agent_replies(store, &question.shop, &question.conversation)?;
            replies.insert(key.clone(), found);
        }
        let agent_reply = replies[&key]
            .iter()
            .find(|(at_ms, _)| *at_ms >= question.received_ms)
            .map(|(_, text)| text.clone());
        items.push(Unanswered {
            question: question.question.clone(),
            agent_reply,
        });
    }
    Ok(suggest(&matcher, &items, min_count))
}

/// An agent's text replies in a conversation, oldest first, with when each
/// was written: those sent through the desk, and those read back from the
/// platform's chat log.
fn agent_replies(
    store: &dyn Store,
    shop: &str,
    conversation: &str,
) -> anyhow::Result<Vec<(i64, String)>> {
    let mut found: Vec<(i64, String)> = store
        .conversation_outbox(shop, conversation)?
        .into_iter()
        .filter(|item| item.sent_by.is_some())
        .filter_map(|item| match item.action.kind {
            ActionKind::SendMessage(Content::Text(text)) => Some((item.created_ms, text)),
            _ => None,
        })
        .collect();
    for stored in store.conversation_events(shop, conversation)? {
        if let EventBody::Message(Message {
            role: AuthorRole::Agent,
            direction: Direction::Outbound,
            content: Content::Text(text),
            ..
        }) = stored.event.body
        {
            found.push((stored.received_ms, text));
        }
    }
    found.sort_by_key(|(at_ms, _)| *at_ms);
    Ok(found)
}
