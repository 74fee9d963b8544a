//! Spotting the customers a person must talk to now. Rules find the cues of
//! an angry message (threats to complain or review badly, insults, anger,
//! frustration that has built up, shouting, and phrases that turn these
//! around); a logistic-regression model, trained on labelled
//! customer-service messages when the detector is built, weighs them with
//! the message's character n-grams into a probability. A message is
//! negative at [`NEGATIVE_PROBABILITY`] or above; the cues and the features
//! that pushed hardest say why.

mod cues;
mod model;

pub use cues::{Cue, CueFinder, CueKind};
pub use model::Model;

use jieba_rs::Jieba;

/// The labelled messages the model is trained on (TSV: `negative|other`,
/// text; a header line first). Written for this purpose; the evaluation
/// sets under `examples/sentiment/` are not among them.
pub const TRAINING_DATA: &str = include_str!("../../data/sentiment-train.tsv");

/// Probability at or above which a message is negative.
pub const NEGATIVE_PROBABILITY: f64 = 0.30;

/// How many model features an assessment reports.
const SIGNALS: usize = 3;

/// The assessment of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// The rule cues found.
    pub cues: Vec<Cue>,
    /// The model's probability that the message is negative.
    pub probability: f64,
    /// The features that pushed hardest towards negative, with their push.
    pub signals: Vec<(String, f64)>,
}

impl Assessment {
    /// Whether the message should go to a person with priority.
    pub fn is_negative(&self) -> bool {
        self.probability >= NEGATIVE_PROBABILITY
    }

    /// Whether the customer threatens a complaint or a bad review (the
    /// highest priority).
    pub fn threatens(&self) -> bool {
        self.is_negative() && self.cues.iter().any(|c| c.kind == CueKind::Threat)
    }

    /// Why, in a few words: the cues found, else the strongest features.
    pub fn explanation(&self) -> String {
        let mut said: Vec<String> = self.cues.iter().map(|c| c.text.clone()).collect();
        if said.is_empty() {
            said = self.signals.iter().map(|(name, _)| name.clone()).collect();
        }
        format!("p={:.2}: {}", self.probability, said.join(", "))
    }
}

/// The rows of labelled TSV text (`label<TAB>text`, header first); labels
/// other than `negative` count as other.
pub fn labelled_rows(tsv: &str) -> Vec<(bool, &str)> {
    tsv.lines()
        .skip(1)
        .filter_map(|line| line.split_once('\t'))
        .map(|(label, text)| (label.trim() == "negative", text.trim()))
        .filter(|(_, text)| !text.is_empty())
        .collect()
}

/// The cues of `text`, and its model features with `jieba`'s words.
fn features(cues: &CueFinder, jieba: &Jieba, text: &str) -> (Vec<Cue>, Vec<(String, f64)>) {
    let cues = cues.find(text);
    let features = model::features(text, &cues, |normalized| {
        jieba
            .cut(normalized, true)
            .into_iter()
            .map(|token| token.word)
            .collect()
    });
    (cues, features)
}

/// The cue rules, the word segmenter and the trained model.
pub struct SentimentDetector {
    cues: CueFinder,
    jieba: Jieba,
    model: Model,
}

impl std::fmt::Debug for SentimentDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentimentDetector")
            .field("model_features", &self.model.len())
            .finish_non_exhaustive()
    }
}

impl Default for SentimentDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl SentimentDetector {
    /// The rules, and the model trained on [`TRAINING_DATA`].
    pub fn new() -> SentimentDetector {
        Self::trained_on(&labelled_rows(TRAINING_DATA))
    }

    /// The rules, and a model trained on `rows` (is negative, text).
    pub fn trained_on(rows: &[(bool, &str)]) -> SentimentDetector {
        let cues = CueFinder::new();
        let jieba = Jieba::new();
        let examples: Vec<(bool, Vec<(String, f64)>)> = rows
            .iter()
            .map(|(negative, text)| (*negative, features(&cues, &jieba, text).1))
            .collect();
        SentimentDetector {
            model: Model::train(&examples),
            cues,
            jieba,
        }
    }

    /// Assesses one message.
    pub fn assess(&self, text: &str) -> Assessment {
        let (cues, features) = features(&self.cues, &self.jieba, text);
        Assessment {
            probability: self.model.probability(&features),
            signals: self.model.strongest(&features, SIGNALS),
            cues,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_training_data_is_labelled_and_balanced() {
        let rows = labelled_rows(TRAINING_DATA);
        assert!(rows.len() >= 1000, "{} rows", rows.len());
        // Calm text outnumbers angry text, as in real chats, but neither
        // class may be a small minority.
        let negative = rows.iter().filter(|(n, _)| *n).count();
        assert!(
            (0.3..=0.6).contains(&(negative as f64 / rows.len() as f64)),
            "{negative} of {}",
            rows.len()
        );
        for line in TRAINING_DATA.lines().skip(1) {
            let (label, _) = line.split_once('\t').expect("two columns");
            assert!(label == "negative" || label == "other", "{line}");
        }
    }

    #[test]
    fn angry_customers_are_negative_and_threats_come_first() {
        let detector = SentimentDetector::new();
        let threat = detector.assess("再不处理我就去12315投诉你们");
        assert!(threat.is_negative() && threat.threatens(), "{threat:?}");
        let angry = detector.assess("气死了，包裹第三次丢件，你们到底管不管");
        assert!(angry.is_negative() && !angry.threatens(), "{angry:?}");
        assert!(
            angry.explanation().contains("气死"),
            "{}",
            angry.explanation()
        );
    }

    #[test]
    fn calm_messages_are_not() {
        let detector = SentimentDetector::new();
        for calm in [
            "请问什么时候发货",
            "放心，不是差评，想问下怎么追评",
            "我要表扬你们客服",
            "颜色差不多就行",
            "好的，辛苦啦",
        ] {
            let assessment = detector.assess(calm);
            assert!(!assessment.is_negative(), "{calm}: {assessment:?}");
        }
    }
}
