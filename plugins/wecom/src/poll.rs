//! Pulling a kf account's messages with `POST /cgi-bin/kf/sync_msg`. A feed
//! is one `open_kfid`. Each poll fetches an access token first if there is
//! none (step `token`), then pulls one page (step `sync`) from the
//! committed cursor, with the callback's sync token when the poll was
//! hinted. The page's `next_cursor` is committed with its events; `has_more`
//! makes the host pull again at once (a page may be empty and still have
//! more).
//!
//! A hint's sync token is valid for 10 minutes. When WeCom refuses it
//! (95007) the plugin remembers the refused token for that feed and asks to
//! render again: the next pull goes out without it (allowed, at a stricter
//! rate limit).

use crate::api_answer::{self, Answer};
use crate::sync_messages::{self, VoiceFormat};
use crate::{API_HOST, token};
use serde_json::{Map, Value, json};
use tongdao_sdk::*;

/// Step label of the pull.
pub const STEP_SYNC: &str = "sync";
/// The most messages a page may hold (WeCom's maximum and default).
pub const MAX_PAGE_LIMIT: u32 = 1000;
/// State key prefix of a sync token WeCom refused, per feed.
pub const REFUSED_SYNC_TOKEN: &str = "refused_sync_token:";
/// How long a sync token lives, and so how long a refusal is remembered.
const SYNC_TOKEN_LIFETIME_MS: i64 = 10 * 60 * 1000;
/// The longest cursor WeCom issues.
const MAX_CURSOR_BYTES: usize = 64;

/// Render the next request of a poll of `poll.feed` (an `open_kfid`).
pub fn render(ctx: &ShopContext, poll: &PollRequest) -> Result<OutboundRequest, PluginError> {
    let open_kfid = poll.feed.trim();
    if open_kfid.is_empty() {
        return Err(PluginError::Malformed(
            "the feed names no open_kfid (a WeCom feed is a kf account's open_kfid)".into(),
        ));
    }
    let limit = page_limit(ctx)?;
    let voice = voice_format(ctx)?;
    let Some(access_token) = token::live(ctx) else {
        return token::request(ctx);
    };
    let mut body = Map::new();
    if let Some(cursor) = poll.cursor.as_deref().filter(|c| !c.is_empty()) {
        if cursor.len() > MAX_CURSOR_BYTES {
            return Err(PluginError::Malformed(format!(
                "the committed cursor is {} bytes; WeCom cursors have at most {MAX_CURSOR_BYTES}",
                cursor.len()
            )));
        }
        body.insert("cursor".into(), json!(cursor));
    }
    if let Some(hint) = usable_hint_token(ctx, poll) {
        body.insert("token".into(), json!(hint));
    }
    body.insert("limit".into(), json!(limit));
    body.insert("voice_format".into(), json!(voice.code()));
    body.insert("open_kfid".into(), json!(open_kfid));
    Ok(OutboundRequest {
        step: STEP_SYNC.into(),
        request: HttpRequest::new(
            "POST",
            &format!(
                "https://{API_HOST}/cgi-bin/kf/sync_msg?access_token={}",
                encode(access_token)
            ),
            Value::Object(body).to_string().into_bytes(),
        )
        .with_header("content-type", "application/json; charset=utf-8"),
    })
}

/// Interpret the response to a request [`render`] rendered.
pub fn parse(
    ctx: &ShopContext,
    poll: &PollRequest,
    step: &str,
    response: &HttpResponse,
) -> Result<PollResult, PluginError> {
    match step {
        token::STEP_TOKEN => Ok(PollResult::from(token::interpret(ctx, response))),
        STEP_SYNC => {
            let answer = match api_answer::read(response) {
                Ok(answer) => answer,
                Err(outcome) => return Ok(PollResult::from(Interpretation::outcome(outcome))),
            };
            if answer.errcode == 0 {
                return page(ctx, &answer);
            }
            Ok(PollResult::from(refused(ctx, poll, &answer)))
        }
        other => Err(PluginError::Malformed(format!(
            "unknown poll step `{other}` (expected `{}` or `{STEP_SYNC}`)",
            token::STEP_TOKEN
        ))),
    }
}

