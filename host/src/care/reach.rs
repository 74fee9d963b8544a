//! Reaching a customer with a care message, only through what the platform
//! allows: the customer's identities are walked through the identity graph
//! (links by unionid, or made by people), and the first `via` shop that can
//! carry the message to one of them wins.
//!
//! - A WeChat Official Account carries a rule's template or subscription
//!   message at any time (the platform's own rules then apply: the customer
//!   must follow the account, or have subscribed to the template).
//! - Any channel with a reply window (WeCom 微信客服, an Official Account's
//!   custom messages) carries the text while the customer's window is open
//!   when the message is due; delivery checks the window again.
//! - Tmall/Taobao, JD and 抖店 offer no API for a shop to message a buyer
//!   first, so their orders are cared for on a linked WeChat identity.

use crate::config::{CareConfig, CareRule, WechatNoticeKind};
use crate::identity;
use crate::model::{
    Action, ActionKind, ActionName, CareMessage, Content, ContentKind, Identity, KnownIdentity,
    Manifest, NewAction, Pair, RawContent,
};
use crate::shops::{Shop, Shops};
use crate::store::Store;
use serde_json::json;

/// The platform whose template and subscription messages care can send.
pub const WECHAT_OFFICIAL_ACCOUNT: &str = "wechat-official-account";
/// The route value that tells delivery and the plugin a message is a
/// platform notification, outside any chat window.
pub const TARGET_NOTIFICATION: &str = "notification";
/// The route name that marks a care message, with the shop whose rule
/// sent it (delivery keeps its retries out of that shop's quiet hours).
pub const CARE_ROUTE: &str = "tongdao-care";
/// [`RawContent::kind`] of a WeChat template message.
pub const WECHAT_TEMPLATE: &str = "wechat-template";
/// [`RawContent::kind`] of a WeChat subscription message.
pub const WECHAT_SUBSCRIPTION: &str = "wechat-subscription";

/// Whether a shop's plugin sends WeChat notifications: it speaks for an
/// Official Account and declares raw content (which is how notifications
/// reach it; a plugin without it would send their text as a chat message).
pub fn sends_notifications(manifest: &Manifest) -> bool {
    manifest.platform == WECHAT_OFFICIAL_ACCOUNT
        && manifest.content_kinds.contains(&ContentKind::Raw)
        && manifest.actions.contains(&ActionName::SendMessage)
}

/// Whether a shop's channel can carry care messages at all.
pub fn can_carry(shop: &Shop) -> bool {
    let plugin = shop.plugin();
    let manifest = &plugin.manifest;
    sends_notifications(manifest)
        || (manifest.reply_window.is_some() && manifest.actions.contains(&ActionName::SendMessage))
}

/// Whether an action's message is a platform notification care queued
/// (marked by its route, and raw content the plugin renders), which no
/// chat window limits.
pub fn is_notification(route: &[Pair], content: &Content) -> bool {
    matches!(content, Content::Raw(raw) if raw.kind == WECHAT_TEMPLATE || raw.kind == WECHAT_SUBSCRIPTION)
        && route
            .iter()
            .any(|pair| pair.name == crate::risk::TARGET_ROUTE && pair.value == TARGET_NOTIFICATION)
}

/// A care message, filled in.
pub struct Letter<'a> {
    /// The rule.
    pub rule: &'a CareRule,
    /// Its text with the placeholders filled.
    pub text: String,
    /// The WeChat template's fields, filled.
    pub fields: Vec<(String, String)>,
    /// The action's idempotency key.
    pub key: String,
    /// The shop whose rule it is.
    pub shop: String,
}

