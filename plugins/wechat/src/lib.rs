//! tongdao channel plugin for the WeChat Official Account (公众号 / 服务号).
//!
//! - push: URL verification (echostr), plaintext and safe mode (msg_signature
//!   with AES-256-CBC) message push in XML or JSON; text, image, voice, video,
//!   location and link messages and follow/scan/menu/location events become
//!   normalized events; the platform gets `success` once they are committed;
//! - actions: 客服消息 `message/custom/send` with an access token from
//!   `cgi-bin/stable_token` kept in plugin state, refreshed on 40001/40014/42001;
//!   模板消息 and 订阅通知 (`message/template/send`, `message/subscribe/bizsend`)
//!   for the host's proactive care, outside the chat window;
//! - poll feed `profile` (hinted by the host with an openid): `user/info`,
//!   whose `unionid` links the customer across channels.
//!
//! See README.md for credentials, settings and the outcome classification.

mod fields;
mod normalize;
mod notice;
mod outcome;
mod profile;
mod push;
mod send;

use tongdao_sdk::*;

/// The WeChat Official Account plugin.
pub struct Wechat;

/// The API host the plugin sends requests to.
pub const API_HOST: &str = "api.weixin.qq.com";

impl Channel for Wechat {
    fn manifest() -> Manifest {
        ManifestBuilder::new(
            "wechat",
            env!("CARGO_PKG_VERSION"),
            "wechat-official-account",
        )
        .push()
        // Only the hinted `profile` feed: scheduled polls are not needed.
        .poll(3_600_000)
        .egress(API_HOST)
        .content(&[
            ContentKind::Text,
            ContentKind::Image,
            ContentKind::Voice,
            ContentKind::Video,
            ContentKind::MiniProgram,
            ContentKind::Raw,
        ])
        .action(ActionName::SendMessage)
        .max_text_bytes(send::MAX_TEXT_BYTES as u32)
        .reply_window(48 * 3600, 5)
        .credential("app_id", "the account's AppID (开发者ID)", true)
        .credential("app_secret", "the account's AppSecret (开发者密码)", true)
        .credential("token", "the server-config Token used to sign pushes", true)
        .credential(
            "encoding_aes_key",
            "the 43-character EncodingAESKey; needed for safe (encrypted) mode",
            false,
        )
        .build()
    }

    fn handle_push(ctx: ShopContext, request: HttpRequest) -> Result<PushResult, PluginError> {
        push::handle(&ctx, &request)
    }

    fn render_poll(ctx: ShopContext, poll: PollRequest) -> Result<OutboundRequest, PluginError> {
        profile::render(&ctx, &poll)
    }

    fn parse_poll(
        ctx: ShopContext,
        poll: PollRequest,
        step: String,
        response: HttpResponse,
    ) -> Result<PollResult, PluginError> {
        profile::parse(&ctx, &poll, &step, &response)
    }

    fn render_action(ctx: ShopContext, action: Action) -> Result<OutboundRequest, PluginError> {
        send::render(&ctx, &action)
    }

    fn interpret_response(
        ctx: ShopContext,
        action: Action,
        step: String,
        response: HttpResponse,
    ) -> Result<Interpretation, PluginError> {
        let _ = action;
        outcome::interpret(&ctx, &step, &response)
    }
}

export_channel!(Wechat);
