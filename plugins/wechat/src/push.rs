//! The push endpoint: URL verification, signature and freshness checks,
//! safe-mode decryption, then normalization. Authenticity is checked before
//! anything in the body is parsed.

use crate::fields::Fields;
use crate::normalize;
use tongdao_sdk::*;
use wechat_crypto::{MsgCrypt, verify_signature};

/// How far a push's timestamp may be from the host's clock, by default.
const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Handle one request to the shop's webhook URL.
pub fn handle(ctx: &ShopContext, request: &HttpRequest) -> Result<PushResult, PluginError> {
    let token = ctx.credential("token")?;
    let query = request.query();
    let timestamp = query
        .get("timestamp")
        .ok_or_else(|| PluginError::Unauthenticated("the request has no `timestamp`".into()))?;
    let nonce = query
        .get("nonce")
        .ok_or_else(|| PluginError::Unauthenticated("the request has no `nonce`".into()))?;
    let signature = query
        .get("signature")
        .ok_or_else(|| PluginError::Unauthenticated("the request has no `signature`".into()))?;
    if !verify_signature(signature, &[token, timestamp, nonce]) {
        return Err(PluginError::Unauthenticated(
            "`signature` does not match the shop's token (forged, or the token is wrong)".into(),
        ));
    }
    let tolerance = check_fresh(ctx, timestamp)?;

    match request.method.as_str() {
        "GET" => verify_url(&query),
        "POST" => {
            let mut result = receive(ctx, request, &query, token, timestamp, nonce)?;
            // The outer signature covers no body: a signed URL must carry one
            // body only (WeChat's own retries resend the same one).
            let until_secs = timestamp.trim().parse::<i64>().unwrap_or(0) + tolerance + 1;
            result.state.push(StateChange::claim_once(
                &format!("push:{timestamp}:{nonce}:{signature}"),
                &wechat_crypto::signature(&[&String::from_utf8_lossy(&request.body)]),
                until_secs.max(ctx.now_secs() + tolerance) * 1000,
            ));
            Ok(result)
        }
        other => Err(PluginError::Unsupported(format!(
            "method {other} is not used by WeChat pushes"
        ))),
    }
}

/// Which pushes a shop accepts: the `message_mode` setting, by default
/// safe mode where the shop has an `encoding_aes_key` and plaintext
/// otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MessageMode {
    /// 明文模式: plaintext pushes (an encrypted push is still accepted, as
    /// its `msg_signature` covers its body, where the shop has the key).
    Plaintext,
    /// 兼容模式: both; the plaintext ones are authenticated by the outer
    /// signature alone, which does not cover the body.
    Compatible,
    /// 安全模式: encrypted pushes only.
    Safe,
}

fn message_mode(ctx: &ShopContext) -> Result<MessageMode, PluginError> {
    match ctx.setting("message_mode").map(str::trim) {
        None | Some("") => Ok(if ctx.optional_credential("encoding_aes_key").is_some() {
            MessageMode::Safe
        } else {
            MessageMode::Plaintext
        }),
        Some("plaintext") => Ok(MessageMode::Plaintext),
        Some("compatible") => Ok(MessageMode::Compatible),
        Some("safe") => Ok(MessageMode::Safe),
        Some(other) => Err(PluginError::Misconfigured(format!(
            "setting `message_mode` is `{other}`; expected `safe`, `compatible` or `plaintext`"
        ))),
    }
}

/// URL verification: echo `echostr` (plaintext even in safe mode).
fn verify_url(query: &QueryParams) -> Result<PushResult, PluginError> {
    let echostr = query.get("echostr").ok_or_else(|| {
        PluginError::Malformed("a GET without `echostr` is not a URL verification".into())
    })?;
    Ok(PushResult::ack(
        HttpResponse::text(200, echostr),
        Vec::new(),
    ))
}

fn receive(
    ctx: &ShopContext,
    request: &HttpRequest,
    query: &QueryParams,
    token: &str,
    timestamp: &str,
    nonce: &str,
) -> Result<PushResult, PluginError> {
    let mode = message_mode(ctx)?;
    let encrypted = query.get("encrypt_type") == Some("aes");
    if !encrypted && mode == MessageMode::Safe {
        return Err(PluginError::Unauthenticated(
            "the shop is in safe mode (安全模式) and refuses plaintext pushes; set `message_mode = \"compatible\"` to accept both".into(),
        ));
    }
    let fields = if encrypted {
        let envelope = Fields::parse(&request.body)?;
        let encrypted = envelope.require("Encrypt")?;
        let msg_signature = query.get("msg_signature").ok_or_else(|| {
            PluginError::Unauthenticated("safe mode without `msg_signature`".into())
        })?;
        if !verify_signature(msg_signature, &[token, timestamp, nonce, encrypted]) {
            return Err(PluginError::Unauthenticated(
                "`msg_signature` does not match the encrypted payload".into(),
            ));
        }
        let key = ctx.optional_credential("encoding_aes_key").ok_or_else(|| {
            PluginError::Misconfigured(format!(
                "shop `{}` receives safe-mode pushes but has no `encoding_aes_key` credential",
                ctx.shop_id
            ))
        })?;
        let crypt = MsgCrypt::new(key, ctx.credential("app_id")?)
            .map_err(|err| PluginError::Misconfigured(err.to_string()))?;
        let plaintext = crypt
            .decrypt(encrypted)
            .map_err(|err| PluginError::Unauthenticated(err.to_string()))?;
        Fields::parse(plaintext.as_bytes())?
    } else {
        Fields::parse(&request.body)?
    };
    let event = normalize::event(&fields)?;
    Ok(PushResult::ack(
        HttpResponse::text(200, "success"),
        vec![event],
    ))
}

/// Refuses a timestamp too far from the host's clock; returns the tolerance.
fn check_fresh(ctx: &ShopContext, timestamp: &str) -> Result<i64, PluginError> {
    let sent: i64 = timestamp.trim().parse().map_err(|_| {
        PluginError::Unauthenticated(format!("`timestamp` `{timestamp}` is not a number"))
    })?;
    let tolerance = ctx
        .setting("timestamp_tolerance_secs")
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(DEFAULT_TOLERANCE_SECS);
    let skew = ctx.now_secs().saturating_sub(sent);
    if skew.abs() > tolerance {
        return Err(PluginError::Stale(format!(
            "the request was signed {skew} s from the host's clock; at most {tolerance} s is accepted"
        )));
    }
    Ok(tolerance)
}

#[cfg(test)]
mod tests;
