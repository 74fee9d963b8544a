//! Measuring the bot on labelled data: the knowledge-base matcher on
//! (intent, question) pairs and the sentiment detector on (label, text)
//! pairs, both read from TSV files with a header line. The reports print
//! per-class results and end with the summary line the `tongdao kb eval` and
//! `tongdao sentiment eval` commands promise.

use crate::knowledge_base::KnowledgeBase;
use crate::matcher::{Decision, Matcher};
use crate::sentiment::SentimentDetector;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// A labelled TSV file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}:{line}: {message}")]
pub struct DataError {
    /// The file.
    pub path: String,
    /// 1-based line (0 when the file cannot be read).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Reads `label<TAB>text` rows after the header line.
pub fn read_labelled(path: &Path) -> Result<Vec<(String, String)>, DataError> {
    let error = |line: usize, message: String| DataError {
        path: path.display().to_string(),
        line,
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|err| error(0, err.to_string()))?;
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let Some((label, body)) = line.split_once('\t') else {
            return Err(error(
                index + 1,
                "expected two tab-separated columns".into(),
            ));
        };
        rows.push((label.trim().to_owned(), body.trim().to_owned()));
    }
    if rows.is_empty() {
        return Err(error(1, "no rows after the header line".into()));
    }
    Ok(rows)
}

/// The label of a question no intent of the knowledge base answers: the
/// bot should not answer it outright.
pub const OUT_OF_SCOPE: &str = "none";

/// Results per intent of a knowledge-base evaluation.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct IntentResult {
    /// Questions labelled with this intent.
    pub total: usize,
    /// Of them, ranked first correctly.
    pub correct: usize,
    /// Of them, answered outright with this intent.
    pub automated: usize,
    /// Wrong top intents (or, for out-of-scope questions, intents answered
    /// outright) and how often.
    pub confused_with: BTreeMap<String, usize>,
}

/// A knowledge-base evaluation.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct KbReport {
    /// Per label (intents, and [`OUT_OF_SCOPE`]).
    pub intents: BTreeMap<String, IntentResult>,
    /// Questions the bot would answer outright (above the answer threshold).
    pub answered: usize,
    /// Of them, answered with the right intent.
    pub answered_correctly: usize,
    /// Questions the bot would ask to clarify, with the right intent among
    /// the candidates.
    pub clarified_with_right_candidate: usize,
    /// Questions the bot would ask to clarify.
    pub clarified: usize,
    /// Out-of-scope questions answered outright (always wrong).
    pub out_of_scope_answered: usize,
    /// Labels that name no intent of the knowledge base (nor out of scope).
    pub unknown_labels: Vec<String>,
}

impl KbReport {
    /// Questions in total.
    pub fn total(&self) -> usize {
        self.intents.values().map(|r| r.total).sum()
    }

    /// Questions some intent of the knowledge base answers.
    pub fn in_scope(&self) -> usize {
        self.total() - self.out_of_scope()
    }

    /// Questions labelled [`OUT_OF_SCOPE`].
    pub fn out_of_scope(&self) -> usize {
        self.intents.get(OUT_OF_SCOPE).map_or(0, |r| r.total)
    }

    /// In-scope questions whose best-ranked intent was right.
    pub fn correct(&self) -> usize {
        self.intents.values().map(|r| r.correct).sum()
    }

    /// Top-1 accuracy over the in-scope questions.
    pub fn accuracy(&self) -> f64 {
        ratio(self.correct(), self.in_scope())
    }

    /// The automation rate: in-scope questions answered outright with the
    /// right intent, over all in-scope questions. The headline figure.
    pub fn automation(&self) -> f64 {
        ratio(self.answered_correctly, self.in_scope())
    }

    /// Of the questions answered outright (out-of-scope ones included),
    /// the share answered with the right intent.
    pub fn precision(&self) -> f64 {
        ratio(self.answered_correctly, self.answered)
    }

    /// Share of all questions the bot asks to clarify.
    pub fn clarified_share(&self) -> f64 {
        ratio(self.clarified, self.total())
    }

    /// Share of all questions the bot neither answers nor clarifies: they
    /// are handed over to a person.
    pub fn handed_over_share(&self) -> f64 {
        ratio(self.total() - self.answered - self.clarified, self.total())
    }
}

