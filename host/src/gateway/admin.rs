//! The admin API for agents, JSON over HTTP under `/admin`, every request
//! carrying `Authorization: Bearer <admin.token>`:
//!
//! | method | path | body | what |
//! |---|---|---|---|
//! | GET | `/admin/agents` | | agents and how many conversations each holds |
//! | GET | `/admin/shops/{shop}/queue` | | waiting (priority, then age) and assigned conversations |
//! | GET | `/admin/shops/{shop}/conversations/{id}` | | history, actions, hand-off, reply window |
//! | POST | `…/conversations/{id}/take` | `{"agent"}` | take a waiting conversation |
//! | POST | `…/conversations/{id}/reply` | `{"agent","text","request_id"?}` | send the customer a message |
//! | POST | `…/conversations/{id}/transfer` | `{"agent","to"}` | pass it to another agent |
//! | POST | `…/conversations/{id}/close` | `{"agent"}` | done; ends the platform session where there is one |
//! | POST | `…/conversations/{id}/hand-back` | `{"agent"}` | give it back to the bot |
//! | GET | `/admin/customers/{shop}/{user}` | | the customer across channels: identities, links, history |
//! | POST | `/admin/customers/links` | `{"a":[shop,user],"b":[shop,user],"by","note"?}` | link two identities |
//! | DELETE | `/admin/customers/links` | `{"a":[shop,user],"b":[shop,user]}` | undo a link |
//!
//! Path segments are percent-decoded (WeCom conversation ids hold `:`).
//! Errors are `{"error": {"kind", "message"}}` with 400, 401, 403, 404, 409
//! (conflict, or the channel's reply window is closed) or 500.

use crate::desk::{self, DeskError};
use crate::identity;
use crate::model::ManualLink;
use crate::server::HostState;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

/// Largest admin request body.
const MAX_BODY: usize = 64 * 1024;

/// Handles a request whose path starts with `/admin`; `segments` follow it.
pub async fn handle(
    host: &HostState,
    segments: &[String],
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let Some(token) = &host.admin_token else {
        return error(
            StatusCode::NOT_FOUND,
            "off",
            "the admin API is not configured",
        );
    };
    let presented = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !bool::from(presented.as_bytes().ct_eq(token.as_bytes())) {
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "missing or wrong bearer token",
        );
    }
    let method = request.method().clone();
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid",
                "unreadable or too large body",
            );
        }
    };
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let result = match (&method, segments.as_slice()) {
        (&Method::GET, ["agents"]) => agents(host),
        (&Method::GET, ["shops", shop, "queue"]) => queue(host, shop),
        (&Method::GET, ["shops", shop, "conversations", id]) => conversation(host, shop, id),
        (&Method::POST, ["shops", shop, "conversations", id, verb]) => {
            act(host, shop, id, verb, &body)
        }
        (&Method::GET, ["customers", shop, user]) => customer(host, shop, user),
        (&Method::POST, ["customers", "links"]) => link(host, &body, true),
        (&Method::DELETE, ["customers", "links"]) => link(host, &body, false),
        _ => Err(DeskError::NotFound("no such admin route".into())),
    };
    match result {
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(err) => {
            let (status, kind) = match &err {
                DeskError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found"),
                DeskError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
                DeskError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
                DeskError::WindowClosed(_) => (StatusCode::CONFLICT, "window-closed"),
                DeskError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid"),
                DeskError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "store"),
            };
            if status == StatusCode::INTERNAL_SERVER_ERROR {
                tracing::error!(error = %err, "admin request failed");
            }
            error(status, kind, &err.to_string())
        }
    }
}

fn agents(host: &HostState) -> Result<Value, DeskError> {
    let mut held: std::collections::HashMap<String, u32> = Default::default();
    for shop in host.shops.iter() {
        for handoff in host.store.handoffs(&shop.config.id)? {
            if let Some(agent) = handoff.agent() {
                *held.entry(agent.to_owned()).or_default() += 1;
            }
        }
    }
    let agents: Vec<Value> = host
        .desk
        .agents()
        .iter()
        .map(|agent| {
            json!({
                "id": agent.id,
                "name": agent.name,
                "shops": agent.shops,
                "max_concurrent": agent.max_concurrent,
                "holding": held.get(&agent.id).copied().unwrap_or(0),
            })
        })
        .collect();
    Ok(json!({ "agents": agents }))
}

