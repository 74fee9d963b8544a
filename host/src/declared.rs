//! A plugin's static manifest (`tongdao-plugin.toml`) against what it
//! declares when it runs (`describe()`): the static manifest is what was
//! reviewed and what the brand granted, so a plugin whose code says
//! anything else — another contract version, name or version, more hosts,
//! other credentials or secrets, other content, actions or ingestion — is
//! refused. Also the reverse: a
//! static manifest drafted from a built component (`tongdao plugin
//! describe`).

use crate::model::{ActionName, ContentKind, IngestionShape};
use crate::runtime::LoadedPlugin;
use std::collections::BTreeSet;
use tongdao_market::manifest::{CredentialSpec, Manifest as StaticManifest, ReplyWindow};

/// A content kind's name in the contract.
pub fn content_kind_name(kind: ContentKind) -> &'static str {
    match kind {
        ContentKind::Text => "text",
        ContentKind::Image => "image",
        ContentKind::Voice => "voice",
        ContentKind::Video => "video",
        ContentKind::File => "file",
        ContentKind::Location => "location",
        ContentKind::Link => "link",
        ContentKind::ProductCard => "product-card",
        ContentKind::OrderCard => "order-card",
        ContentKind::Coupon => "coupon",
        ContentKind::MiniProgram => "mini-program",
        ContentKind::Raw => "raw",
    }
}

/// An action's name in the contract.
pub fn action_name(action: ActionName) -> &'static str {
    match action {
        ActionName::SendMessage => "send-message",
        ActionName::TransferToHuman => "transfer-to-human",
        ActionName::EndSession => "end-session",
        ActionName::SendCoupon => "send-coupon",
        ActionName::QueryOrder => "query-order",
        ActionName::QueryLogistics => "query-logistics",
        ActionName::TagCustomer => "tag-customer",
        ActionName::ReplyToEvent => "reply-to-event",
    }
}

/// An ingestion shape's name in the contract.
pub fn ingestion_name(shape: IngestionShape) -> &'static str {
    match shape {
        IngestionShape::Push => "push",
        IngestionShape::Stream => "stream",
        IngestionShape::Poll => "poll",
    }
}

fn set<'a>(items: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    items.into_iter().map(str::to_owned).collect()
}

/// Where the loaded plugin's `describe()` (and the contract version it
/// exports) disagrees with `declared`, in words; empty when they agree.
pub fn disagreements(declared: &StaticManifest, plugin: &LoadedPlugin) -> Vec<String> {
    let described = &plugin.manifest;
    let mut found = Vec::new();
    if declared.wit != plugin.contract.wit() {
        found.push(format!(
            "wit: tongdao-plugin.toml says {}, the component exports {}",
            declared.wit, plugin.contract
        ));
    }
    let mut differ = |what: &str, declared: String, described: String| {
        if declared != described {
            found.push(format!(
                "{what}: tongdao-plugin.toml says {declared}, describe() says {described}"
            ));
        }
    };
    differ("name", declared.name.clone(), described.name.clone());
    // A release's build metadata (`0.1.0+r2`, the same component
    // repackaged) is the package's, not the code's.
    let mut code_version = declared.version.clone();
    code_version.build = semver::BuildMetadata::EMPTY;
    differ(
        "version",
        code_version.to_string(),
        described.version.clone(),
    );
    differ(
        "platform",
        declared.platform.clone(),
        described.platform.clone(),
    );
    differ(
        "ingestion",
        format!("{:?}", set(declared.ingestion.iter().map(String::as_str))),
        format!(
            "{:?}",
            set(described.ingestion.iter().map(|s| ingestion_name(*s)))
        ),
    );
    differ(
        "egress_hosts",
        format!(
            "{:?}",
            set(declared.egress_hosts.iter().map(String::as_str))
        ),
        format!(
            "{:?}",
            set(described.egress_hosts.iter().map(String::as_str))
        ),
    );
    differ(
        "content_kinds",
        format!(
            "{:?}",
            set(declared.content_kinds.iter().map(String::as_str))
        ),
        format!(
            "{:?}",
            set(described
                .content_kinds
                .iter()
                .map(|k| content_kind_name(*k)))
        ),
    );
    differ(
        "actions",
        format!("{:?}", set(declared.actions.iter().map(String::as_str))),
        format!(
            "{:?}",
            set(described.actions.iter().map(|a| action_name(*a)))
        ),
    );
    differ(
        "max_text_bytes",
        declared.max_text_bytes.to_string(),
        described.max_text_bytes.to_string(),
    );
    differ(
        "reply_window",
        format!(
            "{:?}",
            declared
                .reply_window
                .map(|w| (w.window_seconds, w.max_messages))
        ),
        format!(
            "{:?}",
            described
                .reply_window
                .as_ref()
                .map(|w| (w.window_seconds, w.max_messages))
        ),
    );
    differ(
        "credentials",
        format!(
            "{:?}",
            declared
                .credentials
                .iter()
                .map(|c| (c.name.clone(), c.required, c.secret))
                .collect::<BTreeSet<_>>()
        ),
        format!(
            "{:?}",
            described
                .credentials
                .iter()
                .map(|c| (
                    c.name.clone(),
                    c.required,
                    plugin.declared_credentials.secret.contains(&c.name)
                ))
                .collect::<BTreeSet<_>>()
        ),
    );
    differ(
        "idempotent_delivery",
        declared.idempotent_delivery.to_string(),
        described.idempotent_delivery.to_string(),
    );
    differ(
        "poll_interval_ms",
        format!("{:?}", declared.poll_interval_ms),
        format!("{:?}", described.poll_interval_ms),
    );
    found
}

/// A static manifest drafted from what a component describes: the ISV
/// adds the publisher, settings and the data it reads.
pub fn draft(plugin: &LoadedPlugin, publisher: &str) -> Result<StaticManifest, String> {
    let described = &plugin.manifest;
    Ok(StaticManifest {
        name: described.name.clone(),
        version: described
            .version
            .parse()
            .map_err(|err| format!("describe()'s version `{}`: {err}", described.version))?,
        publisher: publisher.to_owned(),
        wit: plugin.contract.wit().to_owned(),
        min_host: None,
        platform: described.platform.clone(),
        description: String::new(),
        ingestion: described
            .ingestion
            .iter()
            .map(|s| ingestion_name(*s).to_owned())
            .collect(),
        egress_hosts: described.egress_hosts.clone(),
        content_kinds: described
            .content_kinds
            .iter()
            .map(|k| content_kind_name(*k).to_owned())
            .collect(),
        actions: described
            .actions
            .iter()
            .map(|a| action_name(*a).to_owned())
            .collect(),
        max_text_bytes: described.max_text_bytes,
        reply_window: described.reply_window.as_ref().map(|w| ReplyWindow {
            window_seconds: w.window_seconds,
            max_messages: w.max_messages,
        }),
        credentials: described
            .credentials
            .iter()
            .map(|c| CredentialSpec {
                name: c.name.clone(),
                description: c.description.clone(),
                description_en: None,
                required: c.required,
                secret: plugin.declared_credentials.secret.contains(&c.name),
            })
            .collect(),
        settings: Default::default(),
        reads: Default::default(),
        idempotent_delivery: described.idempotent_delivery,
        poll_interval_ms: described.poll_interval_ms,
    })
}