/// Runs every question through the matcher.
pub fn evaluate_kb(matcher: &Matcher, questions: &[(String, String)]) -> KbReport {
    let mut report = KbReport::default();
    for (label, question) in questions {
        let out_of_scope = label == OUT_OF_SCOPE;
        if !out_of_scope && matcher.knowledge_base().intent(label).is_none() {
            report.unknown_labels.push(label.clone());
        }
        let ranked = matcher.rank(question);
        let top = ranked.first().map(|s| s.intent.id.as_str()).unwrap_or("");
        let result = report.intents.entry(label.clone()).or_default();
        result.total += 1;
        if !out_of_scope {
            if top == label {
                result.correct += 1;
            } else {
                *result.confused_with.entry(top.to_owned()).or_default() += 1;
            }
        }
        match matcher.decide(question) {
            Decision::Answer { intent, .. } => {
                report.answered += 1;
                if intent.id == *label {
                    report.answered_correctly += 1;
                    result.automated += 1;
                } else if out_of_scope {
                    report.out_of_scope_answered += 1;
                    *result.confused_with.entry(intent.id.clone()).or_default() += 1;
                }
            }
            Decision::Clarify { candidates } => {
                report.clarified += 1;
                if candidates.iter().any(|c| c.id == *label) {
                    report.clarified_with_right_candidate += 1;
                }
            }
            Decision::Unknown => {}
        }
    }
    report
}

/// Cross-validates a knowledge base on its own examples, for a brand
/// without labelled questions: the examples (and out-of-scope questions,
/// labelled [`OUT_OF_SCOPE`]) are dealt into `folds` folds by position;
/// each fold is matched against a knowledge base built from the others and
/// the results are summed. An intent with a single example keeps it. The
/// figures are lower than on questions like the examples, since every
/// held-out example is one the others were written not to repeat.
pub fn cross_validate(knowledge_base: &KnowledgeBase, folds: usize) -> KbReport {
    let folds = folds.max(2);
    let mut report = KbReport::default();
    for fold in 0..folds {
        let mut training = knowledge_base.clone();
        let mut questions: Vec<(String, String)> = Vec::new();
        for intent in &mut training.intents {
            if intent.examples.len() < 2 {
                continue;
            }
            let (held, kept) = split_fold(std::mem::take(&mut intent.examples), folds, fold);
            questions.extend(held.into_iter().map(|q| (intent.id.clone(), q)));
            intent.examples = kept;
        }
        let (held, kept) = split_fold(std::mem::take(&mut training.out_of_scope), folds, fold);
        questions.extend(held.into_iter().map(|q| (OUT_OF_SCOPE.to_owned(), q)));
        training.out_of_scope = kept;
        report.add(evaluate_kb(&Matcher::new(training), &questions));
    }
    report
}

/// Splits texts into fold `fold` of `folds` (by position) and the rest.
fn split_fold(texts: Vec<String>, folds: usize, fold: usize) -> (Vec<String>, Vec<String>) {
    let (held, kept): (Vec<_>, Vec<_>) = texts
        .into_iter()
        .enumerate()
        .partition(|(index, _)| index % folds == fold);
    let texts = |pairs: Vec<(usize, String)>| pairs.into_iter().map(|(_, t)| t).collect();
    (texts(held), texts(kept))
}

impl KbReport {
    /// Adds another evaluation's counts to this one.
    pub fn add(&mut self, other: KbReport) {
        for (label, result) in other.intents {
            let mine = self.intents.entry(label).or_default();
            mine.total += result.total;
            mine.correct += result.correct;
            mine.automated += result.automated;
            for (confused, count) in result.confused_with {
                *mine.confused_with.entry(confused).or_default() += count;
            }
        }
        self.answered += other.answered;
        self.answered_correctly += other.answered_correctly;
        self.clarified_with_right_candidate += other.clarified_with_right_candidate;
        self.clarified += other.clarified;
        self.out_of_scope_answered += other.out_of_scope_answered;
        for label in other.unknown_labels {
            if !self.unknown_labels.contains(&label) {
                self.unknown_labels.push(label);
            }
        }
    }
}

