//! The bot's knowledge: the brand's knowledge base with its matcher, and the
//! sentiment detector (both from the `tongdao-bot` crate). The pipeline asks
//! it what to do with a customer's message. The knowledge base can be edited
//! while the host serves: the file is changed in place and a new matcher
//! swapped in atomically; decisions in flight finish on the one they
//! started with.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
pub use tongdao_bot::knowledge_base::{Intent, IntentAction, KnowledgeBase, MatchSettings};
pub use tongdao_bot::knowledge_base_edit::KnowledgeBaseEdit;
pub use tongdao_bot::matcher::{Decision, Matcher};
pub use tongdao_bot::sentiment::{Assessment, SentimentDetector};

/// The knowledge base (if configured) and the sentiment detector.
#[derive(Debug)]
pub struct Bot {
    matcher: RwLock<Option<Arc<Matcher>>>,
    /// The knowledge base's file, and the threshold that overrides its own.
    source: Option<(PathBuf, Option<f64>)>,
    /// One edit at a time.
    editing: Mutex<()>,
    sentiment: SentimentDetector,
}

impl Bot {
    /// Loads the knowledge base at `path`, if any; `answer_threshold`
    /// overrides the knowledge base's own.
    pub fn load(path: Option<&Path>, answer_threshold: Option<f64>) -> anyhow::Result<Bot> {
        let matcher = match path {
            Some(path) => {
                let knowledge_base = KnowledgeBase::load(path)?;
                Some(Arc::new(matcher_for(knowledge_base, answer_threshold)))
            }
            None => None,
        };
        Ok(Bot {
            matcher: RwLock::new(matcher),
            source: path.map(|p| (p.to_owned(), answer_threshold)),
            editing: Mutex::new(()),
            sentiment: SentimentDetector::new(),
        })
    }

    /// The matcher now, when a knowledge base is configured.
    pub fn matcher(&self) -> Option<Arc<Matcher>> {
        self.matcher
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The knowledge base's file, when one is configured.
    pub fn knowledge_base_path(&self) -> Option<&Path> {
        self.source.as_ref().map(|(path, _)| path.as_path())
    }

    /// Edits the knowledge base file (keeping its comments and layout) and
    /// swaps in a matcher built from it. Nothing changes when the edit
    /// fails.
    pub fn edit(&self, edit: &KnowledgeBaseEdit) -> anyhow::Result<()> {
        let Some((path, answer_threshold)) = &self.source else {
            anyhow::bail!("no knowledge base is configured ([bot] knowledge_base)");
        };
        let _one_at_a_time = self
            .editing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let knowledge_base = tongdao_bot::knowledge_base_edit::apply(path, edit)?;
        let matcher = Arc::new(matcher_for(knowledge_base, *answer_threshold));
        *self
            .matcher
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(matcher);
        Ok(())
    }

    /// How angry a message reads.
    pub fn assess(&self, text: &str) -> Assessment {
        self.sentiment.assess(text)
    }
}

fn matcher_for(mut knowledge_base: KnowledgeBase, answer_threshold: Option<f64>) -> Matcher {
    if let Some(threshold) = answer_threshold {
        knowledge_base.settings.answer_threshold = threshold;
    }
    Matcher::new(knowledge_base)
}
