//! The bot's knowledge, loaded once per host: the brand's knowledge base
//! with its matcher, and the sentiment detector (both from the
//! `tongdao-bot` crate). The pipeline asks it what to do with a customer's
//! message.

use std::path::Path;
pub use tongdao_bot::knowledge_base::{Intent, IntentAction, KnowledgeBase, MatchSettings};
pub use tongdao_bot::matcher::{Decision, Matcher};
pub use tongdao_bot::sentiment::{Assessment, SentimentDetector};

/// The knowledge base (if configured) and the sentiment detector.
#[derive(Debug)]
pub struct Bot {
    matcher: Option<Matcher>,
    sentiment: SentimentDetector,
}

impl Bot {
    /// Loads the knowledge base at `path`, if any; `answer_threshold`
    /// overrides the knowledge base's own.
    pub fn load(path: Option<&Path>, answer_threshold: Option<f64>) -> anyhow::Result<Bot> {
        let matcher = match path {
            Some(path) => {
                let mut knowledge_base = KnowledgeBase::load(path)?;
                if let Some(threshold) = answer_threshold {
                    knowledge_base.settings.answer_threshold = threshold;
                }
                Some(Matcher::new(knowledge_base))
            }
            None => None,
        };
        Ok(Bot {
            matcher,
            sentiment: SentimentDetector::new(),
        })
    }

    /// The matcher, when a knowledge base is configured.
    pub fn matcher(&self) -> Option<&Matcher> {
        self.matcher.as_ref()
    }

    /// How angry a message reads.
    pub fn assess(&self, text: &str) -> Assessment {
        self.sentiment.assess(text)
    }
}
