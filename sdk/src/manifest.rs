//! A builder for the plugin [`Manifest`].

use crate::{ActionName, ContentKind, CredentialSpec, IngestionShape, Manifest, ReplyWindow};

/// Builds a [`Manifest`] with sensible empty defaults.
///
/// ```
/// use tongdao_sdk::*;
/// let manifest = ManifestBuilder::new("wechat", "0.1.0", "wechat-official-account")
///     .push()
///     .egress("api.weixin.qq.com")
///     .content(&[ContentKind::Text])
///     .action(ActionName::SendMessage)
///     .max_text_bytes(2048)
///     .reply_window(48 * 3600, 5)
///     .credential("app_id", "the AppID", true)
///     .build();
/// assert_eq!(manifest.egress_hosts, vec!["api.weixin.qq.com".to_string()]);
/// ```
#[derive(Debug, Clone)]
pub struct ManifestBuilder(Manifest);

impl ManifestBuilder {
    /// Start a manifest for plugin `name` at `version`, speaking for `platform`.
    pub fn new(name: &str, version: &str, platform: &str) -> Self {
        ManifestBuilder(Manifest {
            name: name.to_string(),
            version: version.to_string(),
            platform: platform.to_string(),
            ingestion: Vec::new(),
            egress_hosts: Vec::new(),
            content_kinds: vec![ContentKind::Text],
            actions: Vec::new(),
            max_text_bytes: 2048,
            reply_window: None,
            credentials: Vec::new(),
            idempotent_delivery: false,
            poll_interval_ms: None,
        })
    }

    /// The plugin handles webhooks.
    pub fn push(mut self) -> Self {
        self.0.ingestion.push(IngestionShape::Push);
        self
    }

    /// The plugin handles frames on a stream the host holds.
    pub fn stream(mut self) -> Self {
        self.0.ingestion.push(IngestionShape::Stream);
        self
    }

    /// The plugin renders polls, which the host runs every `interval_ms` and on hints.
    pub fn poll(mut self, interval_ms: u32) -> Self {
        self.0.ingestion.push(IngestionShape::Poll);
        self.0.poll_interval_ms = Some(interval_ms);
        self
    }

    /// A host outbound requests may go to.
    pub fn egress(mut self, host: &str) -> Self {
        self.0.egress_hosts.push(host.to_string());
        self
    }

    /// Content kinds the platform renders natively.
    pub fn content(mut self, kinds: &[ContentKind]) -> Self {
        self.0.content_kinds = kinds.to_vec();
        self
    }

    /// An action the plugin can render.
    pub fn action(mut self, action: ActionName) -> Self {
        self.0.actions.push(action);
        self
    }

    /// The longest text message in bytes.
    pub fn max_text_bytes(mut self, bytes: u32) -> Self {
        self.0.max_text_bytes = bytes;
        self
    }

    /// At most `max_messages` replies within `window_seconds` of the customer's
    /// last message.
    pub fn reply_window(mut self, window_seconds: u32, max_messages: u32) -> Self {
        self.0.reply_window = Some(ReplyWindow {
            window_seconds,
            max_messages,
        });
        self
    }

    /// A credential read from the shop's config.
    pub fn credential(mut self, name: &str, description: &str, required: bool) -> Self {
        self.0.credentials.push(CredentialSpec {
            name: name.to_string(),
            description: description.to_string(),
            required,
        });
        self
    }

    /// Deliveries carry the idempotency key to the platform.
    pub fn idempotent_delivery(mut self) -> Self {
        self.0.idempotent_delivery = true;
        self
    }

    /// The finished manifest.
    pub fn build(self) -> Manifest {
        self.0
    }
}
