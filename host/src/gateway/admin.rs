//! The admin API for agents, JSON over HTTP under `/admin`. Every request
//! carries the caller's own credential, `Authorization: Bearer
//! <agent>:<secret>` (see `tongdao agent add`), or the config's break-glass
//! admin token. The acting agent is the authenticated one: an `agent` or
//! `by` in a body, if given, must name them. Agents see and act in their own
//! shops, supervisors in all; actions are appended to the audit log.
//!
//! | method | path | body | who | what |
//! |---|---|---|---|---|
//! | GET | `/admin/me` | | anyone | the caller: id, role, shops |
//! | GET | `/admin/agents` | | supervisor | agents and how many conversations each holds |
//! | GET | `/admin/shops/{shop}/queue` | | the shop's agents | waiting (priority, then age) and assigned conversations |
//! | GET | `/admin/shops/{shop}/conversations/{id}` | | the shop's agents | history, actions, hand-off, reply window |
//! | POST | `…/conversations/{id}/take` | | the shop's agents | take a waiting conversation |
//! | POST | `…/conversations/{id}/reply` | `{"text","request_id"?}` | its agent | send the customer a message |
//! | POST | `…/conversations/{id}/transfer` | `{"to"}` | its agent | pass it to another agent |
//! | POST | `…/conversations/{id}/close` | | its agent | done; ends the platform session where there is one |
//! | POST | `…/conversations/{id}/hand-back` | | its agent | give it back to the bot |
//! | GET | `/admin/customers/{shop}/{user}` | | the shop's agents | the customer across channels: identities, links, history |
//! | POST | `/admin/customers/links` | `{"a":[shop,user],"b":[shop,user],"note"?}` | supervisor | link two identities |
//! | DELETE | `/admin/customers/links` | `{"a":[shop,user],"b":[shop,user]}` | supervisor | undo a link |
//! | GET | `/admin/shops/{shop}/orders/{order}/care` | | the shop's agents | what each proactive-care rule did about the order |
//! | GET | `/admin/audit` | | admin | the last 200 audited actions |
//! | POST | `/admin/backup` | | admin | a consistent snapshot of the store, written to `<data_dir>/backups/` |
//!
//! Path segments are percent-decoded (WeCom conversation ids hold `:`).
//! Errors are `{"error": {"kind", "message"}}` with 400, 401, 403, 404, 409
//! (conflict, or the channel's reply window is closed) or 500.

use crate::auth::Authenticator;
use crate::auth::audit::AuditEntry;
use crate::auth::audit::AuditLog;
use crate::auth::{AuthError, Principal};
use crate::config::Limits;
use crate::config::Role;
use crate::desk::People;
use crate::desk::{self, DeskError};
use crate::identity;
use crate::model::ManualLink;
use crate::shops::Shops;
use crate::store::Store;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// What the admin API works with.
#[derive(Clone)]
pub struct Admin {
    /// Who is asking (the API is off without it).
    pub auth: Option<Arc<Authenticator>>,
    /// Where actions are recorded.
    pub audit: Arc<AuditLog>,
    /// The data directory (backups go under it).
    pub data_dir: std::path::PathBuf,
    /// Limits (the body-read timeout).
    pub limits: Limits,
    /// The shops served.
    pub shops: Shops,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The desk, for conversation actions.
    pub people: People,
    /// The bot, whose knowledge base suggestions are accepted into.
    pub bot: Arc<crate::kb::Bot>,
    /// The console's signed-in agents.
    pub sessions: Arc<crate::console::session::Sessions>,
    /// The console's settings.
    pub console: crate::config::ConsoleConfig,
    /// The plugin runtime (to load what is installed).
    pub runtime: crate::runtime::Runtime,
    /// The marketplace shops install from, if configured.
    pub market: Option<crate::installs::Market>,
    /// Who has the console open, and which conversation.
    pub presence: Arc<crate::console::presence::Presence>,
}

/// Largest admin request body.
const MAX_BODY: usize = 64 * 1024;

