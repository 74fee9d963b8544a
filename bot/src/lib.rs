//! tongdao's bot, independent of the host: the knowledge-base format, the
//! Chinese question matcher (normalization, jieba segmentation, a retail
//! concept lexicon, BM25 blended with example similarity), the sentiment
//! detector that sends angry customers to a person, and the evaluations the
//! `tongdao kb eval` and `tongdao sentiment eval` commands print.

pub mod classifier;
pub mod eval;
pub mod followup;
pub mod knowledge_base;
pub mod knowledge_base_edit;
pub mod lexicon;
pub mod matcher;
pub mod overlap;
pub mod sentiment;
pub mod suggest;
pub mod text;

pub use knowledge_base::{Intent, IntentAction, KnowledgeBase, KnowledgeBaseError};
pub use matcher::{Decision, Matcher};
pub use sentiment::{Assessment, SentimentDetector};
