//! Reading a customer's answer to the bot's clarifying question ("您是想咨询
//! 「退货退款」还是「退款进度」呢？"): by position (「第二个」, 「后面那个」,
//! 「2」), by agreement (「对」, 「是的」: the first, best-ranked candidate), or
//! by naming one (「退货那个」). Anything else is a new question.

use crate::knowledge_base::Intent;
use crate::matcher::Matcher;
use crate::text::normalize;

/// Words that pick the first candidate offered.
const FIRST: &[&str] = &[
    "第一", "第1", "前一", "前面", "头一", "上一", "上面", "左边",
];
/// Words that pick the second.
const SECOND: &[&str] = &["第二", "第2", "后一", "后面", "下一", "下面", "右边"];
/// Replies that agree with the question as asked.
const AGREE: &[&str] = &[
    "对", "对的", "对对", "是", "是的", "是啊", "嗯", "嗯嗯", "没错", "对呀", "是呀", "好", "ok",
    "yes", "y",
];
/// Filler at the end of a short reply (那个, 吧, 啊 …), dropped before
/// comparing.
const FILLER: &[&str] = &[
    "那个", "这个", "个", "吧", "啊", "呀", "哦", "的", "呢", "啦", "亲",
];
/// A reply longer than this is a new question, not an answer to ours.
const LONGEST_ANSWER_CHARS: usize = 12;

/// The candidate a reply picks, if it picks one. `candidates` are intent
/// ids, best first, as offered.
pub fn settle<'a>(matcher: &'a Matcher, candidates: &[String], reply: &str) -> Option<&'a Intent> {
    let offered: Vec<&Intent> = candidates
        .iter()
        .filter_map(|id| matcher.knowledge_base().intent(id))
        .collect();
    if offered.is_empty() {
        return None;
    }
    let text: String = normalize(reply).chars().filter(|c| *c != ' ').collect();
    if text.is_empty() || text.chars().count() > LONGEST_ANSWER_CHARS {
        return None;
    }
    let mut bare = text.as_str();
    while let Some(shorter) = FILLER.iter().find_map(|f| bare.strip_suffix(f)) {
        bare = shorter;
    }
    let position = if bare == "1" || FIRST.iter().any(|w| bare.contains(w)) {
        Some(0)
    } else if bare == "2" || SECOND.iter().any(|w| bare.contains(w)) {
        Some(1)
    } else if AGREE.contains(&bare) {
        Some(0)
    } else {
        None
    };
    if let Some(position) = position {
        return offered.get(position).copied();
    }
    by_name(matcher, &offered, bare)
}

/// The offered intent a reply names: its name shares two characters in a
/// row with the reply, or the matcher ranks it clearly above the others.
fn by_name<'a>(matcher: &'a Matcher, offered: &[&'a Intent], reply: &str) -> Option<&'a Intent> {
    let named: Vec<&Intent> = offered
        .iter()
        .copied()
        .filter(|intent| shares_a_pair(&intent.name, reply))
        .collect();
    if named.len() == 1 {
        return Some(named[0]);
    }
    let ranked = matcher.rank(reply);
    let mut among = ranked
        .iter()
        .filter(|scored| offered.iter().any(|o| o.id == scored.intent.id));
    let best = among.next()?;
    let runner_up = among.next().map_or(0.0, |s| s.score);
    (best.similarity > 0.0 && best.score - runner_up >= 0.05).then_some(best.intent)
}

fn shares_a_pair(name: &str, reply: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    name.windows(2)
        .any(|pair| reply.contains(&pair.iter().collect::<String>()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KnowledgeBase;
    use std::path::Path;

    fn matcher() -> Matcher {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/kb/retail.toml");
        Matcher::new(KnowledgeBase::load(&path).unwrap())
    }

    fn picked(matcher: &Matcher, reply: &str) -> Option<String> {
        let offered = ["refund_progress".to_owned(), "return_refund".to_owned()];
        settle(matcher, &offered, reply).map(|intent| intent.id.clone())
    }

    #[test]
    fn a_reply_picks_by_position_agreement_or_name() {
        let matcher = matcher();
        assert_eq!(picked(&matcher, "第二个").as_deref(), Some("return_refund"));
        assert_eq!(picked(&matcher, "2").as_deref(), Some("return_refund"));
        assert_eq!(
            picked(&matcher, "前面那个吧").as_deref(),
            Some("refund_progress")
        );
        assert_eq!(picked(&matcher, "对").as_deref(), Some("refund_progress"));
        assert_eq!(
            picked(&matcher, "退货那个").as_deref(),
            Some("return_refund")
        );
        assert_eq!(picked(&matcher, "进度").as_deref(), Some("refund_progress"));
    }

    #[test]
    fn anything_else_is_a_new_question() {
        let matcher = matcher();
        assert_eq!(
            picked(&matcher, "你们发什么快递，能发顺丰吗，我比较急"),
            None
        );
        assert_eq!(picked(&matcher, "发票怎么开"), None);
        assert_eq!(picked(&matcher, ""), None);
    }
}
