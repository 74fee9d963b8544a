//! `tongdao:channel@0.2.0`: typed secrets. Its `types` interface is 0.1.0's
//! with two records changed — a credential may be `secret`, and the shop's
//! context names its secrets instead of carrying their values — so
//! [`types`] re-exports 0.1.0's records and defines only those two (and the
//! manifest that holds the first). A call's context is split here: secret
//! values stay in the host's call state, their names go to the plugin.

use std::collections::BTreeSet;
use types::Pair;

/// The Rust side of `tongdao:channel/types@0.2.0`.
pub mod types {
    pub use crate::runtime::bindings::v0_1::tongdao::channel::types::*;
    use wasmtime::component::{ComponentType, Lift, Lower};

    /// What a call knows about the shop it serves (0.2.0).
    #[derive(ComponentType, Lift, Lower, Clone, Debug, PartialEq)]
    #[component(record)]
    pub struct ShopContext {
        /// The brand's id for the shop.
        #[component(name = "shop-id")]
        pub shop_id: String,
        /// The shop's credentials that are not secret.
        pub credentials: Vec<Pair>,
        /// Non-secret per-shop settings.
        pub settings: Vec<Pair>,
        /// Plugin-held state.
        pub state: Vec<StateEntry>,
        /// The host's wall clock, Unix milliseconds.
        #[component(name = "now-ms")]
        pub now_ms: i64,
        /// The names of the shop's secret credentials that are configured.
        pub secrets: Vec<String>,
    }

    /// A credential the plugin reads (0.2.0: it may be secret).
    #[derive(ComponentType, Lift, Lower, Clone, Debug, PartialEq)]
    #[component(record)]
    pub struct CredentialSpec {
        /// Its name in the shop's config.
        pub name: String,
        /// What it is.
        pub description: String,
        /// Whether every shop must give it.
        pub required: bool,
        /// The value never enters the plugin.
        pub secret: bool,
    }

    /// What a plugin is and what it may do (0.2.0).
    #[derive(ComponentType, Lift, Lower, Clone, Debug, PartialEq)]
    #[component(record)]
    pub struct Manifest {
        /// The plugin's name.
        pub name: String,
        /// Its version.
        pub version: String,
        /// The platform it speaks for.
        pub platform: String,
        /// How the platform delivers events.
        pub ingestion: Vec<IngestionShape>,
        /// Hosts it may send requests to.
        #[component(name = "egress-hosts")]
        pub egress_hosts: Vec<String>,
        /// Content the platform renders natively.
        #[component(name = "content-kinds")]
        pub content_kinds: Vec<ContentKind>,
        /// Actions it performs.
        pub actions: Vec<ActionName>,
        /// The longest text message, in bytes.
        #[component(name = "max-text-bytes")]
        pub max_text_bytes: u32,
        /// The platform's reply window.
        #[component(name = "reply-window")]
        pub reply_window: Option<ReplyWindow>,
        /// The credentials it reads.
        pub credentials: Vec<CredentialSpec>,
        /// Whether deliveries carry the idempotency key to the platform.
        #[component(name = "idempotent-delivery")]
        pub idempotent_delivery: bool,
        /// How often the host polls each feed when no hint arrives.
        #[component(name = "poll-interval-ms")]
        pub poll_interval_ms: Option<u32>,
    }

    /// Links the (type-only) `types` interface of 0.2.0.
    pub fn add_to_linker<T, D>(
        linker: &mut wasmtime::component::Linker<T>,
        _host_getter: fn(&mut T) -> D::Data<'_>,
    ) -> wasmtime::Result<()>
    where
        D: wasmtime::component::HasData,
        T: 'static,
    {
        linker.instance("tongdao:channel/types@0.2.0")?;
        Ok(())
    }
}

/// The credentials a 0.2.0 plugin declares: those it reads and those the
/// host keeps and signs with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeclaredCredentials {
    /// Declared and not secret: their values reach the plugin.
    pub public: BTreeSet<String>,
    /// Declared secret: named to the plugin, signed with by the host.
    pub secret: BTreeSet<String>,
}

/// A 0.2.0 manifest as the host's (0.1.0-shaped) manifest, and the
/// credentials it declares.
pub fn manifest(described: types::Manifest) -> (crate::model::Manifest, DeclaredCredentials) {
    let mut declared = DeclaredCredentials::default();
    for credential in &described.credentials {
        if credential.secret {
            declared.secret.insert(credential.name.clone());
        }
    }
    // A name declared both ways is secret.
    for credential in &described.credentials {
        if !declared.secret.contains(&credential.name) {
            declared.public.insert(credential.name.clone());
        }
    }
    let manifest = crate::model::Manifest {
        name: described.name,
        version: described.version,
        platform: described.platform,
        ingestion: described.ingestion,
        egress_hosts: described.egress_hosts,
        content_kinds: described.content_kinds,
        actions: described.actions,
        max_text_bytes: described.max_text_bytes,
        reply_window: described.reply_window,
        credentials: described
            .credentials
            .into_iter()
            .map(|c| crate::model::CredentialSpec {
                name: c.name,
                description: c.description,
                required: c.required,
            })
            .collect(),
        idempotent_delivery: described.idempotent_delivery,
        poll_interval_ms: described.poll_interval_ms,
    };
    (manifest, declared)
}

/// The shop's context for a 0.2.0 call, and the secret values kept back
/// from it for the host's `secrets` imports. Only declared credentials
/// reach the plugin: a credential in the shop's config that the manifest
/// does not name (a secret an earlier release declared, say) is dropped.
pub fn split_context(
    ctx: crate::model::ShopContext,
    declared: &DeclaredCredentials,
) -> (types::ShopContext, Vec<Pair>) {
    let mut secrets = Vec::new();
    let mut credentials = Vec::new();
    for pair in ctx.credentials {
        if declared.secret.contains(&pair.name) {
            secrets.push(pair);
        } else if declared.public.contains(&pair.name) {
            credentials.push(pair);
        }
    }
    let context = types::ShopContext {
        shop_id: ctx.shop_id,
        credentials,
        settings: ctx.settings,
        state: ctx.state,
        now_ms: ctx.now_ms,
        secrets: secrets
            .iter()
            .filter(|pair| !pair.value.is_empty())
            .map(|pair| pair.name.clone())
            .collect(),
    };
    (context, secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str, value: &str) -> Pair {
        Pair {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn secrets_are_kept_back_and_named_only_when_configured() {
        let ctx = crate::model::ShopContext {
            shop_id: "s".into(),
            credentials: vec![
                pair("app_id", "public"),
                pair("api_secret", "hidden"),
                pair("signing_key", ""),
                pair("undeclared", "left over from an earlier release"),
            ],
            settings: vec![],
            state: vec![],
            now_ms: 1,
        };
        let declared = DeclaredCredentials {
            public: BTreeSet::from(["app_id".to_owned()]),
            secret: BTreeSet::from(["api_secret".to_owned(), "signing_key".to_owned()]),
        };
        let (context, kept) = split_context(ctx, &declared);
        assert_eq!(context.credentials, vec![pair("app_id", "public")]);
        assert_eq!(context.secrets, vec!["api_secret".to_owned()]);
        assert_eq!(
            kept,
            vec![pair("api_secret", "hidden"), pair("signing_key", "")]
        );
    }
}
