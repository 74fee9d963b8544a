//! tongdao channel plugin for JD (京东宙斯 JOS, POP shops).
//!
//! JD has no webhook for shop chats or orders that a new app can use, so
//! both come in by polling the signed JOS router (`360buy_param_json`,
//! `upper(md5(secret + sorted k+v + secret))`):
//! - poll feed `chatlog`: `jingdong.im.pop.sessionlist.get` then
//!   `jingdong.im.pop.chatlog.get` per customer, as messages;
//! - poll feed `orders`: `jingdong.pop.order.search` by modification time,
//!   as commerce events;
//! - actions: `send-message` through 咚咚
//!   (`jingdong.dongdong.packet.josChatMessage.push`, partner-only),
//!   `query-order` and `query-logistics` (`jingdong.pop.order.get`).
//!
//! A rejected access token is refreshed with the refresh token. See
//! README.md for what is documented publicly and what is not.

mod answer;
mod chatlog;
mod gateway;
mod lookup;
mod order_info;
mod orders;
mod send;
pub mod signing;
mod token;
mod window;

use serde_json::Value as Json;
use tongdao_sdk::*;

/// The JD plugin.
pub struct Jd;

/// The JOS router's host.
pub const API_HOST: &str = "api.jd.com";
/// JD's OAuth host (token refresh).
pub const OAUTH_HOST: &str = "open-oauth.jd.com";
/// Setting: the shop's 咚咚 account tongdao replies as. Chat-log lines it
/// wrote are tongdao's own replies (already in the history) and are skipped;
/// lines by other waiters (people in JD's client) are agent messages.
pub const SETTING_WAITER: &str = "waiter";
/// How often each feed is polled when the shop does not say.
const POLL_INTERVAL_MS: u32 = 30_000;

/// The items of a JOS list field: the first of `names` present, as a list,
/// or JOS's wrapped form `{"<item>": [...]}`.
fn page_items(object: &Json, names: &[&str]) -> Vec<Json> {
    let Some(found) = names.iter().find_map(|name| object.get(*name)) else {
        return Vec::new();
    };
    match found {
        Json::Array(items) => items.clone(),
        Json::Object(wrapped) => wrapped
            .values()
            .find_map(|value| match value {
                Json::Array(items) => Some(items.clone()),
                one @ Json::Object(_) => Some(vec![one.clone()]),
                _ => None,
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// A poll answer that is not a page: the outcome, and the token dropped if
/// JOS rejected it.
fn poll_failure(ctx: &ShopContext, outcome: DeliveryOutcome) -> PollResult {
    action_failure(ctx, outcome).into()
}

/// A failed action answer: the outcome, and the token dropped if JOS
/// rejected it.
fn action_failure(ctx: &ShopContext, outcome: DeliveryOutcome) -> Interpretation {
    if outcome == DeliveryOutcome::TokenExpired {
        Interpretation::with_state(outcome, token::rejected(ctx))
    } else {
        Interpretation::outcome(outcome)
    }
}

impl Channel for Jd {
    fn manifest() -> Manifest {
        ManifestBuilder::new("jd", env!("CARGO_PKG_VERSION"), "jd-pop")
            .poll(POLL_INTERVAL_MS)
            .egress(API_HOST)
            .egress(OAUTH_HOST)
            .content(&[ContentKind::Text])
            .action(ActionName::SendMessage)
            .action(ActionName::QueryOrder)
            .action(ActionName::QueryLogistics)
            .max_text_bytes(send::MAX_TEXT_BYTES as u32)
            .credential("app_key", "the app's App Key", true)
            .credential(
                "app_secret",
                "the app's App Secret (signs every call)",
                true,
            )
            .credential(
                "access_token",
                "the seller's access token from authorising the app",
                true,
            )
            .credential(
                "refresh_token",
                "the refresh token that came with it (renews a rejected access token)",
                false,
            )
            .credential(
                "dongdong_accessid",
                "the 咚咚 access id JD issues with the chat-message permission (for send-message)",
                false,
            )
            .credential(
                "dongdong_aspid",
                "the 咚咚 ASP id JD issues with the chat-message permission (for send-message)",
                false,
            )
            .build()
    }

    fn render_poll(ctx: ShopContext, poll: PollRequest) -> Result<OutboundRequest, PluginError> {
        match poll.feed.as_str() {
            chatlog::FEED => chatlog::render(&ctx, &poll),
            orders::FEED => orders::render(&ctx, &poll),
            other => Err(unknown_feed(other)),
        }
    }

    fn parse_poll(
        ctx: ShopContext,
        poll: PollRequest,
        step: String,
        response: HttpResponse,
    ) -> Result<PollResult, PluginError> {
        match poll.feed.as_str() {
            chatlog::FEED => chatlog::parse(&ctx, &poll, &step, &response),
            orders::FEED => orders::parse(&ctx, &poll, &step, &response),
            other => Err(unknown_feed(other)),
        }
    }

    fn render_action(ctx: ShopContext, action: Action) -> Result<OutboundRequest, PluginError> {
        if lookup::handles(&action) {
            lookup::render(&ctx, &action)
        } else {
            send::render(&ctx, &action)
        }
    }

    fn interpret_response(
        ctx: ShopContext,
        action: Action,
        step: String,
        response: HttpResponse,
    ) -> Result<Interpretation, PluginError> {
        if lookup::handles(&action) {
            lookup::interpret(&ctx, &action, &step, &response)
        } else {
            send::interpret(&ctx, &action, &step, &response)
        }
    }
}

fn unknown_feed(feed: &str) -> PluginError {
    PluginError::Unsupported(format!(
        "the JD plugin polls feeds `{}` and `{}`, not `{feed}`",
        chatlog::FEED,
        orders::FEED
    ))
}

export_channel!(Jd);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_manifest_declares_what_is_implemented() {
        let manifest = Jd::manifest();
        assert_eq!(manifest.name, "jd");
        assert_eq!(manifest.ingestion, vec![IngestionShape::Poll]);
        assert_eq!(manifest.egress_hosts, vec![API_HOST, OAUTH_HOST]);
        assert_eq!(
            manifest.actions,
            vec![
                ActionName::SendMessage,
                ActionName::QueryOrder,
                ActionName::QueryLogistics
            ]
        );
        assert!(
            !manifest.idempotent_delivery,
            "JD documents no client message id"
        );
        assert!(
            Jd::handle_push(
                ShopContext::for_test("s", 0),
                HttpRequest::new("POST", "/", vec![])
            )
            .is_err()
        );
        let poll = PollRequest {
            feed: "profile".into(),
            cursor: None,
            hint_token: None,
        };
        assert!(matches!(
            Jd::render_poll(ShopContext::for_test("s", 0), poll),
            Err(PluginError::Unsupported(m)) if m.contains("chatlog")
        ));
    }

    #[test]
    fn lists_are_read_plain_or_wrapped() {
        let plain = json!({"orderInfoList": [{"orderId": "1"}]});
        assert_eq!(page_items(&plain, &["orderInfoList"]).len(), 1);
        let wrapped = json!({"order_info_list": {"order_info": [{"a": 1}, {"a": 2}]}});
        assert_eq!(
            page_items(&wrapped, &["orderInfoList", "order_info_list"]).len(),
            2
        );
        assert!(page_items(&json!({}), &["x"]).is_empty());
    }
}
