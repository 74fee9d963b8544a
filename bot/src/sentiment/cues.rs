//! The cues of an angry customer, as rules: complaint threats (投诉, 12315,
//! 曝光, 差评), insults, anger stated outright, frustration that has built
//! up (第三次, 等了一个星期, 说了多少遍), shouting, and cues that turn a
//! phrase around (不是差评, 表扬, 不是你们的问题). Each cue carries a weight;
//! they explain a decision to people and feed the model
//! (`super::model`) as features.

use crate::text::normalize;
use regex::Regex;

/// Why a cue counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CueKind {
    /// A threat to complain, report or review badly.
    Threat,
    /// An insult or swearing.
    Insult,
    /// Anger or exasperation stated outright.
    Anger,
    /// Signs of a problem dragging on (repeats, long waits).
    Frustration,
    /// Shouting: runs of exclamation or question marks.
    Shouting,
    /// A phrase that turns a cue around (praise, negated complaint).
    Defuser,
}

/// (pattern over normalized text, weight, kind). Normalized text is NFKC,
/// lower-case, with punctuation turned to spaces.
const CUES: &[(&str, f64, CueKind)] = &[
    // Threats: the customer says where the complaint goes next.
    (
        r"投诉|举报|12315|315|工商|消协|消费者协会|市场监管|曝光|媒体|记者|律师|起诉|法院|报警|维权|找平台|平台介入|小二介入|黑猫",
        1.0,
        CueKind::Threat,
    ),
    (r"差评|一星|零分|负分", 1.0, CueKind::Threat),
    // The same in English, for customers who write it.
    (
        r"(?-u:\b)(report(ing)? (you|this)|complain(ing)? to|lawyer|sue you|bad review|one star|1 star|chargeback)(?-u:\b)",
        1.0,
        CueKind::Threat,
    ),
    (
        r"(?-u:\b)(scam(mer)?s?|fraud|liars?|cheat(ing|ed)?|rip ?off|useless|idiots?|stupid|ridiculous|unacceptable|worst|furious|fed up|sick of|never again)(?-u:\b)",
        1.0,
        CueKind::Anger,
    ),
    // Insults and swearing, Chinese and the usual abbreviations.
    (
        r"垃圾|骗子|骗人|忽悠|坑人|坑爹|黑店|奸商|无良|傻[逼比b]|(?-u:\b)sb(?-u:\b)|(?-u:\b)tmd(?-u:\b)|(?-u:\b)nmd(?-u:\b)|(?-u:\b)cnm(?-u:\b)|他妈|妈的|特么|尼玛|卧槽|我靠|滚|废物|智障|脑残|白痴|恶心|去死|狗屁|破玩意|什么玩意|啥玩意|(?-u:\b)wtf(?-u:\b)|fuck|shit|欺负|耍我|耍人|当猴|把我当|人话|不要脸|无耻|缺德|人渣|弱智|神经病|有病吧|脑子(有问题|进水|坏)|眼瞎|被坑|坑死",
        1.0,
        CueKind::Insult,
    ),
    // Anger stated outright.
    (
        r"气死|生气|火大|愤怒|受够|忍无可忍|太过分|过分了|什么态度|态度差|态度恶劣|服了|无语|呵呵|失望透|太失望|寒心|最差|差劲|太差|真差|烂透|破服务|破东西|有意思吗|靠谱点|别跟我说|要个说法|给个说法|给我一个说法|要说法|讨个说法|赔偿|退一赔三|假一赔|不给解决|没人管|没人理|不理人|敷衍|推脱|踢皮球|再也不|拉黑|态度(这么|那么|也太|太|真|很|极其|极)?(差|恶劣|不好)|质量(这么|那么|也太|太|真|很)(差|烂)|有没有人(管|理|处理|回)|崩溃|抓狂|烦死|烦不烦|闹心|会不会做生意|怎么做生意|还做不做生意|还想不想干|不会再买|最后一次(买|来)|搞什么",
        1.0,
        CueKind::Anger,
    ),
    // A problem dragging on.
    (
        r"第[二三四五六七八九十几\d]+(次|遍|回)|[两三四五六七八九十几\d]+(次|遍|回)了|多少遍|多少次|好几次|几遍了|听不懂|机器人吗|经理|领导|主管|负责人|凭什么|后悔|什么鬼|退钱|又|一直|到底|还没|还不|拖了|拖着|等了|好几天|[一二三四五六七八九十几\d半]+(个)?(天|周|星期|礼拜|月|小时)了?还|一个星期|一个礼拜|半个月|半个小时|根本|简直|解决方案|怎么回事|说好的",
        0.5,
        CueKind::Frustration,
    ),
    // Defusers: praise, and complaint words turned around.
    (
        r"表扬|夸|好评|五星|满意|不错|很好|很棒|耐心|感谢|谢谢",
        -0.5,
        CueKind::Defuser,
    ),
    (
        r"不是差评|不给差评|不会差评|没有不满意|不生气|没生气|不投诉|不是投诉|不用投诉|差不多|不差钱|不是你们的(问题|错|责任)|不怪你们|没关系|不着急|不急|辛苦(你们|了|啦)",
        -1.0,
        CueKind::Defuser,
    ),
];

