//! Customer satisfaction (CSAT): the invitation sent when a conversation
//! closes, and reading the customer's answer — a digit or 「五星」, the
//! words 「非常满意」…「非常不满意」, or an emoji — at the start of their next
//! message, with whatever follows as a comment.

/// What the customer is asked when an agent closes the conversation.
pub const INVITATION: &str = "亲，本次服务您满意吗？请回复 1-5 分为我们打分（5 非常满意，4 满意，3 一般，2 不满意，1 非常不满意），也欢迎留下您的意见～";

/// What the bot says to a rating.
pub const THANKS: &str = "感谢您的评价，我们会继续努力～";

/// A customer's rating of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rating {
    /// 1 (very dissatisfied) to 5 (very satisfied).
    pub score: u8,
    /// What the customer wrote after it, if anything.
    pub comment: String,
}

/// Words, longest first so 「非常不满意」 is not read as 「满意」.
const WORDS: [(&str, u8); 16] = [
    ("非常不满意", 1),
    ("很不满意", 1),
    ("极不满意", 1),
    ("十分满意", 5),
    ("非常满意", 5),
    ("特别满意", 5),
    ("超级满意", 5),
    ("很满意", 5),
    ("不太满意", 2),
    ("不满意", 2),
    ("比较满意", 4),
    ("还满意", 4),
    ("满意", 4),
    ("一般般", 3),
    ("一般", 3),
    ("还行", 3),
];

/// Emoji and what they say.
const EMOJI: [(&str, u8); 13] = [
    ("👍", 5),
    ("😀", 5),
    ("😄", 5),
    ("😁", 5),
    ("😊", 5),
    ("🥰", 5),
    ("❤", 5),
    ("🙂", 4),
    ("😐", 3),
    ("🙁", 2),
    ("😞", 1),
    ("😡", 1),
    ("👎", 1),
];

/// The rating at the start of `text`, if it begins with one.
pub fn parse(text: &str) -> Option<Rating> {
    let text = text.trim_start();
    let (score, rest) = leading_score(text)?;
    let comment = rest
        .trim_start_matches(|c: char| c.is_whitespace() || "，,。.！!、~～：:;；分星颗".contains(c))
        .trim()
        .to_owned();
    Some(Rating { score, comment })
}

/// Whether a rating word or digit ends where `rest` begins: at the end,
/// a space or punctuation (so 「一般多久发货」 and 「3天了」 are not ratings).
fn ends_here(rest: &str) -> bool {
    rest.is_empty()
        || rest.starts_with(|c: char| c.is_whitespace() || "，,。.！!、~～：:;；?？)）".contains(c))
}

fn leading_score(text: &str) -> Option<(u8, &str)> {
    let first = text.chars().next()?;
    let digit = match first {
        '1'..='5' => Some(first as u8 - b'0'),
        '１'..='５' => Some((first as u32 - '０' as u32) as u8),
        '一' | '二' | '三' | '四' | '五' => {
            // A Chinese numeral counts only as a score: 「五星」, 「四分」.
            let next = text[first.len_utf8()..].chars().next();
            match next {
                Some('星' | '分' | '颗') => {
                    Some("一二三四五".chars().position(|c| c == first)? as u8 + 1)
                }
                _ => None,
            }
        }
        _ => None,
    };
    if let Some(score) = digit {
        let rest = &text[first.len_utf8()..];
        // A bare digit or a score (「5分」, 「4星」, 「五星好评」); 「3天了」,
        // 「2件」, 「10元」 and 「5号」 are not ratings.
        let scored = rest.starts_with(['分', '星', '颗']);
        if !scored && (!ends_here(rest) || rest.starts_with('.')) {
            return None;
        }
        return Some((score, rest));
    }
    for (word, score) in WORDS {
        if let Some(rest) = text.strip_prefix(word)
            && ends_here(rest)
        {
            return Some((score, rest));
        }
    }
    for (emoji, score) in EMOJI {
        if let Some(rest) = text.strip_prefix(emoji) {
            let rest = rest.trim_start_matches('\u{fe0f}');
            return Some((score, rest));
        }
    }
    None
}

/// Has the bot wait for the customer's rating of `served_by` (set before
/// the invitation is queued: a crash between leaves a wait without an
/// invitation, which only reads a bare score as a rating, never the
/// reverse).
pub fn await_rating(
    store: &dyn crate::store::Store,
    shop: &str,
    conversation: &str,
    served_by: &str,
    now_ms: i64,
) -> anyhow::Result<()> {
    store.set_bot_context(
        shop,
        conversation,
        Some(&crate::model::BotContext::AwaitingRating {
            served_by: served_by.to_owned(),
            asked_ms: now_ms,
        }),
    )
}