/// Handles a request whose path starts with `/admin`; `segments` follow it.
pub async fn handle(
    host: &Admin,
    segments: &[String],
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let Some(auth) = &host.auth else {
        return error(
            StatusCode::NOT_FOUND,
            "off",
            "the admin API is not configured",
        );
    };
    let presented = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let principal = match auth.authenticate(presented).await {
        Ok(principal) => principal,
        Err(AuthError::Unavailable(reason)) => {
            tracing::error!(reason, "credentials could not be checked");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "store",
                "credentials could not be checked",
            );
        }
        Err(err) => {
            return error(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                &err.to_string(),
            );
        }
    };
    let method = request.method().clone();
    let query = request.uri().query().unwrap_or("").to_owned();
    let read = tokio::time::timeout(
        host.limits.body_read_timeout,
        Limited::new(request.into_body(), MAX_BODY).collect(),
    )
    .await;
    let body = match read {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) | Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid",
                "unreadable or too large body",
            );
        }
    };
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let who = &principal;
    if method == Method::GET && segments.as_slice() == ["report"] {
        return match require(who, Role::Supervisor).and_then(|()| report(host, who, &query)) {
            Ok(report) if query_text(&query, "format") == Some("csv") => match report.to_csv() {
                Ok(csv) => Response::builder()
                    .status(StatusCode::OK)
                    .header("content-type", "text/csv; charset=utf-8")
                    .body(Full::new(Bytes::from(csv)))
                    .expect("a valid response"),
                Err(err) => failure(DeskError::Store(format!("{err:#}"))),
            },
            Ok(report) => json_response(
                StatusCode::OK,
                &serde_json::to_value(&report).unwrap_or(Value::Null),
            ),
            Err(err) => failure(err),
        };
    }
    let result = match (&method, segments.as_slice()) {
        (&Method::GET, ["plugins"]) => {
            require(who, Role::Supervisor).and_then(|()| super::plugins::list(host))
        }
        (&Method::POST, ["plugins", shop, verb]) => match require(who, Role::Admin) {
            Ok(()) => super::plugins::change(host, who, shop, verb, &body).await,
            Err(err) => Err(err),
        },
        (&Method::GET, ["me"]) => Ok(me(who)),
        (&Method::GET, ["agents"]) => require(who, Role::Supervisor).and_then(|()| agents(host)),
        (&Method::GET, ["audit"]) => require(who, Role::Admin).and_then(|()| audit(host)),
        (&Method::POST, ["backup"]) => require(who, Role::Admin).and_then(|()| backup(host, who)),
        (&Method::GET, ["kb", "suggestions"]) => {
            require(who, Role::Supervisor).and_then(|()| suggestions(host, who, &query))
        }
        (&Method::POST, ["kb", "accept"]) => {
            require(who, Role::Supervisor).and_then(|()| accept(host, who, &body))
        }
        (&Method::GET, ["shops", shop, "queue"]) => {
            serving(who, shop).and_then(|()| queue(host, shop))
        }
        (&Method::GET, ["shops", shop, "conversations", id]) => {
            serving(who, shop).and_then(|()| conversation(host, shop, id))
        }
        (&Method::POST, ["shops", shop, "conversations", id, verb]) => {
            serving(who, shop).and_then(|()| act(host, who, shop, id, verb, &body))
        }
        (&Method::GET, ["shops", shop, "orders", order, "care"]) => {
            serving(who, shop).and_then(|()| {
                let records = host.store.care_records(shop, order)?;
                Ok(json!({ "rules": records }))
            })
        }
        (&Method::GET, ["customers", shop, user]) => {
            serving(who, shop).and_then(|()| customer(host, shop, user))
        }
        (&Method::POST, ["customers", "links"]) => {
            require(who, Role::Supervisor).and_then(|()| link(host, who, &body, true))
        }
        (&Method::DELETE, ["customers", "links"]) => {
            require(who, Role::Supervisor).and_then(|()| link(host, who, &body, false))
        }
        _ => Err(DeskError::NotFound("no such admin route".into())),
    };
    match result {
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(err) => failure(err),
    }
}