/// One cue found in a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    /// The text that matched.
    pub text: String,
    /// Its weight.
    pub weight: f64,
    /// Why it counts.
    pub kind: CueKind,
}

/// The compiled cue table.
#[derive(Debug)]
pub struct CueFinder {
    cues: Vec<(Regex, f64, CueKind)>,
    shouting: Regex,
}

impl Default for CueFinder {
    fn default() -> Self {
        Self::new()
    }
}

impl CueFinder {
    /// Compiles the cue table.
    pub fn new() -> CueFinder {
        let cues = CUES
            .iter()
            .map(|(pattern, weight, kind)| {
                (
                    Regex::new(pattern).expect("cue patterns are valid"),
                    *weight,
                    *kind,
                )
            })
            .collect();
        CueFinder {
            cues,
            shouting: Regex::new(r"[!！]{2,}|[?？]{3,}").expect("valid pattern"),
        }
    }

    /// The cues in one message.
    pub fn find(&self, text: &str) -> Vec<Cue> {
        let normalized = normalize(text);
        let mut cues = Vec::new();
        // Longer defusing phrases are matched first and blank out what they
        // cover, so 不是差评 does not also count as 差评.
        let mut remaining = normalized.clone();
        let mut ordered: Vec<&(Regex, f64, CueKind)> = self.cues.iter().collect();
        ordered.sort_by(|a, b| a.1.total_cmp(&b.1));
        for (pattern, weight, kind) in ordered {
            let found: Vec<(usize, usize, String)> = pattern
                .find_iter(&remaining)
                .map(|m| (m.start(), m.end(), m.as_str().to_owned()))
                .collect();
            for (start, end, matched) in found {
                remaining.replace_range(start..end, &" ".repeat(end - start));
                cues.push(Cue {
                    text: matched,
                    weight: *weight,
                    kind: *kind,
                });
            }
        }
        if let Some(shout) = self.shouting.find(text) {
            cues.push(Cue {
                text: shout.as_str().to_owned(),
                weight: 0.5,
                kind: CueKind::Shouting,
            });
        }
        cues
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(text: &str) -> f64 {
        CueFinder::new().find(text).iter().map(|c| c.weight).sum()
    }

    fn kinds(text: &str) -> Vec<CueKind> {
        CueFinder::new().find(text).iter().map(|c| c.kind).collect()
    }

    #[test]
    fn threats_insults_and_anger_are_found() {
        assert_eq!(kinds("再不处理我就去12315"), vec![CueKind::Threat]);
        assert!(kinds("不退款就给差评").contains(&CueKind::Threat));
        assert_eq!(kinds("你们这是黑店吧"), vec![CueKind::Insult]);
        assert_eq!(kinds("气死了"), vec![CueKind::Anger]);
        assert!(kinds("这质量也太差了吧").contains(&CueKind::Anger));
    }

    #[test]
    fn english_threats_and_anger_are_found_on_word_boundaries() {
        assert!(kinds("This is a SCAM, I am reporting you").contains(&CueKind::Threat));
        assert!(kinds("this is a scam").contains(&CueKind::Anger));
        assert!(kinds("worst shop ever").contains(&CueKind::Anger));
        assert!(kinds("scampi for dinner").is_empty());
        assert!(kinds("please send the receipt").is_empty());
    }

    #[test]
    fn frustration_adds_up() {
        assert_eq!(score("还没发货吗"), 0.5);
        assert!(score("等了五天了还没发货，到底怎么回事") >= 1.5);
        assert!(kinds("已经第四遍了").contains(&CueKind::Frustration));
    }

    #[test]
    fn turned_around_cues_cancel_what_they_cover() {
        assert!(score("放心，不是差评，想问下怎么追评") < 0.0);
        assert!(!kinds("放心，不是差评").contains(&CueKind::Threat));
        assert!(score("我要表扬你们客服") < 0.0);
        assert_eq!(score("颜色差不多就行"), -1.0);
    }

    #[test]
    fn shouting_is_a_cue_of_its_own() {
        assert_eq!(kinds("到了吗！！"), vec![CueKind::Shouting]);
        assert_eq!(score("又没发货！！"), 1.0);
    }
}
