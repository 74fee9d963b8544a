//! The callback URL of the 微信客服 app:
//!
//! - `GET ?msg_signature&timestamp&nonce&echostr` (URL verification): the
//!   signature covers the encrypted `echostr`; the answer is its decrypted
//!   plaintext, byte for byte (no quotes, BOM or newline);
//! - `POST ?msg_signature&timestamp&nonce` with an encrypted XML body: the
//!   `kf_msg_or_event` event it carries holds no message, only a sync token
//!   and the kf account: it becomes a poll hint, and WeCom gets an empty
//!   HTTP 200. Other callback events are acknowledged and ignored.
//!
//! `msg_signature = sha1(sort(token, timestamp, nonce, encrypted))` and the
//! timestamp's freshness are checked before anything encrypted is opened;
//! the envelope must be sealed for the shop's corp id.

use crate::xml_fields::XmlFields;
use tongdao_sdk::*;
use wechat_crypto::{CryptoError, MsgCrypt, verify_signature};

/// How far a callback's timestamp may be from the host's clock, by default.
const DEFAULT_TOLERANCE_SECS: i64 = 300;
/// The event that tells a kf account has new messages or events to pull.
const KF_EVENT: &str = "kf_msg_or_event";

/// Handle one request to the shop's callback URL.
pub fn handle(ctx: &ShopContext, request: &HttpRequest) -> Result<PushResult, PluginError> {
    let token = ctx.credential("token")?;
    let query = request.query();
    let param = |name: &str| {
        query
            .get(name)
            .filter(|value| !value.is_empty())
            .ok_or_else(|| PluginError::Unauthenticated(format!("the request has no `{name}`")))
    };
    let (signature, timestamp, nonce) = (
        param("msg_signature")?,
        param("timestamp")?,
        param("nonce")?,
    );
    match request.method.as_str() {
        "GET" => {
            // echostr is base64: a `+` sent unescaped arrives as a space.
            let echostr = query
                .get("echostr")
                .filter(|value| !value.is_empty())
                .map(|value| value.replace(' ', "+"))
                .ok_or_else(|| {
                    PluginError::Malformed(
                        "a GET without `echostr` is not a URL verification".into(),
                    )
                })?;
            authenticate(ctx, token, signature, timestamp, nonce, &echostr)?;
            let plaintext = open(ctx, &echostr)?;
            Ok(PushResult::ack(
                HttpResponse::text(200, &plaintext),
                Vec::new(),
            ))
        }
        "POST" => {
            let envelope = XmlFields::parse(&request.body, "callback body")?;
            let encrypted = envelope.require("Encrypt", "callback body")?;
            authenticate(ctx, token, signature, timestamp, nonce, encrypted)?;
            let plaintext = open(ctx, encrypted)?;
            let event = XmlFields::parse(plaintext.as_bytes(), "decrypted callback")?;
            receive(&event)
        }
        other => Err(PluginError::Unsupported(format!(
            "method {other} is not used by WeCom callbacks"
        ))),
    }
}

fn receive(event: &XmlFields) -> Result<PushResult, PluginError> {
    let name = event.get("Event").map(str::trim).unwrap_or_default();
    let mut result = PushResult::ack(HttpResponse::text(200, ""), Vec::new());
    if name == KF_EVENT {
        let open_kfid = event.require("OpenKfId", "kf_msg_or_event event")?;
        let sync_token = event.require("Token", "kf_msg_or_event event")?;
        result.poll_hints.push(PollHint {
            feed: open_kfid.to_string(),
            token: Some(sync_token.to_string()),
        });
    } else {
        // The same URL may receive the app's other callbacks (account
        // authorisation changes, …): nothing for tongdao to store.
        let kind = event.get("MsgType").map(str::trim).unwrap_or_default();
        log::info(&format!(
            "ignoring a WeCom callback that is not kf_msg_or_event (MsgType `{kind}`, Event `{name}`)"
        ));
    }
    Ok(result)
}

fn authenticate(
    ctx: &ShopContext,
    token: &str,
    signature: &str,
    timestamp: &str,
    nonce: &str,
    encrypted: &str,
) -> Result<(), PluginError> {
    if !verify_signature(signature, &[token, timestamp, nonce, encrypted]) {
        return Err(PluginError::Unauthenticated(
            "`msg_signature` does not match the shop's token and the encrypted payload (forged, tampered, or the token is wrong)".into(),
        ));
    }
    let sent: i64 = timestamp.trim().parse().map_err(|_| {
        PluginError::Unauthenticated(format!("`timestamp` `{timestamp}` is not a number"))
    })?;
    let tolerance = ctx
        .setting("timestamp_tolerance_secs")
        .and_then(|value| value.trim().parse::<i64>().ok())
        .unwrap_or(DEFAULT_TOLERANCE_SECS);
    let skew = ctx.now_secs().saturating_sub(sent);
    if skew.abs() > tolerance {
        return Err(PluginError::Stale(format!(
            "the callback was signed {skew} s from the host's clock; at most {tolerance} s is accepted"
        )));
    }
    Ok(())
}

/// Decrypt with the shop's key; the envelope must be sealed for its corp id.
fn open(ctx: &ShopContext, encrypted: &str) -> Result<String, PluginError> {
    let key = ctx.credential("encoding_aes_key")?;
    let corp_id = ctx.credential("corp_id")?;
    let crypt = MsgCrypt::new(key, corp_id).map_err(|err| {
        PluginError::Misconfigured(format!(
            "shop `{}`: credential `encoding_aes_key`: {err}",
            ctx.shop_id
        ))
    })?;
    crypt.decrypt(encrypted).map_err(|err| match err {
        CryptoError::ReceiveIdMismatch => PluginError::Unauthenticated(
            "the payload was encrypted for another corp id than the shop's `corp_id`".into(),
        ),
        other => PluginError::Unauthenticated(format!(
            "the payload does not decrypt with the shop's key: {other}"
        )),
    })
}

#[cfg(test)]
mod tests;
