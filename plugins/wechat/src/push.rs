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
    check_fresh(ctx, timestamp)?;

    match request.method.as_str() {
        "GET" => verify_url(&query),
        "POST" => receive(ctx, request, &query, token, timestamp, nonce),
        other => Err(PluginError::Unsupported(format!(
            "method {other} is not used by WeChat pushes"
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
    let fields = if query.get("encrypt_type") == Some("aes") {
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

fn check_fresh(ctx: &ShopContext, timestamp: &str) -> Result<(), PluginError> {
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
    Ok(())
}

#[cfg(test)]
mod tests;
