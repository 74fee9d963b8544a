//! tongdao channel plugin for 抖店 (Douyin e-commerce, op.jinritemai.com).
//!
//! - push: the platform's message push, a signed JSON array of
//!   `{"tag", "msg_id", "data"}`; `app-id` and `event-sign` (MD5 or
//!   HMAC-SHA256) are checked over the raw body, then order and after-sale
//!   messages become commerce events and the platform gets
//!   `{"code":0,"msg":"success"}` once they are committed;
//! - actions: `query-order` (`/order/orderDetail`), a signed gateway call
//!   with an access token from `/token/create` (自用型 `authorization_self`)
//!   kept in plugin state and renewed with `/token/refresh`.
//!
//! 飞鸽 customer-service chat has no public open-platform API, so the plugin
//! sends no messages. See README.md for credentials, settings, the tag table
//! and the outcome classification.

mod answer;
mod data_fields;
mod envelope;
mod event_sign;
mod gateway;
mod normalize;
mod outcome;
mod push;
mod query;
mod token;

use tongdao_sdk::*;

/// The 抖店 plugin.
pub struct Douyin;

/// The API gateway the plugin sends requests to.
pub const API_HOST: &str = "openapi-fxg.jinritemai.com";

impl Channel for Douyin {
    fn manifest() -> Manifest {
        ManifestBuilder::new("douyin", env!("CARGO_PKG_VERSION"), "doudian")
            .push()
            .egress(API_HOST)
            .content(&[])
            .action(ActionName::QueryOrder)
            .credential(
                "app_key",
                "the app's App Key (19 digits); pushes carry it in `app-id`",
                true,
            )
            .credential(
                "app_secret",
                "the app's App Secret: signs API calls and pushes",
                true,
            )
            .build()
    }

    fn handle_push(ctx: ShopContext, request: HttpRequest) -> Result<PushResult, PluginError> {
        push::handle(&ctx, &request)
    }

    fn render_action(ctx: ShopContext, action: Action) -> Result<OutboundRequest, PluginError> {
        query::render(&ctx, &action)
    }

    fn interpret_response(
        ctx: ShopContext,
        _action: Action,
        step: String,
        response: HttpResponse,
    ) -> Result<Interpretation, PluginError> {
        outcome::interpret(&ctx, &step, &response)
    }
}

export_channel!(Douyin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_declares_what_the_plugin_does() {
        let manifest = Douyin::manifest();
        assert_eq!(manifest.name, "douyin");
        assert_eq!(manifest.platform, "doudian");
        assert_eq!(manifest.ingestion, vec![IngestionShape::Push]);
        assert_eq!(manifest.egress_hosts, vec![API_HOST.to_string()]);
        assert_eq!(manifest.actions, vec![ActionName::QueryOrder]);
        assert!(!manifest.actions.contains(&ActionName::SendMessage));
        let names: Vec<_> = manifest
            .credentials
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["app_key", "app_secret"]);
    }
}