/// The message to send and to whom ((shop, id)), or why the customer
/// cannot be reached.
pub fn reach(
    store: &dyn Store,
    shops: &Shops,
    care: &CareConfig,
    source_shop: &str,
    buyer: &Identity,
    letter: &Letter<'_>,
    due_ms: i64,
) -> anyhow::Result<CareMessage> {
    let start = store
        .known_identity(source_shop, &buyer.platform_user_id)?
        .unwrap_or_else(|| KnownIdentity {
            shop: source_shop.to_owned(),
            platform_user_id: buyer.platform_user_id.clone(),
            display_name: None,
            hints: buyer.hints.clone(),
            conversations: Vec::new(),
            first_seen_ms: 0,
            last_seen_ms: 0,
        });
    let customer = identity::customer_from(store, start)?;
    for identity in &customer.identities {
        if store.care_opted_out(&identity.shop, &identity.platform_user_id)? {
            return Ok(Err(format!(
                "the customer opted out (退订) on `{}`",
                identity.shop
            )));
        }
    }
    let mut tried = Vec::new();
    for via in &care.via {
        let Some(shop) = shops.get(via) else {
            tried.push(format!("`{via}` is not served"));
            continue;
        };
        for identity in customer.identities.iter().filter(|i| &i.shop == via) {
            match carry(store, shop, identity, letter, due_ms)? {
                Ok(action) => {
                    let recipient = (via.clone(), identity.platform_user_id.clone());
                    return Ok(Ok((action, recipient)));
                }
                Err(why) => tried.push(why),
            }
        }
    }
    Ok(Err(if tried.is_empty() {
        format!(
            "no identity of the customer is known on {:?} (link one by unionid or through the admin API)",
            care.via
        )
    } else {
        tried.join("; ")
    }))
}

/// The action carrying `letter` to `identity` on `shop`, or why it cannot.
fn carry(
    store: &dyn Store,
    shop: &Shop,
    identity: &KnownIdentity,
    letter: &Letter<'_>,
    due_ms: i64,
) -> anyhow::Result<Result<NewAction, String>> {
    let plugin = shop.plugin();
    let manifest = &plugin.manifest;
    let recipient = identity.platform_user_id.clone();
    let conversation = identity.conversations.last().cloned();
    if let (true, Some(notice)) = (sends_notifications(manifest), &letter.rule.wechat) {
        let kind = match notice.kind {
            WechatNoticeKind::Template => WECHAT_TEMPLATE,
            WechatNoticeKind::Subscription => WECHAT_SUBSCRIPTION,
        };
        let data = json!({
            "template_id": notice.template_id,
            "url": notice.url,
            "fields": letter
                .fields
                .iter()
                .map(|(name, value)| (name.clone(), json!(value)))
                .collect::<serde_json::Map<_, _>>(),
        });
        return Ok(Ok(new_action(
            shop,
            letter,
            conversation.unwrap_or_else(|| recipient.clone()),
            recipient,
            vec![Pair {
                name: crate::risk::TARGET_ROUTE.to_owned(),
                value: TARGET_NOTIFICATION.to_owned(),
            }],
            Content::Raw(RawContent {
                kind: kind.to_owned(),
                content_type: "application/json".to_owned(),
                data: data.to_string().into_bytes(),
                fallback_text: Some(letter.text.clone()),
            }),
        )));
    }
    let (Some(window), true) = (
        &manifest.reply_window,
        manifest.actions.contains(&ActionName::SendMessage),
    ) else {
        return Ok(Err(format!(
            "`{}` ({}) has no way to message a customer first",
            shop.id(),
            manifest.platform
        )));
    };
    let Some(conversation_id) = conversation else {
        return Ok(Err(format!(
            "the customer never wrote on `{}`, so its window is not open",
            shop.id()
        )));
    };
    let Some(conversation) = store.conversation(shop.id(), &conversation_id)? else {
        return Ok(Err(format!(
            "`{}` has no conversation with the customer",
            shop.id()
        )));
    };
    if let Some(why) = crate::delivery::reply_window_verdict(&conversation, window, due_ms) {
        return Ok(Err(format!("`{}`: {why}", shop.id())));
    }
    Ok(Ok(new_action(
        shop,
        letter,
        conversation_id,
        recipient,
        conversation.route.clone(),
        Content::Text(letter.text.clone()),
    )))
}

fn new_action(
    shop: &Shop,
    letter: &Letter<'_>,
    conversation_id: String,
    recipient: String,
    route: Vec<Pair>,
    content: Content,
) -> NewAction {
    let mut route = route;
    route.push(Pair {
        name: CARE_ROUTE.to_owned(),
        value: letter.shop.clone(),
    });
    NewAction {
        shop: shop.id().to_owned(),
        action: Action {
            idempotency_key: letter.key.clone(),
            conversation_id,
            recipient,
            route,
            kind: ActionKind::SendMessage(content),
            attempt: 0,
        },
        sent_by: None,
    }
}