impl fmt::Display for KbReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<20} {:>9} {:>7}  confused with",
            "intent", "automated", "top-1"
        )?;
        for (intent, result) in &self.intents {
            let confused: Vec<String> = result
                .confused_with
                .iter()
                .map(|(other, count)| format!("{other}×{count}"))
                .collect();
            let top = if intent == OUT_OF_SCOPE {
                "—".to_owned()
            } else {
                format!("{}/{}", result.correct, result.total)
            };
            writeln!(
                f,
                "{:<20} {:>9} {:>7}  {}",
                intent,
                format!("{}/{}", result.automated, result.total),
                top,
                confused.join(" ")
            )?;
        }
        for label in &self.unknown_labels {
            writeln!(
                f,
                "warning: label `{label}` is not an intent of the knowledge base (nor `{OUT_OF_SCOPE}`)"
            )?;
        }
        writeln!(
            f,
            "{} questions, {} in scope, {} out of scope ({} of them answered, wrongly)",
            self.total(),
            self.in_scope(),
            self.out_of_scope(),
            self.out_of_scope_answered
        )?;
        writeln!(
            f,
            "answered outright: {} ({} right); asked to clarify: {} ({} with the right intent offered); handed over: {}",
            self.answered,
            self.answered_correctly,
            self.clarified,
            self.clarified_with_right_candidate,
            self.total() - self.answered - self.clarified,
        )?;
        write!(
            f,
            "automation: {:.3} precision: {:.3} clarified: {:.3} handed_over: {:.3} top1: {:.3}",
            self.automation(),
            self.precision(),
            self.clarified_share(),
            self.handed_over_share(),
            self.accuracy(),
        )
    }
}

/// A sentiment evaluation: `negative` is the positive class.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SentimentReport {
    /// Negative messages detected.
    pub true_positives: usize,
    /// Other messages flagged negative.
    pub false_positives: usize,
    /// Negative messages missed.
    pub false_negatives: usize,
    /// Other messages left alone.
    pub true_negatives: usize,
    /// Misclassified texts with their label, for reading.
    pub mistakes: Vec<(String, String)>,
}

impl SentimentReport {
    /// Of the negative messages, the share detected.
    pub fn recall(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }

    /// Of the flagged messages, the share really negative.
    pub fn precision(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }

    /// Of the other messages, the share flagged.
    pub fn false_positive_rate(&self) -> f64 {
        ratio(
            self.false_positives,
            self.false_positives + self.true_negatives,
        )
    }
}

/// Runs every labelled text through the detector; labels other than
/// `negative` count as `other`.
pub fn evaluate_sentiment(
    detector: &SentimentDetector,
    rows: &[(String, String)],
) -> SentimentReport {
    let mut report = SentimentReport::default();
    for (label, text) in rows {
        let negative = label == "negative";
        let flagged = detector.assess(text).is_negative();
        match (negative, flagged) {
            (true, true) => report.true_positives += 1,
            (true, false) => report.false_negatives += 1,
            (false, true) => report.false_positives += 1,
            (false, false) => report.true_negatives += 1,
        }
        if negative != flagged {
            report.mistakes.push((label.clone(), text.clone()));
        }
    }
    report
}

impl fmt::Display for SentimentReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "negative detected: {} missed: {}; other flagged: {} left alone: {}",
            self.true_positives, self.false_negatives, self.false_positives, self.true_negatives
        )?;
        for (label, text) in &self.mistakes {
            writeln!(f, "mistake ({label}): {text}")?;
        }
        write!(
            f,
            "recall: {:.3} precision: {:.3} false_positive_rate: {:.3}",
            self.recall(),
            self.precision(),
            self.false_positive_rate()
        )
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn cross_validation_holds_out_every_example_once() {
        let text = r#"
[[intent]]
id = "ship_time"
answer = "48小时内发货"
examples = ["什么时候发货", "几天能发出", "今天能发货吗", "啥时候寄出"]

[[intent]]
id = "invoice"
answer = "可以开发票"
examples = ["能开发票吗", "发票怎么开", "可以开专票吗"]

[[intent]]
id = "greeting"
answer = "您好"
examples = ["在吗"]

[out_of_scope]
examples = ["你们招人吗", "实体店在哪", "天气真好"]
"#;
        let kb = KnowledgeBase::parse(Path::new("kb.toml"), text).unwrap();
        let report = cross_validate(&kb, 3);
        assert_eq!(report.total(), 4 + 3 + 3, "the single example stays");
        assert_eq!(report.out_of_scope(), 3);
        assert_eq!(report.intents["ship_time"].total, 4);
        assert!(!report.intents.contains_key("greeting"));
        assert!(report.unknown_labels.is_empty());
    }
}
