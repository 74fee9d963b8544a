//! Conveniences for reading the shop's credentials, settings and plugin-held
//! state from a [`ShopContext`].

use crate::{Pair, PluginError, ShopContext, StateChange, StateEntry};

impl ShopContext {
    /// A context with no credentials, settings or state, for tests.
    pub fn for_test(shop_id: &str, now_ms: i64) -> Self {
        ShopContext {
            shop_id: shop_id.to_string(),
            credentials: Vec::new(),
            settings: Vec::new(),
            state: Vec::new(),
            now_ms,
        }
    }

    /// Add a credential (builder style, for tests).
    pub fn with_credential(mut self, name: &str, value: &str) -> Self {
        self.credentials.push(Pair::new(name, value));
        self
    }

    /// Add a setting (builder style, for tests).
    pub fn with_setting(mut self, name: &str, value: &str) -> Self {
        self.settings.push(Pair::new(name, value));
        self
    }

    /// Add a state entry (builder style, for tests).
    pub fn with_state(mut self, key: &str, value: &str, expires_at_ms: Option<i64>) -> Self {
        self.state.push(StateEntry {
            key: key.to_string(),
            value: value.to_string(),
            expires_at_ms,
        });
        self
    }

    /// A required credential, or [`PluginError::Misconfigured`] naming it.
    pub fn credential(&self, name: &str) -> Result<&str, PluginError> {
        self.optional_credential(name).ok_or_else(|| {
            PluginError::Misconfigured(format!(
                "shop `{}` has no credential `{name}`",
                self.shop_id
            ))
        })
    }

    /// A credential that may be absent (an empty value counts as absent).
    pub fn optional_credential(&self, name: &str) -> Option<&str> {
        find(&self.credentials, name)
    }

    /// A setting, if present and not empty.
    pub fn setting(&self, name: &str) -> Option<&str> {
        find(&self.settings, name)
    }

    /// A state entry's value, if present and not expired at `now_ms`.
    pub fn state_value(&self, key: &str) -> Option<&str> {
        self.state
            .iter()
            .find(|entry| entry.key == key)
            .filter(|entry| entry.expires_at_ms.is_none_or(|at| at > self.now_ms))
            .map(|entry| entry.value.as_str())
    }

    /// The context's clock in whole seconds.
    pub fn now_secs(&self) -> i64 {
        self.now_ms.div_euclid(1000)
    }
}

fn find<'a>(pairs: &'a [Pair], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|pair| pair.name == name)
        .map(|pair| pair.value.as_str())
        .filter(|value| !value.is_empty())
}

impl Pair {
    /// A name/value pair.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Pair {
            name: name.into(),
            value: value.into(),
        }
    }
}

impl StateChange {
    /// Set `key` to `value`, expiring at `expires_at_ms` if given.
    pub fn set(key: &str, value: impl Into<String>, expires_at_ms: Option<i64>) -> Self {
        StateChange::Set(StateEntry {
            key: key.to_string(),
            value: value.into(),
            expires_at_ms,
        })
    }

    /// Remove `key`.
    pub fn remove(key: &str) -> Self {
        StateChange::Remove(key.to_string())
    }

    /// A replay claim: the host commits the result that carries it only if
    /// no live claim with the same `key` exists for the shop, or the live
    /// one has the same `fingerprint` (the same request redelivered, whose
    /// events then dedupe as usual). Otherwise it refuses the whole request
    /// as a replay. Claims live until `expires_at_ms` and never appear in
    /// [`ShopContext::state`]. Use it for what must be accepted once, such
    /// as a signed push's (timestamp, nonce, signature), with a digest of
    /// the body as the fingerprint.
    pub fn claim_once(key: &str, fingerprint: &str, expires_at_ms: i64) -> Self {
        StateChange::Set(StateEntry {
            key: format!("{REPLAY_CLAIM_PREFIX}{key}"),
            value: fingerprint.to_string(),
            expires_at_ms: Some(expires_at_ms),
        })
    }
}

/// The state-key prefix that marks a [`StateChange::claim_once`] replay claim.
pub const REPLAY_CLAIM_PREFIX: &str = "once:";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_state_is_invisible() {
        let ctx = ShopContext::for_test("s", 1_000)
            .with_state("live", "a", Some(2_000))
            .with_state("dead", "b", Some(1_000))
            .with_state("forever", "c", None);
        assert_eq!(ctx.state_value("live"), Some("a"));
        assert_eq!(ctx.state_value("dead"), None);
        assert_eq!(ctx.state_value("forever"), Some("c"));
    }

    #[test]
    fn missing_credential_names_shop_and_field() {
        let ctx = ShopContext::for_test("shop-9", 0).with_credential("empty", "");
        let err = ctx.credential("app_secret").unwrap_err();
        assert_eq!(
            err,
            PluginError::Misconfigured("shop `shop-9` has no credential `app_secret`".into())
        );
        assert!(ctx.credential("empty").is_err());
    }
}