/// Invites the customers the bot answered and who have been quiet since
/// (their invitation due at `now_ms`) to rate the bot, and has the bot wait
/// for the answer. An invitation is dropped where people have the
/// conversation, the customer wrote again, or the shop no longer invites.
/// Its idempotency key comes from the conversation and when it fell due,
/// so one queued before a crash is not queued twice. Returns how many were
/// queued.
pub fn invite_quiet_customers(host: &crate::desk::People, now_ms: i64) -> anyhow::Result<usize> {
    use crate::model::{Action, ActionKind, ActionName, BOT_SERVER, Content, NewAction};
    use sha2::{Digest, Sha256};
    let mut queued = 0;
    for (shop_id, conversation, due_ms) in host.store.due_csat(now_ms, 256)? {
        let wanted = (|| -> anyhow::Result<Option<NewAction>> {
            let Some(shop) = host.shops.get(&shop_id) else {
                return Ok(None);
            };
            let sends = shop
                .plugin()
                .manifest
                .actions
                .contains(&ActionName::SendMessage);
            if !shop.config.csat_invite || !sends {
                return Ok(None);
            }
            if host.store.handoff(&shop_id, &conversation)?.is_some() {
                return Ok(None);
            }
            let Some(record) = host.store.conversation(&shop_id, &conversation)? else {
                return Ok(None);
            };
            let answered_ms = due_ms - shop.config.csat_after_bot.as_millis() as i64;
            let (Some(customer), false) = (
                record.customer.as_ref(),
                record.last_inbound_ms.is_some_and(|at| at > answered_ms),
            ) else {
                return Ok(None);
            };
            let key =
                Sha256::digest(format!("csat\n{shop_id}\n{conversation}\n{due_ms}").as_bytes());
            Ok(Some(NewAction {
                shop: shop_id.clone(),
                action: Action {
                    idempotency_key: hex::encode(&key[..16]),
                    conversation_id: conversation.clone(),
                    recipient: customer.platform_user_id.clone(),
                    route: record.route.clone(),
                    kind: ActionKind::SendMessage(Content::Text(INVITATION.to_owned())),
                    attempt: 0,
                },
                sent_by: None,
            }))
        })()?;
        if let Some(invitation) = wanted {
            await_rating(&*host.store, &shop_id, &conversation, BOT_SERVER, now_ms)?;
            queued += host.store.queue_actions(&[invitation], now_ms)?.len();
        }
        host.store.clear_csat(&shop_id, &conversation, due_ms)?;
    }
    if queued > 0 {
        host.delivery_wake.notify_one();
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(text: &str) -> Option<u8> {
        parse(text).map(|r| r.score)
    }

    #[test]
    fn digits_words_and_emoji_are_read() {
        assert_eq!(score("5"), Some(5));
        assert_eq!(score(" 4分，挺好的"), Some(4));
        assert_eq!(score("５"), Some(5));
        assert_eq!(score("五星好评"), Some(5));
        assert_eq!(score("非常满意"), Some(5));
        assert_eq!(score("满意"), Some(4));
        assert_eq!(score("不满意，等了好久"), Some(2));
        assert_eq!(score("非常不满意"), Some(1));
        assert_eq!(score("一般"), Some(3));
        assert_eq!(score("👍👍"), Some(5));
        assert_eq!(score("👎"), Some(1));
        assert_eq!(score("❤️"), Some(5));
    }

    #[test]
    fn other_messages_are_not_ratings() {
        assert_eq!(score("我想问下退货怎么弄"), None);
        assert_eq!(score("10元优惠券怎么用"), None);
        assert_eq!(score("2024年的订单"), None);
        assert_eq!(score("五一发货吗"), None);
        assert_eq!(score("6"), None);
        assert_eq!(score(""), None);
        assert_eq!(score("3天了还没到货"), None);
        assert_eq!(score("2件能便宜吗"), None);
        assert_eq!(score("5号发货吗"), None);
        assert_eq!(score("一般多久发货"), None);
        assert_eq!(score("满意的话再买"), None);
        assert_eq!(score("1.5倍运费吗"), None);
    }

    #[test]
    fn what_follows_is_the_comment() {
        assert_eq!(
            parse("2分，客服回复太慢了").unwrap(),
            Rating {
                score: 2,
                comment: "客服回复太慢了".into()
            }
        );
        assert_eq!(parse("5").unwrap().comment, "");
    }
}