/// The error response for a refused or failed request.
fn failure(err: DeskError) -> Response<Full<Bytes>> {
    {
        {
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

/// Refuses a principal below `role`.
pub(crate) fn require(who: &Principal, role: Role) -> Result<(), DeskError> {
    if who.has(role) {
        Ok(())
    } else {
        Err(DeskError::Forbidden(format!(
            "`{}` is {} and this needs {}",
            who.id,
            who.role.as_str(),
            role.as_str()
        )))
    }
}

fn serving(who: &Principal, shop: &str) -> Result<(), DeskError> {
    if who.serves(shop) {
        Ok(())
    } else {
        Err(DeskError::Forbidden(format!(
            "`{}` does not serve shop `{shop}`",
            who.id
        )))
    }
}

fn me(who: &Principal) -> Value {
    json!({
        "id": who.id,
        "role": who.role.as_str(),
        "shops": who.shops,
        "agent": who.is_agent,
    })
}

/// A consistent snapshot of the store, written under the data directory's
/// `backups/` while the host keeps serving (writes wait while it is taken).
fn backup(host: &Admin, who: &Principal) -> Result<Value, DeskError> {
    let dir = host.data_dir.join("backups");
    std::fs::create_dir_all(&dir)
        .map_err(|err| DeskError::Store(format!("creating {}: {err}", dir.display())))?;
    let path = dir.join(format!("{}.tdbackup", crate::clock::now_ms()));
    let summary = tokio::task::block_in_place(|| host.store.backup(&path))
        .map_err(|err| DeskError::Store(format!("{err:#}")))?;
    record(
        host,
        who,
        "backup",
        None,
        None,
        Some(format!("{} ({} entries)", path.display(), summary.entries)),
    )?;
    Ok(json!({
        "path": path,
        "trees": summary.trees,
        "entries": summary.entries,
        "bytes": summary.bytes,
    }))
}

/// A number from the query string (`name=N`), or `default`.
/// A query parameter's raw value.
fn query_text<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// `GET /admin/report?from=YYYY-MM-DD&to=YYYY-MM-DD[&format=csv]`: the
/// voice-of-the-customer report over the supervisor's shops (default: the
/// last seven days).
fn report(host: &Admin, who: &Principal, query: &str) -> Result<crate::report::Report, DeskError> {
    let (from, to) = crate::report::range(query_text(query, "from"), query_text(query, "to"))
        .map_err(DeskError::Invalid)?;
    tokio::task::block_in_place(|| {
        crate::report::build(&*host.store, &host.bot, from, to, |shop| who.serves(shop))
    })
    .map_err(|err| DeskError::Store(format!("{err:#}")))
}

fn query_number(query: &str, name: &str, default: i64) -> Result<i64, DeskError> {
    match query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
    {
        Some((_, value)) => value
            .parse()
            .map_err(|_| DeskError::Invalid(format!("`{name}` must be a whole number"))),
        None => Ok(default),
    }
}

/// Questions the bot could not answer in the shops the caller serves,
/// grouped into suggested new examples and intents, with the agents'
/// replies (`?days=30&min_count=2`).
fn suggestions(host: &Admin, who: &Principal, query: &str) -> Result<Value, DeskError> {
    let days = query_number(query, "days", 30)?;
    let min_count = query_number(query, "min_count", 2)?.max(1) as usize;
    let since_ms = crate::clock::now_ms() - days.max(0) * 86_400_000;
    let found = tokio::task::block_in_place(|| {
        crate::learning::suggestions(&*host.store, &host.bot, since_ms, min_count, |shop| {
            who.serves(shop)
        })
    })
    .map_err(|err| DeskError::Store(format!("{err:#}")))?;
    Ok(json!({ "suggestions": found }))
}

/// What `POST /admin/kb/accept` takes: a suggestion, edited as the
/// supervisor sees fit.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
enum AcceptRequest {
    /// Add questions to an intent.
    NewExamples {
        intent: String,
        questions: Vec<String>,
    },
    /// Add an intent.
    NewIntent {
        id: String,
        #[serde(default)]
        scenario: String,
        #[serde(default)]
        name: String,
        answer: String,
        questions: Vec<String>,
    },
}

/// Accepts a suggestion into the knowledge base: the file is edited in
/// place and the bot answers from it at once.
fn accept(host: &Admin, who: &Principal, body: &[u8]) -> Result<Value, DeskError> {
    let request: AcceptRequest = serde_json::from_slice(body)
        .map_err(|err| DeskError::Invalid(format!("not a suggestion to accept: {err}")))?;
    let edit = match request {
        AcceptRequest::NewExamples { intent, questions } => {
            crate::kb::KnowledgeBaseEdit::AddExamples { intent, questions }
        }
        AcceptRequest::NewIntent {
            id,
            scenario,
            name,
            answer,
            questions,
        } => crate::kb::KnowledgeBaseEdit::AddIntent {
            id,
            scenario,
            name,
            answer,
            examples: questions,
        },
    };
    tokio::task::block_in_place(|| host.bot.edit(&edit))
        .map_err(|err| DeskError::Invalid(format!("{err:#}")))?;
    let detail = match &edit {
        crate::kb::KnowledgeBaseEdit::AddExamples { intent, questions } => {
            format!("{} example(s) for `{intent}`", questions.len())
        }
        crate::kb::KnowledgeBaseEdit::AddIntent { id, examples, .. } => {
            format!("intent `{id}` with {} example(s)", examples.len())
        }
    };
    record(host, who, "kb-accept", None, None, Some(detail.clone()))?;
    Ok(json!({ "accepted": detail }))
}

fn audit(host: &Admin) -> Result<Value, DeskError> {
    let entries = host
        .audit
        .tail(200)
        .map_err(|err| DeskError::Store(format!("{err:#}")))?;
    Ok(json!({ "entries": entries }))
}

/// Appends an action to the audit log (the admin API's and the
/// console's); the action has happened, so a failure is reported as such.
pub(crate) fn record(
    host: &Admin,
    who: &Principal,
    action: &str,
    shop: Option<&str>,
    conversation: Option<&str>,
    detail: Option<String>,
) -> Result<(), DeskError> {
    let entry = AuditEntry {
        at_ms: crate::clock::now_ms(),
        who: who.id.clone(),
        role: who.role.as_str().into(),
        action: action.into(),
        shop: shop.map(str::to_owned),
        conversation: conversation.map(str::to_owned),
        detail,
    };
    host.audit.record(&entry).map_err(|err| {
        tracing::error!(error = %format!("{err:#}"), ?entry, "an admin action could not be audited");
        DeskError::Store(format!(
            "`{action}` was done but could not be written to the audit log: {err:#}"
        ))
    })
}

fn agents(host: &Admin) -> Result<Value, DeskError> {
    let mut held: std::collections::HashMap<String, u32> = Default::default();
    for shop in host.shops.iter() {
        for handoff in host.store.handoffs(&shop.config.id)? {
            if let Some(agent) = handoff.agent() {
                *held.entry(agent.to_owned()).or_default() += 1;
            }
        }
    }
    let agents: Vec<Value> = host
        .people
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

fn queue(host: &Admin, shop: &str) -> Result<Value, DeskError> {
    if host.shops.get(shop).is_none() {
        return Err(DeskError::NotFound(format!("no shop `{shop}`")));
    }
    let waiting = desk::queue(&host.people, shop)?;
    let mut assigned: Vec<_> = host
        .store
        .handoffs(shop)?
        .into_iter()
        .filter(|h| h.agent().is_some())
        .collect();
    assigned.sort_by_key(|handoff| handoff.queued_ms);
    Ok(json!({ "shop": shop, "waiting": waiting, "assigned": assigned }))
}

fn conversation(host: &Admin, shop: &str, id: &str) -> Result<Value, DeskError> {
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
        "window": desk::window(&host.people, shop, id)?,
        "history": host.store.conversation_events(shop, id)?,
        "actions": host.store.conversation_outbox(shop, id)?,
    }))
}

fn customer(host: &Admin, shop: &str, user: &str) -> Result<Value, DeskError> {
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
    /// Who links them: if given, the caller.
    by: Option<String>,
    note: Option<String>,
}

fn link(host: &Admin, who: &Principal, body: &[u8], make: bool) -> Result<Value, DeskError> {
    let request: LinkRequest = serde_json::from_slice(body)
        .map_err(|err| DeskError::Invalid(format!("the body is not a valid link: {err}")))?;
    acting_as_self(who, request.by.as_deref())?;
    let changed = set_link(host, who, &request.a, &request.b, request.note, make)?;
    Ok(json!({ "changed": changed }))
}

/// Links (`make`) or unlinks two identities by hand, as `who` (a
/// supervisor; the caller checks); audited. Whether anything changed.
pub(crate) fn set_link(
    host: &Admin,
    who: &Principal,
    a: &(String, String),
    b: &(String, String),
    note: Option<String>,
    make: bool,
) -> Result<bool, DeskError> {
    let request = LinkRequest {
        a: a.clone(),
        b: b.clone(),
        by: None,
        note,
    };
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
        let link = ManualLink {
            a: request.a.clone(),
            b: request.b.clone(),
            by: who.id.clone(),
            note: request.note.clone(),
            at_ms: crate::clock::now_ms(),
        };
        host.store.set_manual_link(a, b, Some(&link))?
    } else {
        host.store.set_manual_link(a, b, None)?
    };
    tracing::info!(a = ?request.a, b = ?request.b, linked = make, changed, by = who.id, "identity link changed");
    record(
        host,
        who,
        if make { "link" } else { "unlink" },
        Some(&request.a.0),
        None,
        Some(format!(
            "{}/{} ↔ {}/{}",
            request.a.0, request.a.1, request.b.0, request.b.1
        )),
    )?;
    Ok(changed)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct AgentRequest {
    /// The acting agent: if given, the caller.
    pub(crate) agent: Option<String>,
    /// A reply's text.
    pub(crate) text: Option<String>,
    /// A reply's idempotency key.
    pub(crate) request_id: Option<String>,
    /// A transfer's receiving agent.
    pub(crate) to: Option<String>,
}

/// Refuses a body that names someone other than the caller.
fn acting_as_self(who: &Principal, named: Option<&str>) -> Result<(), DeskError> {
    match named {
        Some(named) if named != who.id => Err(DeskError::Forbidden(format!(
            "`{}` cannot act as `{named}`: the acting agent is the one who signed in",
            who.id
        ))),
        _ => Ok(()),
    }
}

fn act(
    host: &Admin,
    who: &Principal,
    shop: &str,
    id: &str,
    verb: &str,
    body: &[u8],
) -> Result<Value, DeskError> {
    let request: AgentRequest = if body.iter().all(u8::is_ascii_whitespace) {
        AgentRequest::default()
    } else {
        serde_json::from_slice(body)
            .map_err(|err| DeskError::Invalid(format!("the body is not a valid request: {err}")))?
    };
    acting_as_self(who, request.agent.as_deref())?;
    perform(host, who, shop, id, verb, &request)
}

/// A conversation action by the signed-in agent, from the admin API or the
/// console: take, reply, send the shop's coupon, transfer, close, hand
/// back; audited.
pub(crate) fn perform(
    host: &Admin,
    who: &Principal,
    shop: &str,
    id: &str,
    verb: &str,
    request: &AgentRequest,
) -> Result<Value, DeskError> {
    if !who.is_agent {
        return Err(DeskError::Forbidden(format!(
            "`{}` is not an agent and cannot hold conversations",
            who.id
        )));
    }
    let agent = who.id.as_str();
    let value = match verb {
        "take" => json!({ "handoff": desk::take(&host.people, shop, id, agent)? }),
        "reply" => {
            let text = request
                .text
                .as_deref()
                .map(str::trim)
                .filter(|text| !text.is_empty())
                .ok_or_else(|| DeskError::Invalid("`text` is required".into()))?;
            let seq = desk::reply(
                &host.people,
                shop,
                id,
                agent,
                text,
                request.request_id.as_deref(),
            )?;
            json!({ "queued": seq })
        }
        "coupon" => {
            let seq =
                desk::send_coupon(&host.people, shop, id, agent, request.request_id.as_deref())?;
            json!({ "queued": seq })
        }
        "transfer" => {
            let to = request
                .to
                .as_deref()
                .ok_or_else(|| DeskError::Invalid("`to` is required".into()))?;
            json!({ "handoff": desk::transfer(&host.people, shop, id, agent, to)? })
        }
        "close" | "hand-back" => {
            let ended = desk::release(&host.people, shop, id, agent, verb == "close")?;
            desk::assign_waiting(&host.people)?;
            json!({ "released": true, "end_session_queued": ended })
        }
        other => {
            return Err(DeskError::NotFound(format!(
                "no conversation action `{other}`"
            )));
        }
    };
    let detail = match verb {
        "transfer" => request.to.as_ref().map(|to| format!("to {to}")),
        "reply" | "coupon" => request.request_id.as_ref().map(|r| format!("request {r}")),
        _ => None,
    };
    record(host, who, verb, Some(shop), Some(id), detail)?;
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
