//! The push endpoint: the `app-id` and `event-sign` headers are checked
//! before anything in the body is parsed; then every element of the pushed
//! array becomes a commerce event (the verification message, tag `0`,
//! becomes none). The platform gets `{"code":0,"msg":"success"}` once the
//! events are committed.

use crate::envelope::{self, VERIFICATION_TAG};
use crate::event_sign::{self, PushSignMethod};
use crate::normalize;
use tongdao_sdk::*;

/// The answer the platform expects once a push is handled.
pub const SUCCESS_BODY: &str = r#"{"code":0,"msg":"success"}"#;

/// The setting that names the shop's 抖店 shop id (店铺ID); messages for
/// another shop are acknowledged but not stored.
pub const SHOP_ID_SETTING: &str = "shop_id";

/// The headers that may name the push's signing method (SDKs and community
/// handlers disagree on the name).
const SIGN_METHOD_HEADERS: [&str; 2] = ["sign-method", "event-sign-method"];

/// Handle one request to the shop's webhook URL.
pub fn handle(ctx: &ShopContext, request: &HttpRequest) -> Result<PushResult, PluginError> {
    if !request.method.eq_ignore_ascii_case("POST") {
        return Err(PluginError::Unsupported(format!(
            "method {} is not used by 抖店 message pushes (they are POSTs)",
            request.method
        )));
    }
    let app_key = ctx.credential("app_key")?;
    let app_secret = ctx.credential("app_secret")?;
    authenticate(request, app_key, app_secret)?;

    let messages = envelope::parse(&request.body)?;
    let shop_id = ctx.setting(SHOP_ID_SETTING);
    let mut events = Vec::with_capacity(messages.len());
    for (index, message) in messages.iter().enumerate() {
        if message.tag == VERIFICATION_TAG {
            log::debug("抖店 push-URL verification message acknowledged");
            continue;
        }
        if let Some(other) = other_shop(shop_id, &message.data) {
            log::warn(&format!(
                "push element {index} (msg_id {}) is for shop {other}, not this shop's {}: acknowledged, not stored",
                message.msg_id,
                shop_id.unwrap_or_default()
            ));
            continue;
        }
        let event = normalize::event(message, ctx.now_ms).map_err(|problem| {
            PluginError::Malformed(format!(
                "push element {index} (tag {}, msg_id {}): {problem}",
                message.tag, message.msg_id
            ))
        })?;
        events.push(event);
    }
    Ok(PushResult::ack(
        HttpResponse::json(200, SUCCESS_BODY),
        events,
    ))
}

/// Check `app-id` and `event-sign` (with `sign-method`) before the body is
/// looked at.
fn authenticate(request: &HttpRequest, app_key: &str, app_secret: &str) -> Result<(), PluginError> {
    let app_id = request
        .header("app-id")
        .map(str::trim)
        .ok_or_else(|| PluginError::Unauthenticated("the push has no `app-id` header".into()))?;
    if app_id != app_key {
        return Err(PluginError::Unauthenticated(format!(
            "the push is for app `{app_id}`, but this shop's app_key is `{app_key}`"
        )));
    }
    let given = request
        .header("event-sign")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            PluginError::Unauthenticated("the push has no `event-sign` header".into())
        })?;
    let announced = SIGN_METHOD_HEADERS
        .iter()
        .find_map(|name| request.header(name).map(|value| (*name, value.trim())))
        .filter(|(_, value)| !value.is_empty());
    let method = match announced {
        None => PushSignMethod::Md5,
        Some((name, value)) => PushSignMethod::from_header(value).ok_or_else(|| {
            PluginError::Unauthenticated(format!(
                "the push names an unknown `{name}` `{value}` (known: md5, hmac-sha256)"
            ))
        })?,
    };
    if !event_sign::verify(method, app_key, app_secret, &request.body, given) {
        return Err(PluginError::Unauthenticated(format!(
            "`event-sign` does not match the body ({} over app_key + body + app_secret): forged, altered, or the app_secret is wrong",
            method.name()
        )));
    }
    Ok(())
}

/// The shop id a message names, when it differs from the configured one.
fn other_shop(configured: Option<&str>, data: &str) -> Option<String> {
    let configured = configured?;
    let named = crate::data_fields::DataFields::parse(data)
        .ok()?
        .id("shop_id")
        .ok()??;
    (named != configured.trim()).then_some(named)
}

#[cfg(test)]
mod tests;
