//! The `[market]` section: where a brand's shops install plugins from, and
//! the marketplace root keys pinned to trust it.
//!
//! ```toml
//! [market]
//! source = "https://market.example.com/"   # or a directory
//! roots = ["ed25519:…"]                     # the marketplace's root keys
//! threshold = 1                             # how many must sign keys.json
//! ```

use super::Builder;
use crate::config::raw::{RawMarket, Spanned};
use tongdao_market::keys::PublicKey;

/// Where plugins are installed from, and whom to trust.
#[derive(Debug, Clone)]
pub struct MarketConfig {
    /// A directory or an `http(s)://` URL.
    pub source: String,
    /// The pinned root keys.
    pub roots: Vec<PublicKey>,
    /// How many of them must sign `keys.json`.
    pub threshold: usize,
}

impl MarketConfig {
    /// The roots as the trust checks take them.
    pub fn trust_roots(&self) -> tongdao_market::trust::Roots {
        tongdao_market::trust::Roots {
            keys: self.roots.clone(),
            threshold: self.threshold,
        }
    }
}

impl Builder {
    pub(super) fn market(
        &self,
        raw: Option<Spanned<RawMarket>>,
    ) -> Result<Option<MarketConfig>, super::ConfigError> {
        let Some(raw) = raw else {
            return Ok(None);
        };
        let raw = raw.into_inner();
        let source = raw.source.get_ref().trim().to_owned();
        if source.is_empty() {
            return Err(self.error(&raw.source, "market.source", "is empty".into()));
        }
        let source = if source.starts_with("http://") || source.starts_with("https://") {
            if url::Url::parse(&source).is_err() {
                return Err(self.error(
                    &raw.source,
                    "market.source",
                    format!("`{source}` is not a URL"),
                ));
            }
            source
        } else {
            self.resolve(&source).display().to_string()
        };
        let mut roots = Vec::new();
        for root in raw.roots.get_ref() {
            let key = PublicKey::parse(root.get_ref())
                .map_err(|err| self.error(root, "market.roots", err.to_string()))?;
            // Twice the same key would let one signature count twice.
            if roots.contains(&key) {
                return Err(self.error(root, "market.roots", format!("{key} is listed twice")));
            }
            roots.push(key);
        }
        if roots.is_empty() {
            return Err(self.error(
                &raw.roots,
                "market.roots",
                "pin at least one root key (`tongdao market init` prints it)".into(),
            ));
        }
        let threshold = match &raw.threshold {
            Some(t) if *t.get_ref() == 0 || *t.get_ref() as usize > roots.len() => {
                return Err(self.error(
                    t,
                    "market.threshold",
                    format!("{} is not within 1..={}", t.get_ref(), roots.len()),
                ));
            }
            Some(t) => *t.get_ref() as usize,
            None => 1,
        };
        Ok(Some(MarketConfig {
            source,
            roots,
            threshold,
        }))
    }
}
