//! The knowledge base a brand authors, in TOML: scenario → intent → example
//! questions → answer, with optional per-intent actions, synonym groups that
//! extend the shipped lexicon, per-shop answer overrides and matching
//! settings. Errors name the file, line and field.
//!
//! ```toml
//! [settings]                       # optional
//! answer_threshold = 0.22          # below: ask to clarify or hand over
//!
//! [[intent]]
//! id = "logistics"
//! scenario = "售中"
//! name = "物流查询"
//! answer = "亲，您可以在订单详情里查看实时物流～"
//! examples = ["我的快递到哪了", "查一下物流"]
//! action = "look-up-logistics"     # optional
//! order_prompt = "亲，订单号发我一下～"  # optional: asked when a look-up lacks the number
//!
//! [synonyms]                       # optional: concept → terms
//! parcel = ["小包裹"]
//!
//! [out_of_scope]                   # optional: questions to leave to people
//! examples = ["面料会起球吗", "你们招人吗"]
//!
//! [shops.demo-tmall.answers]       # optional: per-shop wording
//! logistics = "亲，天猫订单的物流在「我的淘宝 → 已买到的宝贝」里查看～"
//! ```

use crate::text::normalize;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use toml::Spanned;

/// What the bot does beyond answering when an intent matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IntentAction {
    /// Hand the conversation to a person.
    HandOver,
    /// Offer a coupon, where the shop allows coupons.
    OfferCoupon,
    /// Look the customer's order up through the channel and answer from it.
    LookUpOrder,
    /// Look the customer's parcel up through the channel and answer from it.
    LookUpLogistics,
}

/// One intent of the knowledge base.
#[derive(Debug, Clone, PartialEq)]
pub struct Intent {
    /// Stable id, e.g. `logistics`.
    pub id: String,
    /// The scenario it belongs to (售前, 售中, 售后).
    pub scenario: String,
    /// Human-readable name.
    pub name: String,
    /// The default answer.
    pub answer: String,
    /// Example questions.
    pub examples: Vec<String>,
    /// What to do besides answering.
    pub action: Option<IntentAction>,
    /// For an intent that looks an order up: what to ask when the message
    /// has no order number (the next message's number completes the
    /// look-up). Without it the answer itself is sent.
    pub order_prompt: Option<String>,
}

/// Matching settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchSettings {
    /// Confidence (0..=1) below which the bot does not answer.
    pub answer_threshold: f64,
    /// Similarity to an intent's closest example below which the bot does
    /// not even suggest it.
    pub clarify_threshold: f64,
}

impl Default for MatchSettings {
    fn default() -> Self {
        MatchSettings {
            answer_threshold: 0.22,
            clarify_threshold: 0.4,
        }
    }
}

/// A loaded knowledge base.
#[derive(Debug, Clone)]
pub struct KnowledgeBase {
    /// Where it was loaded from (for messages).
    pub source: PathBuf,
    /// Intents in file order.
    pub intents: Vec<Intent>,
    /// Synonym groups added to the shipped lexicon.
    pub synonyms: BTreeMap<String, Vec<String>>,
    /// Questions no intent answers, written so the bot learns to leave
    /// their like to people (product details, jobs, chit-chat…).
    pub out_of_scope: Vec<String>,
    /// Matching settings.
    pub settings: MatchSettings,
    /// shop → intent id → answer.
    overrides: BTreeMap<String, BTreeMap<String, String>>,
}

