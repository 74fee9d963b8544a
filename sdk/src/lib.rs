//! # tongdao-sdk
//!
//! The guest-side crate for tongdao channel plugins. A plugin implements
//! [`Channel`] and calls [`export_channel!`]; built for `wasm32-unknown-unknown`
//! and wrapped as a component (`cargo xtask plugins` in the tongdao repository,
//! or `wasm-tools component new`), it is loaded by the tongdao host.
//!
//! Plugins are sans-IO: every function receives bytes plus the shop's
//! [`ShopContext`] and returns data. Nothing here opens a socket or reads a clock,
//! so plugin logic is tested with plain `cargo test` on the build machine.
//!
//! ```
//! use tongdao_sdk::*;
//!
//! struct Echo;
//!
//! impl Channel for Echo {
//!     fn manifest() -> Manifest {
//!         ManifestBuilder::new("echo", "0.1.0", "example").push().build()
//!     }
//!
//!     fn handle_push(ctx: ShopContext, request: HttpRequest) -> Result<PushResult, PluginError> {
//!         let text = String::from_utf8(request.body)
//!             .map_err(|_| PluginError::Malformed("body is not UTF-8".into()))?;
//!         let event = Event {
//!             platform_id: format!("{}:{}", ctx.shop_id, ctx.now_ms),
//!             conversation_id: "demo".into(),
//!             platform_time_ms: ctx.now_ms,
//!             route: vec![],
//!             body: EventBody::Message(Message {
//!                 author: Identity::new("demo-user"),
//!                 role: AuthorRole::Customer,
//!                 direction: Direction::Inbound,
//!                 content: Content::Text(text),
//!             }),
//!         };
//!         Ok(PushResult::ack(HttpResponse::text(200, "ok"), vec![event]))
//!     }
//! }
//!
//! export_channel!(Echo);
//!
//! // Plugin logic is plain Rust, testable on the build machine:
//! let ctx = ShopContext::for_test("shop-1", 1_700_000_000_000);
//! let request = HttpRequest::new("POST", "/hooks/echo/shop-1", b"hello".to_vec());
//! let result = Echo::handle_push(ctx, request).unwrap();
//! assert_eq!(result.events.len(), 1);
//! ```

pub mod beijing_time;
mod channel;
mod context;
mod host;
mod http;
pub mod lookup;
mod manifest;
mod model;
pub mod money;

/// Bindings generated from the WIT contract (`tongdao:channel@0.1.0`).
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/0.1.0",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "export_plugin_bindings",
        default_bindings_module: "tongdao_sdk::bindings",
        additional_derives: [PartialEq],
    });
}

pub use bindings::tongdao::channel::types::*;
pub use channel::Channel;
pub use context::REPLAY_CLAIM_PREFIX;
pub use host::{log, random_bytes};
pub use http::{QueryParams, constant_time_eq};
pub use lookup::{OrderState, OrderSummary, Shipment, TrackingStep};
pub use manifest::ManifestBuilder;

/// The contract version this SDK implements.
pub const CONTRACT_VERSION: &str = "tongdao:channel@0.1.0";

/// Export a [`Channel`] implementation as the plugin's component exports.
///
/// ```ignore
/// struct MyPlugin;
/// impl tongdao_sdk::Channel for MyPlugin { /* … */ }
/// tongdao_sdk::export_channel!(MyPlugin);
/// ```
#[macro_export]
macro_rules! export_channel {
    ($plugin:ident) => {
        // Only wasm builds export the component functions: on native targets
        // (plugin unit tests) the export names are not valid symbol names.
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::export_plugin_bindings!($plugin with_types_in $crate::bindings);
    };
}