fn page(ctx: &ShopContext, answer: &Answer) -> Result<PollResult, PluginError> {
    let list = match answer.body.get("msg_list") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(list)) => list.as_slice(),
        Some(_) => {
            return Err(PluginError::Malformed(
                "the sync_msg answer's `msg_list` is not a list".into(),
            ));
        }
    };
    let events = sync_messages::events(list, voice_format(ctx)?);
    let next_cursor = answer
        .str_field("next_cursor")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    let has_more = match answer.body.get("has_more") {
        Some(Value::Bool(flag)) => *flag,
        Some(value) => value.as_i64().unwrap_or(0) == 1,
        None => false,
    };
    if has_more && next_cursor.is_none() {
        return Err(PluginError::Malformed(
            "the sync_msg answer says `has_more` but gives no `next_cursor`".into(),
        ));
    }
    Ok(PollResult {
        outcome: PollOutcome::Page(PollPage {
            events,
            next_cursor,
            has_more,
            acks: Vec::new(),
        }),
        state: Vec::new(),
    })
}

fn refused(ctx: &ShopContext, poll: &PollRequest, answer: &Answer) -> Interpretation {
    match answer.errcode {
        // The hint's sync token expired (10 min) or is not this feed's: pull
        // again without it.
        95007 => match usable_hint_token(ctx, poll) {
            Some(hint) => Interpretation::with_state(
                DeliveryOutcome::NextStep,
                vec![StateChange::set(
                    &refused_key(&poll.feed),
                    hint,
                    Some(ctx.now_ms.saturating_add(SYNC_TOKEN_LIFETIME_MS)),
                )],
            ),
            None => api_answer::common(answer),
        },
        // The feed names no kf account of this corp: it must be fixed in the config.
        95000 | 95004 => Interpretation::outcome(DeliveryOutcome::permanent(
            answer.errcode.to_string(),
            format!(
                "{} — the feed `{}` is not a kf account of this corp",
                answer.explain(),
                poll.feed
            ),
        )),
        _ => api_answer::common(answer),
    }
}

fn usable_hint_token<'a>(ctx: &ShopContext, poll: &'a PollRequest) -> Option<&'a str> {
    let hint = poll.hint_token.as_deref().filter(|t| !t.is_empty())?;
    (ctx.state_value(&refused_key(&poll.feed)) != Some(hint)).then_some(hint)
}

fn refused_key(feed: &str) -> String {
    format!("{REFUSED_SYNC_TOKEN}{}", feed.trim())
}

/// The `page_limit` setting (1..=1000, default 1000).
fn page_limit(ctx: &ShopContext) -> Result<u32, PluginError> {
    match ctx.setting("page_limit") {
        None => Ok(MAX_PAGE_LIMIT),
        Some(text) => text
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|limit| (1..=MAX_PAGE_LIMIT).contains(limit))
            .ok_or_else(|| {
                PluginError::Misconfigured(format!(
                    "shop `{}`: setting `page_limit` is `{text}`; it must be 1 to {MAX_PAGE_LIMIT}",
                    ctx.shop_id
                ))
            }),
    }
}

/// The `voice_format` setting (`amr`/0, the default, or `silk`/1).
fn voice_format(ctx: &ShopContext) -> Result<VoiceFormat, PluginError> {
    match ctx.setting("voice_format").map(str::trim) {
        None | Some("0") | Some("amr") => Ok(VoiceFormat::Amr),
        Some("1") | Some("silk") => Ok(VoiceFormat::Silk),
        Some(other) => Err(PluginError::Misconfigured(format!(
            "shop `{}`: setting `voice_format` is `{other}`; it must be `amr` or `silk`",
            ctx.shop_id
        ))),
    }
}

fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests;