/// A knowledge base that cannot be loaded, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeBaseError {
    /// The file cannot be read.
    #[error("{path}: cannot read the knowledge base: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid knowledge base.
    #[error("{path}:{line}: {field}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The field at fault.
        field: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    settings: Option<RawSettings>,
    #[serde(rename = "intent", default)]
    intents: Vec<Spanned<RawIntent>>,
    #[serde(default)]
    synonyms: BTreeMap<String, Vec<String>>,
    out_of_scope: Option<RawOutOfScope>,
    #[serde(default)]
    shops: BTreeMap<String, RawShop>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutOfScope {
    examples: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    answer_threshold: Option<Spanned<f64>>,
    clarify_threshold: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntent {
    id: Spanned<String>,
    #[serde(default)]
    scenario: String,
    #[serde(default)]
    name: String,
    answer: Spanned<String>,
    examples: Spanned<Vec<String>>,
    action: Option<IntentAction>,
    order_prompt: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShop {
    #[serde(default)]
    answers: BTreeMap<Spanned<String>, String>,
}

impl KnowledgeBase {
    /// Loads a knowledge base file.
    pub fn load(path: &Path) -> Result<KnowledgeBase, KnowledgeBaseError> {
        let text = std::fs::read_to_string(path).map_err(|source| KnowledgeBaseError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses knowledge-base TOML; `path` is only used in messages.
    pub fn parse(path: &Path, text: &str) -> Result<KnowledgeBase, KnowledgeBaseError> {
        let invalid = |offset: usize, field: &str, message: String| KnowledgeBaseError::Invalid {
            path: path.to_owned(),
            line: line_of(text, offset),
            field: field.to_owned(),
            message,
        };
        let raw: RawFile = toml::from_str(text).map_err(|err| {
            let offset = err.span().map_or(0, |span| span.start);
            invalid(offset, "", err.message().to_owned())
        })?;
        let mut settings = MatchSettings::default();
        if let Some(raw_settings) = raw.settings {
            for (field, value, slot) in [
                (
                    "settings.answer_threshold",
                    raw_settings.answer_threshold,
                    &mut settings.answer_threshold,
                ),
                (
                    "settings.clarify_threshold",
                    raw_settings.clarify_threshold,
                    &mut settings.clarify_threshold,
                ),
            ] {
                if let Some(value) = value {
                    if !(0.0..=1.0).contains(value.get_ref()) {
                        return Err(invalid(
                            value.span().start,
                            field,
                            "must be between 0 and 1".into(),
                        ));
                    }
                    *slot = value.into_inner();
                }
            }
        }
        let mut seen = HashSet::new();
        let mut intents = Vec::with_capacity(raw.intents.len());
        for spanned in raw.intents {
            let raw_intent = spanned.into_inner();
            let id_at = raw_intent.id.span().start;
            let id = raw_intent.id.into_inner();
            if id.trim().is_empty() {
                return Err(invalid(id_at, "intent.id", "must not be empty".into()));
            }
            if !seen.insert(id.clone()) {
                return Err(invalid(
                    id_at,
                    "intent.id",
                    format!("`{id}` is defined twice"),
                ));
            }
            if raw_intent.answer.get_ref().trim().is_empty() {
                return Err(invalid(
                    raw_intent.answer.span().start,
                    "intent.answer",
                    format!("intent `{id}` has an empty answer"),
                ));
            }
            if raw_intent.examples.get_ref().is_empty() {
                return Err(invalid(
                    raw_intent.examples.span().start,
                    "intent.examples",
                    format!("intent `{id}` needs at least one example question"),
                ));
            }
            intents.push(Intent {
                id,
                scenario: raw_intent.scenario,
                name: raw_intent.name,
                answer: raw_intent.answer.into_inner(),
                examples: raw_intent.examples.into_inner(),
                action: raw_intent.action,
                order_prompt: raw_intent.order_prompt.filter(|p| !p.trim().is_empty()),
            });
        }
        if intents.is_empty() {
            return Err(invalid(
                0,
                "intent",
                "the knowledge base has no intents".into(),
            ));
        }
        let examples: HashSet<String> = intents
            .iter()
            .flat_map(|intent| intent.examples.iter().map(|e| normalize(e)))
            .collect();
        let mut out_of_scope = Vec::new();
        for example in raw.out_of_scope.map(|o| o.examples).unwrap_or_default() {
            let normalized = normalize(example.get_ref());
            let problem = if normalized.is_empty() {
                Some(format!("「{}」 has no words", example.get_ref()))
            } else if examples.contains(&normalized) {
                Some(format!(
                    "「{}」 is also an intent's example",
                    example.get_ref()
                ))
            } else {
                None
            };
            if let Some(message) = problem {
                return Err(invalid(
                    example.span().start,
                    "out_of_scope.examples",
                    message,
                ));
            }
            out_of_scope.push(example.into_inner());
        }
        let mut overrides = BTreeMap::new();
        for (shop, raw_shop) in raw.shops {
            let mut answers = BTreeMap::new();
            for (intent, answer) in raw_shop.answers {
                if !seen.contains(intent.get_ref()) {
                    return Err(invalid(
                        intent.span().start,
                        &format!("shops.{shop}.answers"),
                        format!("no intent `{}` to override", intent.get_ref()),
                    ));
                }
                answers.insert(intent.into_inner(), answer);
            }
            overrides.insert(shop, answers);
        }
        Ok(KnowledgeBase {
            source: path.to_owned(),
            intents,
            synonyms: raw.synonyms,
            out_of_scope,
            settings,
            overrides,
        })
    }

    /// Intents in file order.
    pub fn intents(&self) -> &[Intent] {
        &self.intents
    }

    /// The intent with this id.
    pub fn intent(&self, id: &str) -> Option<&Intent> {
        self.intents.iter().find(|intent| intent.id == id)
    }

    /// The answer for an intent in a shop: the shop's override, else the
    /// intent's own.
    pub fn answer_for<'a>(&'a self, shop: &str, intent: &'a Intent) -> &'a str {
        self.overrides
            .get(shop)
            .and_then(|answers| answers.get(&intent.id))
            .map_or(intent.answer.as_str(), String::as_str)
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<KnowledgeBase, KnowledgeBaseError> {
        KnowledgeBase::parse(Path::new("kb.toml"), text)
    }

    const MINIMAL: &str = r#"
[[intent]]
id = "ship_time"
scenario = "售前"
name = "发货时间"
answer = "48小时内发货"
examples = ["什么时候发货"]
"#;

    #[test]
    fn a_plain_intent_list_loads() {
        let kb = parse(MINIMAL).unwrap();
        assert_eq!(kb.intents.len(), 1);
        assert_eq!(kb.intents[0].action, None);
        assert_eq!(kb.settings, MatchSettings::default());
    }

    #[test]
    fn shops_override_answers() {
        let text = format!(
            "{MINIMAL}\n[shops.demo-jd.answers]\nship_time = \"京东仓当天发\"\n[synonyms]\nship = [\"发滴\"]\n[out_of_scope]\nexamples = [\"你们招人吗\"]\n"
        );
        let kb = parse(&text).unwrap();
        let intent = kb.intent("ship_time").unwrap();
        assert_eq!(kb.answer_for("demo-jd", intent), "京东仓当天发");
        assert_eq!(kb.answer_for("demo-oa", intent), "48小时内发货");
        assert_eq!(kb.synonyms["ship"], ["发滴"]);
        assert_eq!(kb.out_of_scope, ["你们招人吗"]);
    }

    #[test]
    fn errors_name_line_and_field() {
        let twice = format!("{MINIMAL}{MINIMAL}");
        let message = parse(&twice).unwrap_err().to_string();
        assert!(message.starts_with("kb.toml:10: intent.id:"), "{message}");
        assert!(message.contains("defined twice"), "{message}");

        let unknown = format!("{MINIMAL}\n[shops.s.answers]\nnope = \"x\"\n");
        let message = parse(&unknown).unwrap_err().to_string();
        assert!(message.contains("kb.toml:10: shops.s.answers"), "{message}");

        let bad_action = MINIMAL.replace("examples", "action = \"dance\"\nexamples");
        let message = parse(&bad_action).unwrap_err().to_string();
        assert!(message.starts_with("kb.toml:7:"), "{message}");
        assert!(message.contains("dance"), "{message}");

        let both = format!("{MINIMAL}\n[out_of_scope]\nexamples = [\"什么时候发货？\"]\n");
        let message = parse(&both).unwrap_err().to_string();
        assert!(
            message.starts_with("kb.toml:10: out_of_scope.examples"),
            "{message}"
        );
        assert!(message.contains("also an intent's example"), "{message}");
        let blank = format!("{MINIMAL}\n[out_of_scope]\nexamples = [\"？？\"]\n");
        let message = parse(&blank).unwrap_err().to_string();
        assert!(message.contains("has no words"), "{message}");

        let threshold = format!("[settings]\nanswer_threshold = 3.0\n{MINIMAL}");
        let message = parse(&threshold).unwrap_err().to_string();
        assert!(
            message.starts_with("kb.toml:2: settings.answer_threshold"),
            "{message}"
        );
    }
}