fn queue(host: &HostState, shop: &str) -> Result<Value, DeskError> {
    if host.shops.get(shop).is_none() {
        return Err(DeskError::NotFound(format!("no shop `{shop}`")));
    }
    let waiting = desk::queue(host, shop)?;
    let mut assigned: Vec<_> = host
        .store
        .handoffs(shop)?
        .into_iter()
        .filter(|h| h.agent().is_some())
        .collect();
    assigned.sort_by_key(|handoff| handoff.queued_ms);
    Ok(json!({ "shop": shop, "waiting": waiting, "assigned": assigned }))
}

fn conversation(host: &HostState, shop: &str, id: &str) -> Result<Value, DeskError> {
    if host.shops.get(shop).is_none() {
        return Err(DeskError::NotFound(format!("no shop `{shop}`")));
    }
    let Some(conversation) = host.store.conversation(shop, id)? else {
        return Err(DeskError::NotFound(format!(
            "no conversation `{id}` in shop `{shop}`"
        )));
    };
    Ok(json!({
        "conversation": conversation,
        "handoff": host.store.handoff(shop, id)?,
        "window": desk::window(host, shop, id)?,
        "history": host.store.conversation_events(shop, id)?,
        "actions": host.store.conversation_outbox(shop, id)?,
    }))
}

fn customer(host: &HostState, shop: &str, user: &str) -> Result<Value, DeskError> {
    let Some(customer) = identity::customer(host.store.as_ref(), shop, user)? else {
        return Err(DeskError::NotFound(format!(
            "no customer `{user}` seen in shop `{shop}`"
        )));
    };
    let history = identity::history(host.store.as_ref(), &customer)?;
    Ok(json!({
        "identities": customer.identities,
        "links": customer.links,
        "history": history,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkRequest {
    a: (String, String),
    b: (String, String),
    by: Option<String>,
    note: Option<String>,
}

fn link(host: &HostState, body: &[u8], make: bool) -> Result<Value, DeskError> {
    let request: LinkRequest = serde_json::from_slice(body)
        .map_err(|err| DeskError::Invalid(format!("the body is not a valid link: {err}")))?;
    if request.a == request.b {
        return Err(DeskError::Invalid(
            "an identity cannot be linked to itself".into(),
        ));
    }
    for (shop, user) in [&request.a, &request.b] {
        if host.store.known_identity(shop, user)?.is_none() {
            return Err(DeskError::NotFound(format!(
                "no customer `{user}` seen in shop `{shop}`"
            )));
        }
    }
    let a = (request.a.0.as_str(), request.a.1.as_str());
    let b = (request.b.0.as_str(), request.b.1.as_str());
    let changed = if make {
        let by = request
            .by
            .clone()
            .ok_or_else(|| DeskError::Invalid("`by` (who links them) is required".into()))?;
        let link = ManualLink {
            a: request.a.clone(),
            b: request.b.clone(),
            by,
            note: request.note.clone(),
            at_ms: crate::clock::now_ms(),
        };
        host.store.set_manual_link(a, b, Some(&link))?
    } else {
        host.store.set_manual_link(a, b, None)?
    };
    tracing::info!(a = ?request.a, b = ?request.b, linked = make, changed, "identity link changed");
    Ok(json!({ "changed": changed }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentRequest {
    agent: String,
    text: Option<String>,
    request_id: Option<String>,
    to: Option<String>,
}

fn act(
    host: &HostState,
    shop: &str,
    id: &str,
    verb: &str,
    body: &[u8],
) -> Result<Value, DeskError> {
    let request: AgentRequest = serde_json::from_slice(body)
        .map_err(|err| DeskError::Invalid(format!("the body is not a valid request: {err}")))?;
    let agent = request.agent.as_str();
    let value = match verb {
        "take" => json!({ "handoff": desk::take(host, shop, id, agent)? }),
        "reply" => {
            let text = request
                .text
                .as_deref()
                .ok_or_else(|| DeskError::Invalid("`text` is required".into()))?;
            let seq = desk::reply(host, shop, id, agent, text, request.request_id.as_deref())?;
            json!({ "queued": seq })
        }
        "transfer" => {
            let to = request
                .to
                .as_deref()
                .ok_or_else(|| DeskError::Invalid("`to` is required".into()))?;
            json!({ "handoff": desk::transfer(host, shop, id, agent, to)? })
        }
        "close" | "hand-back" => {
            let ended = desk::release(host, shop, id, agent, verb == "close")?;
            desk::assign_waiting(host)?;
            json!({ "released": true, "end_session_queued": ended })
        }
        other => {
            return Err(DeskError::NotFound(format!(
                "no conversation action `{other}`"
            )));
        }
    };
    Ok(value)
}

fn json_response(status: StatusCode, value: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response<Full<Bytes>> {
    json_response(
        status,
        &json!({ "error": { "kind": kind, "message": message } }),
    )
}
