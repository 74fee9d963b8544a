//! Checks on what plugins return: the contract's rules
//! that the type system cannot express (non-empty ids, bounded state,
//! absolute http(s) URLs, sane status codes).

use crate::runtime::bindings::tongdao::channel::types::{
    Event, Manifest, OutboundRequest, PollOutcome, PollResult, PushResult, StateChange,
};

/// The longest id (platform id, conversation id) an event may carry.
const MAX_ID_BYTES: usize = 512;
/// The longest state key.
const MAX_STATE_KEY_BYTES: usize = 128;
/// The largest state value.
const MAX_STATE_VALUE_BYTES: usize = 64 * 1024;
/// The most state changes one call may make.
const MAX_STATE_CHANGES: usize = 256;

/// Check a manifest read at load time.
pub fn validate_manifest(manifest: &Manifest) -> Result<(), String> {
    if manifest.name.is_empty()
        || !manifest
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "name `{}` must be lower-case letters, digits, `-` or `_`",
            manifest.name
        ));
    }
    if manifest.version.is_empty() {
        return Err("version is empty".into());
    }
    if manifest.ingestion.is_empty() {
        return Err("declares no ingestion shape".into());
    }
    if let Some(host) = manifest
        .egress_hosts
        .iter()
        .find(|host| host.is_empty() || host.contains(['/', ':', ' ']))
    {
        return Err(format!("egress host `{host}` is not a bare host name"));
    }
    Ok(())
}

/// Check the result of `handle-push`.
pub fn validate_push(result: &PushResult) -> Result<(), String> {
    if !(100..=599).contains(&result.response.status) {
        return Err(format!(
            "response status {} is not an HTTP status",
            result.response.status
        ));
    }
    validate_events(&result.events)?;
    validate_state(&result.state)?;
    for hint in &result.poll_hints {
        check_id("poll hint feed", &hint.feed)?;
    }
    Ok(())
}

/// Check events: ids present and bounded.
pub fn validate_events(events: &[Event]) -> Result<(), String> {
    for event in events {
        check_id("event platform-id", &event.platform_id)?;
        check_id("event conversation-id", &event.conversation_id)?;
    }
    Ok(())
}

/// Check state changes: bounded keys, values and count.
pub fn validate_state(changes: &[StateChange]) -> Result<(), String> {
    if changes.len() > MAX_STATE_CHANGES {
        return Err(format!(
            "{} state changes; at most {MAX_STATE_CHANGES} per call",
            changes.len()
        ));
    }
    for change in changes {
        let key = match change {
            StateChange::Set(entry) => {
                if entry.value.len() > MAX_STATE_VALUE_BYTES {
                    return Err(format!(
                        "state value of `{}` is {} bytes; at most {MAX_STATE_VALUE_BYTES}",
                        entry.key,
                        entry.value.len()
                    ));
                }
                &entry.key
            }
            StateChange::Remove(key) => key,
        };
        if key.is_empty() || key.len() > MAX_STATE_KEY_BYTES {
            return Err(format!(
                "state key `{key}` must be 1..={MAX_STATE_KEY_BYTES} bytes"
            ));
        }
    }
    Ok(())
}

/// Check an outbound request: an absolute http(s) URL and a known method.
pub fn validate_outbound(request: &OutboundRequest) -> Result<(), String> {
    if request.step.is_empty() || request.step.len() > 64 {
        return Err("step label must be 1..=64 bytes".into());
    }
    let url = url::Url::parse(&request.request.url)
        .map_err(|err| format!("request URL is not absolute: {err}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("request URL `{url}` is not http(s) with a host"));
    }
    if !matches!(
        request.request.method.as_str(),
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD"
    ) {
        return Err(format!(
            "method `{}` is not allowed",
            request.request.method
        ));
    }
    Ok(())
}

/// Check the result of `parse-poll`.
pub fn validate_poll(result: &PollResult) -> Result<(), String> {
    validate_state(&result.state)?;
    if let PollOutcome::Page(page) = &result.outcome {
        validate_events(&page.events)?;
        for ack in &page.acks {
            validate_outbound(ack)?;
        }
    }
    Ok(())
}

fn check_id(what: &str, id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(format!(
            "{what} is {} bytes; at most {MAX_ID_BYTES}",
            id.len()
        ));
    }
    Ok(())
}
