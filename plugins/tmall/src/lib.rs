//! tongdao channel plugin for Taobao / Tmall (Alibaba TOP).
//!
//! - stream: the TMC message service over its top-link WebSocket
//!   (`ws://mc.api.taobao.com/`): a CONNECT signed with the app secret,
//!   order and refund messages as commerce events, each confirmed once
//!   committed, pull requests as the heartbeat;
//! - poll feed `tmc`: the HTTP fallback, `taobao.tmc.messages.consume`
//!   then `taobao.tmc.messages.confirm` after the page is committed;
//! - actions: `query-order` (`taobao.trade.fullinfo.get`) and
//!   `query-logistics` (`taobao.logistics.trace.search`) with the seller's
//!   session, signed md5 / hmac / hmac-sha256.
//!
//! There is no customer chat: Taobao's Wangwang chat services are closed to
//! new apps. See README.md.

mod answer;
mod gateway;
mod lookup;
mod normalize;
mod poll;
mod signing;
mod stream;
pub mod toplink;

use tongdao_sdk::*;

/// The Taobao / Tmall plugin.
pub struct Tmall;

/// The TOP router's host.
pub const API_HOST: &str = "gw.api.taobao.com";
/// The TMC stream's host.
pub const STREAM_HOST: &str = "mc.api.taobao.com";
/// Setting: `md5`, `hmac` or `hmac-sha256` (default).
pub const SETTING_SIGN_METHOD: &str = "sign_method";
/// Setting: the TMC group (default `default`).
pub const SETTING_GROUP_NAME: &str = "group_name";
/// Setting: messages per consume, 1..=200 (default 100).
pub const SETTING_CONSUME_QUANTITY: &str = "consume_quantity";
/// State key of the TMC session token from CONNECTACK.
pub const STATE_STREAM_TOKEN: &str = "tmc_token";

impl Channel for Tmall {
    fn manifest() -> Manifest {
        ManifestBuilder::new("tmall", env!("CARGO_PKG_VERSION"), "taobao-tmall")
            .stream()
            .poll(5_000)
            .egress(API_HOST)
            .egress(STREAM_HOST)
            .content(&[])
            .action(ActionName::QueryOrder)
            .action(ActionName::QueryLogistics)
            .credential("app_key", "the app's AppKey", true)
            .credential(
                "app_secret",
                "the app's AppSecret (signs API calls and the TMC handshake)",
                true,
            )
            .credential(
                "session",
                "the seller's authorised session (access token), for order and logistics look-ups",
                false,
            )
            .build()
    }

    fn open_stream(ctx: ShopContext) -> Result<StreamConnect, PluginError> {
        stream::open(&ctx)
    }

    fn handle_frame(ctx: ShopContext, frame: Frame) -> Result<FrameResult, PluginError> {
        stream::handle(&ctx, &frame)
    }

    fn stream_heartbeat(ctx: ShopContext) -> Result<Vec<Frame>, PluginError> {
        Ok(stream::heartbeat(&ctx))
    }

    fn render_poll(ctx: ShopContext, poll: PollRequest) -> Result<OutboundRequest, PluginError> {
        poll::render(&ctx, &poll)
    }

    fn parse_poll(
        ctx: ShopContext,
        poll: PollRequest,
        step: String,
        response: HttpResponse,
    ) -> Result<PollResult, PluginError> {
        poll::parse(&ctx, &poll, &step, &response)
    }

    fn render_action(ctx: ShopContext, action: Action) -> Result<OutboundRequest, PluginError> {
        lookup::render(&ctx, &action)
    }

    fn interpret_response(
        ctx: ShopContext,
        action: Action,
        step: String,
        response: HttpResponse,
    ) -> Result<Interpretation, PluginError> {
        let _ = ctx;
        lookup::interpret(&action, &step, &response)
    }
}

export_channel!(Tmall);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_declares_what_is_implemented() {
        let manifest = Tmall::manifest();
        assert_eq!(manifest.name, "tmall");
        assert_eq!(manifest.platform, "taobao-tmall");
        assert_eq!(
            manifest.ingestion,
            vec![IngestionShape::Stream, IngestionShape::Poll]
        );
        assert_eq!(manifest.egress_hosts, vec![API_HOST, STREAM_HOST]);
        assert_eq!(
            manifest.actions,
            vec![ActionName::QueryOrder, ActionName::QueryLogistics]
        );
        assert!(!manifest.actions.contains(&ActionName::SendMessage));
        assert!(
            Tmall::handle_push(
                ShopContext::for_test("s", 0),
                HttpRequest::new("POST", "/", vec![])
            )
            .is_err()
        );
    }
}
