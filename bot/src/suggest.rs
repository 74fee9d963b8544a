//! Learning from agents: questions the bot could not answer, with what the
//! agents replied to them, grouped by similarity and offered as new examples
//! for an existing intent (when the group's questions lean towards one) or
//! as a new intent (with the agents' most frequent reply as its answer).
//! Grouping is greedy: each question joins the first group whose centroid it
//! resembles (weighted cosine over the matcher's features), else starts one.

use crate::matcher::Matcher;
use crate::text::Features;
use serde::Serialize;
use std::collections::HashMap;

/// Cosine similarity to a group's centroid needed to join it.
const JOIN_SIMILARITY: f64 = 0.25;
/// Similarity to an intent's closest example from which a group counts as
/// new wording for that intent rather than a new intent.
const EXISTING_INTENT_SIMILARITY: f64 = 0.3;
/// Questions shown per suggestion.
const SAMPLES: usize = 5;

/// A question the bot did not answer, and what an agent replied.
#[derive(Debug, Clone, PartialEq)]
pub struct Unanswered {
    /// The customer's question.
    pub question: String,
    /// The agent's first reply after it, if any.
    pub agent_reply: Option<String>,
}

/// What to add to the knowledge base.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Suggestion {
    /// New example questions for an intent the knowledge base has.
    NewExamples {
        /// The intent.
        intent: String,
        /// How many unanswered questions the group holds.
        count: usize,
        /// The questions to add (distinct, at most a few).
        questions: Vec<String>,
    },
    /// A new intent.
    NewIntent {
        /// A proposed id (edit before accepting).
        id: String,
        /// How many unanswered questions the group holds.
        count: usize,
        /// Its example questions (distinct, at most a few).
        questions: Vec<String>,
        /// The agents' most frequent reply, as the proposed answer.
        answer: Option<String>,
        /// How many of the group's questions had that reply.
        answer_count: usize,
    },
}

impl Suggestion {
    /// How many unanswered questions back it.
    pub fn count(&self) -> usize {
        match self {
            Suggestion::NewExamples { count, .. } | Suggestion::NewIntent { count, .. } => *count,
        }
    }
}

/// One group being built.
struct Group {
    centroid: HashMap<String, f64>,
    members: Vec<usize>,
}

/// Groups `items` and turns each group of at least `min_count` questions
/// into a suggestion, most frequent first.
pub fn suggest(matcher: &Matcher, items: &[Unanswered], min_count: usize) -> Vec<Suggestion> {
    let weighted: Vec<HashMap<String, f64>> = items
        .iter()
        .map(|item| weigh(&matcher.analyzer().features(&item.question)))
        .collect();
    let mut groups: Vec<Group> = Vec::new();
    for (index, features) in weighted.iter().enumerate() {
        if features.is_empty() {
            continue;
        }
        let joined = groups
            .iter_mut()
            .find(|group| cosine(&group.centroid, features) >= JOIN_SIMILARITY);
        match joined {
            Some(group) => {
                for (feature, weight) in features {
                    *group.centroid.entry(feature.clone()).or_default() += weight;
                }
                group.members.push(index);
            }
            None => groups.push(Group {
                centroid: features.clone(),
                members: vec![index],
            }),
        }
    }
    let mut suggestions: Vec<Suggestion> = groups
        .iter()
        .filter(|group| group.members.len() >= min_count.max(1))
        .enumerate()
        .map(|(number, group)| describe(matcher, items, group, number + 1))
        .collect();
    suggestions.sort_by_key(|s| std::cmp::Reverse(s.count()));
    suggestions
}

fn describe(matcher: &Matcher, items: &[Unanswered], group: &Group, number: usize) -> Suggestion {
    let mut questions: Vec<String> = Vec::new();
    for &member in &group.members {
        let question = items[member].question.trim().to_owned();
        if !questions.contains(&question) && questions.len() < SAMPLES {
            questions.push(question);
        }
    }
    // The intent most of the group leans to, if they lean to one.
    let mut leaning: HashMap<&str, usize> = HashMap::new();
    for &member in &group.members {
        let question = &items[member].question;
        if let Some(best) = matcher.rank(question).first()
            && best.similarity >= EXISTING_INTENT_SIMILARITY
            && !matcher.is_out_of_scope(question)
        {
            *leaning.entry(best.intent.id.as_str()).or_default() += 1;
        }
    }
    let majority = leaning
        .iter()
        .filter(|(_, n)| **n * 2 > group.members.len())
        .max_by_key(|(_, n)| **n);
    if let Some((intent, _)) = majority {
        return Suggestion::NewExamples {
            intent: (*intent).to_owned(),
            count: group.members.len(),
            questions,
        };
    }
    let mut replies: HashMap<&str, usize> = HashMap::new();
    for &member in &group.members {
        if let Some(reply) = &items[member].agent_reply {
            *replies.entry(reply.trim()).or_default() += 1;
        }
    }
    let answer = replies
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(reply, n)| ((*reply).to_owned(), *n));
    Suggestion::NewIntent {
        id: format!("suggested_{number}"),
        count: group.members.len(),
        questions,
        answer_count: answer.as_ref().map_or(0, |(_, n)| *n),
        answer: answer.map(|(reply, _)| reply),
    }
}

/// Features weighted as the matcher weighs kinds: concepts most, words,
/// then bigrams and sounds.
fn weigh(features: &Features) -> HashMap<String, f64> {
    features
        .iter()
        .map(|(feature, count)| {
            let kind = match feature.as_bytes().first() {
                Some(b'c') | Some(b'n') => 3.0,
                Some(b'w') => 1.0,
                Some(b'b') => 0.3,
                _ => 0.2,
            };
            (feature.clone(), kind * f64::from(*count))
        })
        .collect()
}

fn cosine(a: &HashMap<String, f64>, b: &HashMap<String, f64>) -> f64 {
    let dot: f64 = b
        .iter()
        .filter_map(|(feature, weight)| a.get(feature).map(|other| other * weight))
        .sum();
    let norm = |m: &HashMap<String, f64>| m.values().map(|v| v * v).sum::<f64>().sqrt();
    let (na, nb) = (norm(a), norm(b));
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
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

    fn item(question: &str, reply: Option<&str>) -> Unanswered {
        Unanswered {
            question: question.to_owned(),
            agent_reply: reply.map(str::to_owned),
        }
    }

    #[test]
    fn similar_unanswered_questions_become_one_new_intent_with_the_agents_answer() {
        let matcher = matcher();
        let reply = "亲，这款是100%纯棉面料的哦～";
        let items = [
            item("这件衣服是纯棉的吗", Some(reply)),
            item("面料是不是纯棉", Some(reply)),
            item("纯棉的吗这款", Some("是纯棉的")),
            item("能开发票吗我要报销", None),
            item("你们实体店在哪里", None),
            item("实体店地址发我一下", Some("亲，本店只在线上销售哦")),
        ];
        let suggestions = suggest(&matcher, &items, 2);
        assert_eq!(suggestions.len(), 1, "{suggestions:#?}");
        match &suggestions[0] {
            Suggestion::NewIntent {
                count,
                questions,
                answer,
                answer_count,
                ..
            } => {
                assert_eq!(*count, 3);
                assert_eq!(questions.len(), 3);
                assert_eq!(answer.as_deref(), Some(reply));
                assert_eq!(*answer_count, 2);
            }
            other => panic!("{other:?}"),
        }
    }
}
