//! tongdao channel plugin for WeCom 微信客服 (WeChat Customer Service run
//! through 企业微信).
//!
//! - push: the callback URL's verification (decrypted `echostr`) and its
//!   encrypted `kf_msg_or_event` wake-ups, which become poll hints;
//! - poll: `kf/sync_msg` per kf account (`open_kfid`): customer messages,
//!   servicer messages and session events (`enter_session` with its
//!   welcome code, `msg_send_fail`, `session_status_change`, …);
//! - actions: `kf/send_msg` with the idempotency key as client msgid,
//!   `kf/send_msg_on_event` for welcome messages, and
//!   `kf/service_state/trans` to hand a session to a person or end it;
//!   the access token comes from `gettoken` and lives in plugin state;
//! - poll feed `profile` (hinted by the host with a conversation):
//!   `kf/customer/batchget`, whose `unionid` links the customer across
//!   channels.
//!
//! See README.md for credentials, settings and the outcome classification.

mod actions;
mod api_answer;
mod outcome;
mod poll;
mod profile;
mod push;
mod robot;
mod sync_messages;
mod token;
mod xml_fields;

use tongdao_sdk::*;

/// The WeCom 微信客服 plugin.
pub struct Wecom;

/// The API host the plugin sends requests to.
pub const API_HOST: &str = "qyapi.weixin.qq.com";
/// How often the host pulls each kf account when no callback hints, in ms.
pub const POLL_INTERVAL_MS: u32 = 30_000;

impl Channel for Wecom {
    fn manifest() -> Manifest {
        ManifestBuilder::new("wecom", env!("CARGO_PKG_VERSION"), "wecom-kf")
            .push()
            .poll(POLL_INTERVAL_MS)
            .egress(API_HOST)
            .content(&[
                ContentKind::Text,
                ContentKind::Image,
                ContentKind::Voice,
                ContentKind::Video,
                ContentKind::File,
                ContentKind::Location,
                ContentKind::MiniProgram,
            ])
            .action(ActionName::SendMessage)
            .action(ActionName::ReplyToEvent)
            .action(ActionName::TransferToHuman)
            .action(ActionName::EndSession)
            .max_text_bytes(actions::MAX_TEXT_BYTES as u32)
            .reply_window(48 * 3600, 5)
            .idempotent_delivery()
            .credential(
                "corp_id",
                "the corp's CorpID (企业ID, `ww…`); also the callbacks' receive id",
                true,
            )
            .credential(
                "secret",
                "the Secret of the app allowed to call the 微信客服 API (可调用接口的应用)",
                true,
            )
            .credential(
                "token",
                "the callback configuration's Token, which signs callbacks",
                true,
            )
            .credential(
                "encoding_aes_key",
                "the callback configuration's 43-character EncodingAESKey",
                true,
            )
            .credential(
                "robot_key",
                "the key of the group robot (群机器人) that posts the brand's alerts, if any",
                false,
            )
            .build()
    }

    fn handle_push(ctx: ShopContext, request: HttpRequest) -> Result<PushResult, PluginError> {
        push::handle(&ctx, &request)
    }

    fn render_poll(ctx: ShopContext, poll: PollRequest) -> Result<OutboundRequest, PluginError> {
        if poll.feed == profile::FEED {
            return profile::render(&ctx, &poll);
        }
        poll::render(&ctx, &poll)
    }

    fn parse_poll(
        ctx: ShopContext,
        poll: PollRequest,
        step: String,
        response: HttpResponse,
    ) -> Result<PollResult, PluginError> {
        if poll.feed == profile::FEED {
            return profile::parse(&ctx, &poll, &step, &response);
        }
        poll::parse(&ctx, &poll, &step, &response)
    }

    fn render_action(ctx: ShopContext, action: Action) -> Result<OutboundRequest, PluginError> {
        if robot::is_for_robot(&action) {
            return robot::render(&ctx, &action);
        }
        actions::render(&ctx, &action)
    }

    fn interpret_response(
        ctx: ShopContext,
        action: Action,
        step: String,
        response: HttpResponse,
    ) -> Result<Interpretation, PluginError> {
        if step == robot::STEP_ROBOT {
            return Ok(robot::interpret(&response));
        }
        outcome::interpret(&ctx, &action, &step, &response)
    }
}

export_channel!(Wecom);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_declares_what_the_plugin_does() {
        let manifest = Wecom::manifest();
        assert_eq!(
            (manifest.name.as_str(), manifest.platform.as_str()),
            ("wecom", "wecom-kf")
        );
        assert_eq!(
            manifest.ingestion,
            vec![IngestionShape::Push, IngestionShape::Poll]
        );
        assert_eq!(manifest.poll_interval_ms, Some(30_000));
        assert_eq!(
            manifest.egress_hosts,
            vec!["qyapi.weixin.qq.com".to_string()]
        );
        assert_eq!(
            manifest.actions,
            vec![
                ActionName::SendMessage,
                ActionName::ReplyToEvent,
                ActionName::TransferToHuman,
                ActionName::EndSession
            ]
        );
        assert_eq!(manifest.max_text_bytes, 2048);
        assert_eq!(
            manifest.reply_window,
            Some(ReplyWindow {
                window_seconds: 172_800,
                max_messages: 5
            })
        );
        assert!(manifest.idempotent_delivery);
        let names: Vec<_> = manifest
            .credentials
            .iter()
            .map(|c| (c.name.as_str(), c.required))
            .collect();
        assert_eq!(
            names,
            vec![
                ("corp_id", true),
                ("secret", true),
                ("token", true),
                ("encoding_aes_key", true),
                ("robot_key", false)
            ]
        );
    }
}
