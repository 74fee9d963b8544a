//! The agents' console: server-rendered pages (askama templates, htmx
//! vendored and embedded) served by the host under `/console`. An agent
//! signs in with their own credential and gets a session cookie; every form
//! carries the session's CSRF token; the acting agent is always the one
//! signed in. Pages: sign-in, and the workbench's three panes (the
//! conversation list with 待接入 / 我的 / 全部, the thread with the reply box
//! and the conversation's actions, the customer's identities). Chinese by
//! default, English with `?lang=en`.

mod charts;
pub mod live;
pub mod presence;
mod report_page;
pub mod session;
pub mod text;
pub mod view;

use crate::desk::{self, DeskError};
use crate::gateway::admin::Admin;
use askama::Template;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, header};
use session::Session;
use text::Text;

/// The most complaint threats the supervisor's view lists (longest wait
/// first); the rest are counted.
const MAX_ALERTS: usize = 50;

/// Largest console form.
const MAX_FORM: usize = 16 * 1024;

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage<'a> {
    t: &'a Text,
    problem: Option<String>,
}

#[derive(Template)]
#[template(path = "console/canned.html")]
struct CannedPage<'a> {
    t: &'a Text,
    shop: String,
    csrf: String,
    replies: Vec<crate::model::CannedReply>,
    problem: Option<String>,
}

/// A shop's line on the supervisor's view.
struct ShopBoard {
    id: String,
    platform: String,
    waiting: usize,
    longest: String,
    assigned: usize,
}

/// An agent's line on the supervisor's view.
struct AgentBoard {
    id: String,
    status: &'static str,
    load: u32,
    cap: u32,
}

/// A shop's figures for today on the supervisor's view.
struct TodayBoard {
    shop: String,
    questions: u64,
    automation: String,
    first_response: String,
    handled: u64,
    handling: String,
}

impl TodayBoard {
    fn of(shop: String, tally: &crate::model::DailyTally) -> TodayBoard {
        let secs = |value: Option<f64>| {
            value
                .map(|s| view::wait_text(s.round() as i64))
                .unwrap_or_else(|| "—".into())
        };
        TodayBoard {
            shop,
            questions: tally.questions,
            automation: tally
                .automation_rate()
                .map(|rate| format!("{:.1}%", rate * 100.0))
                .unwrap_or_else(|| "—".into()),
            first_response: secs(tally.average_first_response_secs()),
            handled: tally.handled,
            handling: secs(tally.average_handling_secs()),
        }
    }
}

/// A risk alert as the supervisor's view shows it.
struct RiskRow {
    /// `complaint-threat` or `sustained-anger`.
    kind: &'static str,
    kind_label: &'static str,
    shop: String,
    conversation: String,
    message: String,
    /// When it was raised, `MM-DD HH:MM` China time.
    at: String,
}

/// A conversation whose customer threatens a complaint.
struct Alert {
    shop: String,
    conversation: String,
    waited: String,
    agent: Option<String>,
    reason: String,
}

#[derive(Template)]
#[template(path = "console/supervisor.html")]
struct SupervisorPage<'a> {
    t: &'a Text,
    me: String,
    role: &'static str,
    alerts: Vec<Alert>,
    /// Threats beyond the ones listed.
    more_alerts: usize,
    /// The latest risk alerts in the supervisor's shops.
    risk_alerts: Vec<RiskRow>,
    shops: Vec<ShopBoard>,
    agents: Vec<AgentBoard>,
    today: Vec<TodayBoard>,
}

/// A list row as the template shows it.
struct RowView {
    key: String,
    shop: String,
    platform: String,
    conversation: String,
    position: Option<usize>,
    waited: String,
    priority: &'static str,
    priority_label: &'static str,
    reason: String,
    agent: Option<String>,
    /// When the customer's unanswered message came (the timer runs from it).
    unanswered_since_ms: Option<i64>,
    /// The platform's thresholds.
    timer: crate::config::ReplyTimer,
    /// `ok`, `warn`, `alert` or `none`.
    timer_level: &'static str,
}

#[derive(Template)]
#[template(path = "console/workbench.html")]
struct Workbench<'a> {
    t: &'a Text,
    me: String,
    role: &'static str,
    /// Whether the signed-in principal is an agent (who has a status).
    is_agent: bool,
    /// Whether they may see the supervisor's view.
    is_supervisor: bool,
    /// Their status: `online`, `break` or `offline`.
    status: &'static str,
    csrf: String,
    tab: &'static str,
    /// This page's address, which live updates fetch again.
    here: String,
    rows: Vec<RowView>,
    /// Rows beyond the ones shown.
    more: usize,
    /// Now, Unix milliseconds (timers count from it).
    now_ms: i64,
    /// The shops the viewer serves (filters, links).
    shops: Vec<String>,
    /// Their platforms.
    platforms: Vec<String>,
    /// The list's filters.
    shop_filter: Option<String>,
    platform_filter: Option<String>,
    selected: Option<String>,
    thread: Option<view::Thread>,
    /// Colleagues viewing the same conversation.
    viewers: Vec<String>,
    can_take: bool,
    holding: bool,
    colleagues: Vec<String>,
    problem: Option<String>,
}

/// Handles a request under `/console`; `segments` follow it.
pub async fn handle(
    host: &Admin,
    segments: &[String],
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let segments: Vec<&str> = segments
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    let query = request.uri().query().unwrap_or("").to_owned();
    let t = text::for_request(&query, request.headers());
    let secure = request
        .headers()
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes() == b"https");
    let now_ms = crate::clock::now_ms();
    let signed_in = session::signed_in(&host.sessions, request.headers(), now_ms);
    let (session_id, session) = match signed_in {
        Some((id, session)) => (Some(id), Some(session)),
        None => (None, None),
    };
    let mut response = route(
        host, t, &segments, &query, session_id, session, secure, now_ms, request,
    )
    .await;
    if let Some(cookie) = text::remember(&query)
        && let Ok(value) = cookie.parse()
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[allow(clippy::too_many_arguments)]
async fn route(
    host: &Admin,
    t: &'static Text,
    segments: &[&str],
    query: &str,
    session_id: Option<String>,
    session: Option<Session>,
    secure: bool,
    now_ms: i64,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let method = request.method().clone();
    match (&method, segments) {
        (&Method::GET, ["assets", name]) => asset(name),
        (&Method::GET, ["sign-in"]) => page(&SignInPage { t, problem: None }),
        (&Method::POST, ["sign-in"]) => {
            let form = match read_form(host, request).await {
                Ok(form) => form,
                Err(response) => return response,
            };
            sign_in(host, t, &form, secure, now_ms).await
        }
        _ => {
            let Some(session) = session else {
                return redirect("/console/sign-in");
            };
            match (&method, segments) {
                (&Method::GET, []) => workbench(host, t, &session, query, None),
                (&Method::POST, ["sign-out"]) => {
                    if let Err(response) = checked_form(host, t, &session, request).await {
                        return response;
                    }
                    if let Some(id) = &session_id {
                        host.sessions.end(id);
                    }
                    let mut response = redirect("/console/sign-in");
                    response.headers_mut().insert(
                        header::SET_COOKIE,
                        session::clear_cookie().parse().expect("a valid cookie"),
                    );
                    response
                }
                (&Method::GET, ["supervisor"]) => supervisor(host, t, &session),
                (&Method::GET, ["report"]) => report_page::page(host, t, &session, query),
                (&Method::GET, ["report.csv"]) => report_page::csv(host, &session, query),
                (&Method::GET, ["canned"]) => {
                    let params: Vec<(String, String)> =
                        url::form_urlencoded::parse(query.as_bytes())
                            .into_owned()
                            .collect();
                    let shop = field(&params, "shop").unwrap_or_default().to_owned();
                    canned_page(host, t, &session, &shop, None)
                }
                (&Method::POST, ["canned", shop, rest @ ..]) => {
                    let form = match checked_form(host, t, &session, request).await {
                        Ok(form) => form,
                        Err(response) => return response,
                    };
                    edit_canned(host, t, &session, shop, rest == ["delete"], &form)
                }
                (&Method::POST, ["status"]) => {
                    let form = match checked_form(host, t, &session, request).await {
                        Ok(form) => form,
                        Err(response) => return response,
                    };
                    set_status(host, t, &session, field(&form, "status"))
                }
                (&Method::POST, ["customers", verb @ ("link" | "unlink")]) => {
                    let form = match checked_form(host, t, &session, request).await {
                        Ok(form) => form,
                        Err(response) => return response,
                    };
                    link(host, &session, *verb == "link", &form)
                }
                (&Method::POST, ["conversations", shop, conversation, verb]) => {
                    let form = match checked_form(host, t, &session, request).await {
                        Ok(form) => form,
                        Err(response) => return response,
                    };
                    act(host, t, &session, shop, conversation, verb, &form)
                }
                _ => html(StatusCode::NOT_FOUND, t.not_found.to_owned()),
            }
        }
    }
}

/// Signs an agent in with their own credential.
async fn sign_in(
    host: &Admin,
    t: &Text,
    form: &[(String, String)],
    secure: bool,
    now_ms: i64,
) -> Response<Full<Bytes>> {
    let Some(auth) = &host.auth else {
        return html(StatusCode::NOT_FOUND, t.off.to_owned());
    };
    let (Some(agent), Some(password)) = (field(form, "agent"), field(form, "password")) else {
        return page_with(
            StatusCode::BAD_REQUEST,
            &SignInPage {
                t,
                problem: Some(t.wrong_credentials.to_owned()),
            },
        );
    };
    match auth.verify_agent(agent.trim(), password).await {
        Ok(principal) => {
            let id = host.sessions.start(principal, now_ms);
            let mut response = redirect("/console");
            response.headers_mut().insert(
                header::SET_COOKIE,
                session::set_cookie(&id, secure)
                    .parse()
                    .expect("a valid cookie"),
            );
            response
        }
        Err(_) => page_with(
            StatusCode::UNAUTHORIZED,
            &SignInPage {
                t,
                problem: Some(t.wrong_credentials.to_owned()),
            },
        ),
    }
}

fn workbench(
    host: &Admin,
    t: &Text,
    session: &Session,
    query: &str,
    problem: Option<String>,
) -> Response<Full<Bytes>> {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let tab = view::Tab::parse(field(&params, "tab"));
    let who = &session.principal;
    let now_ms = crate::clock::now_ms();
    let nonempty = |name: &str| {
        field(&params, name)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let filter = view::Filter {
        shop: nonempty("shop_filter"),
        platform: nonempty("platform_filter"),
    };
    let list = match view::list(host, who, tab, &filter, now_ms, view::MAX_ROWS) {
        Ok(list) => list,
        Err(err) => return desk_error(t, &err),
    };
    let selected = match (field(&params, "shop"), field(&params, "conversation")) {
        (Some(shop), Some(conversation)) => Some((shop.to_owned(), conversation.to_owned())),
        _ => None,
    };
    let thread = match &selected {
        Some((shop, conversation)) => match view::thread(host, who, shop, conversation) {
            Ok(thread) => Some(thread),
            Err(err) => return desk_error(t, &err),
        },
        None => None,
    };
    let holder = thread
        .as_ref()
        .and_then(|th| th.handoff.as_ref())
        .map(|h| h.agent().map(str::to_owned));
    let can_take = who.is_agent && matches!(holder, Some(None));
    let holding = who.is_agent && matches!(&holder, Some(Some(agent)) if *agent == who.id);
    let colleagues = thread
        .as_ref()
        .map(|th| {
            host.people
                .desk
                .agents()
                .iter()
                .filter(|a| a.id != who.id && a.shops.contains(&th.shop))
                .map(|a| a.id.clone())
                .collect()
        })
        .unwrap_or_default();
    let more = list.more;
    let rows = list
        .rows
        .into_iter()
        .map(|row| RowView {
            timer_level: view::timer_level(row.unanswered_since_ms, row.timer, now_ms),
            unanswered_since_ms: row.unanswered_since_ms,
            timer: row.timer,
            key: format!("{}/{}", row.shop, row.conversation),
            waited: view::wait_text(row.waited_secs),
            priority_label: t.priority(row.priority),
            shop: row.shop,
            platform: row.platform,
            conversation: row.conversation,
            position: row.position,
            priority: row.priority,
            reason: row.reason,
            agent: row.agent,
        })
        .collect();
    let status = match host.store.agent_status(&who.id) {
        Ok(status) => status.as_str(),
        Err(err) => return desk_error(t, &DeskError::Store(format!("{err:#}"))),
    };
    page(&Workbench {
        t,
        me: who.id.clone(),
        role: who.role.as_str(),
        is_agent: who.is_agent,
        is_supervisor: who.role >= crate::config::Role::Supervisor,
        status,
        csrf: session.csrf.clone(),
        tab: tab.as_str(),
        here: format!("/console?{query}"),
        rows,
        more,
        now_ms,
        shops: host
            .shops
            .iter()
            .map(|s| s.config.id.clone())
            .filter(|id| who.serves(id))
            .collect(),
        platforms: {
            let mut platforms: Vec<String> = host
                .shops
                .iter()
                .filter(|s| who.serves(&s.config.id))
                .map(|s| s.config.plugin.clone())
                .collect();
            platforms.sort();
            platforms.dedup();
            platforms
        },
        shop_filter: filter.shop,
        platform_filter: filter.platform,
        viewers: selected
            .as_ref()
            .map(|(shop, conversation)| {
                live::others(&host.presence, shop, conversation, &who.id)
                    .into_iter()
                    .collect()
            })
            .unwrap_or_default(),
        selected: selected.map(|(shop, conversation)| format!("{shop}/{conversation}")),
        thread,
        can_take,
        holding,
        colleagues,
        problem,
    })
}

/// A conversation action from a form, as the signed-in agent; back to the
/// conversation after it (or the page with the reason when refused).
fn act(
    host: &Admin,
    t: &Text,
    session: &Session,
    shop: &str,
    conversation: &str,
    verb: &str,
    form: &[(String, String)],
) -> Response<Full<Bytes>> {
    let who = &session.principal;
    let done = (|| -> Result<(), DeskError> {
        if !who.serves(shop) {
            return Err(DeskError::Forbidden(format!(
                "`{}` does not serve shop `{shop}`",
                who.id
            )));
        }
        if !who.is_agent {
            return Err(DeskError::Forbidden(format!(
                "`{}` is not an agent and cannot hold conversations",
                who.id
            )));
        }
        let agent = who.id.as_str();
        if verb == "note" {
            // Any agent of the shop may note; the customer never sees it.
            let text = field(form, "text")
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| DeskError::Invalid("the note is empty".into()))?;
            if host.store.conversation(shop, conversation)?.is_none() {
                return Err(DeskError::NotFound(format!(
                    "no conversation `{conversation}` in shop `{shop}`"
                )));
            }
            let note = crate::model::Note {
                agent: agent.to_owned(),
                text: text.to_owned(),
                at_ms: crate::clock::now_ms(),
            };
            host.store.add_note(shop, conversation, &note)?;
            return crate::gateway::admin::record(
                host,
                who,
                "note",
                Some(shop),
                Some(conversation),
                None,
            );
        }
        let request = crate::gateway::admin::AgentRequest {
            agent: None,
            text: field(form, "text").map(str::to_owned),
            request_id: None,
            to: field(form, "to").map(str::to_owned),
        };
        crate::gateway::admin::perform(host, who, shop, conversation, verb, &request)?;
        // A transfer's note for the colleague, a close's wrap-up: kept with
        // the conversation as private notes, after the action succeeded.
        let remark = field(form, "remark")
            .map(str::trim)
            .filter(|r| !r.is_empty());
        if let (Some(remark), true) = (remark, matches!(verb, "transfer" | "close")) {
            let label = if verb == "transfer" {
                "转接说明"
            } else {
                "结束小结"
            };
            host.store.add_note(
                shop,
                conversation,
                &crate::model::Note {
                    agent: agent.to_owned(),
                    text: format!("{label}：{remark}"),
                    at_ms: crate::clock::now_ms(),
                },
            )?;
        }
        Ok(())
    })();
    match done {
        Ok(()) => {
            let back = if matches!(verb, "close" | "hand-back" | "transfer") {
                "/console?tab=mine".to_owned()
            } else {
                format!(
                    "/console?tab=mine&shop={}&conversation={}",
                    encode(shop),
                    encode(conversation)
                )
            };
            redirect(&back)
        }
        Err(DeskError::Forbidden(reason)) => html(StatusCode::FORBIDDEN, reason),
        Err(err) => {
            let query = format!(
                "shop={}&conversation={}",
                encode(shop),
                encode(conversation)
            );
            let mut response = workbench(host, t, session, &query, Some(err.to_string()));
            *response.status_mut() = StatusCode::CONFLICT;
            response
        }
    }
}

/// Links (or unlinks) two of a customer's identities by hand: supervisors
/// only; back to the page the form was on.
fn link(
    host: &Admin,
    session: &Session,
    make: bool,
    form: &[(String, String)],
) -> Response<Full<Bytes>> {
    let who = &session.principal;
    if let Err(refused) = crate::gateway::admin::require(who, crate::config::Role::Supervisor) {
        return html(StatusCode::FORBIDDEN, refused.to_string());
    }
    let side = |shop: &str, user: &str| -> Option<(String, String)> {
        let shop = field(form, shop)?.trim();
        let user = field(form, user)?.trim();
        (!shop.is_empty() && !user.is_empty()).then(|| (shop.to_owned(), user.to_owned()))
    };
    let (Some(a), Some(b)) = (side("a_shop", "a_user"), side("b_shop", "b_user")) else {
        return html(
            StatusCode::BAD_REQUEST,
            "both identities are needed: shop and platform id".to_owned(),
        );
    };
    let note = field(form, "note")
        .map(str::to_owned)
        .filter(|n| !n.is_empty());
    match crate::gateway::admin::set_link(host, who, &a, &b, note, make) {
        Ok(_) => {
            // Back to the page the form came from, and only to the console.
            let back = field(form, "back")
                .filter(|b| b.starts_with("/console") && !b.starts_with("//"))
                .unwrap_or("/console");
            redirect(back)
        }
        Err(err) => html(
            match err {
                DeskError::NotFound(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::BAD_REQUEST,
            },
            err.to_string(),
        ),
    }
}

/// `MM-DD HH:MM` in China Standard Time.
fn china_time(at_ms: i64) -> String {
    let secs = (at_ms + 8 * 3_600_000).div_euclid(1000);
    let (days, in_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (_, month, day) = crate::model::civil_from_days(days);
    format!(
        "{month:02}-{day:02} {:02}:{:02}",
        in_day / 3600,
        in_day % 3600 / 60
    )
}

/// The supervisor's view: complaint threats first, then each shop's queue
/// and each agent's status and load. It refreshes on the live stream.
fn supervisor(host: &Admin, t: &Text, session: &Session) -> Response<Full<Bytes>> {
    let who = &session.principal;
    if let Err(refused) = crate::gateway::admin::require(who, crate::config::Role::Supervisor) {
        return html(StatusCode::FORBIDDEN, refused.to_string());
    }
    let now_ms = crate::clock::now_ms();
    let board = (|| -> Result<_, DeskError> {
        let everything =
            view::every_row(host, who, view::Tab::All, &view::Filter::default(), now_ms)?;
        let threats = everything.iter().filter(|row| row.priority == "threat");
        let more_alerts = threats.clone().count().saturating_sub(MAX_ALERTS);
        let alerts = threats
            .take(MAX_ALERTS)
            .map(|row| Alert {
                shop: row.shop.clone(),
                conversation: row.conversation.clone(),
                waited: view::wait_text(row.waited_secs),
                agent: row.agent.clone(),
                reason: row.reason.clone(),
            })
            .collect();
        let mut shops = Vec::new();
        for shop in host.shops.iter() {
            let id = shop.config.id.clone();
            let rows: Vec<&view::ListRow> = everything.iter().filter(|r| r.shop == id).collect();
            let waiting: Vec<&&view::ListRow> = rows.iter().filter(|r| r.agent.is_none()).collect();
            shops.push(ShopBoard {
                platform: shop.config.plugin.clone(),
                waiting: waiting.len(),
                longest: waiting
                    .iter()
                    .map(|r| r.waited_secs)
                    .max()
                    .map(view::wait_text)
                    .unwrap_or_else(|| "—".into()),
                assigned: rows.len() - waiting.len(),
                id,
            });
        }
        let day = crate::model::day_of(now_ms);
        let mut today = Vec::new();
        let mut all = crate::model::DailyTally::default();
        for shop in host.shops.iter() {
            if !who.serves(&shop.config.id) {
                continue;
            }
            let tally = host.store.tally(day, &shop.config.id)?;
            all.add(&tally);
            today.push(TodayBoard::of(shop.config.id.clone(), &tally));
        }
        if today.len() > 1 {
            today.push(TodayBoard::of(t.all.to_owned(), &all));
        }
        let mut agents = Vec::new();
        for agent in host.people.desk.agents() {
            agents.push(AgentBoard {
                id: agent.id.clone(),
                status: t.statuses[match host.store.agent_status(&agent.id)? {
                    crate::model::AgentStatus::Online => 0,
                    crate::model::AgentStatus::Break => 1,
                    crate::model::AgentStatus::Offline => 2,
                }],
                load: desk::load(&host.people, &agent.id)?,
                cap: agent.max_concurrent,
            });
        }
        let risk_alerts = host
            .store
            .risk_alerts(MAX_ALERTS * 4)?
            .into_iter()
            .filter(|alert| who.serves(&alert.shop))
            .take(MAX_ALERTS)
            .map(|alert| RiskRow {
                kind: alert.kind.as_str(),
                kind_label: if t.lang == "zh-CN" {
                    alert.kind.zh()
                } else {
                    alert.kind.as_str()
                },
                at: china_time(alert.at_ms),
                shop: alert.shop,
                conversation: alert.conversation,
                message: alert.message,
            })
            .collect();
        Ok((alerts, more_alerts, risk_alerts, shops, agents, today))
    })();
    match board {
        Ok((alerts, more_alerts, risk_alerts, shops, agents, today)) => page(&SupervisorPage {
            t,
            me: who.id.clone(),
            role: who.role.as_str(),
            alerts,
            more_alerts,
            risk_alerts,
            shops,
            agents,
            today,
        }),
        Err(err) => desk_error(t, &err),
    }
}

/// The canned replies of a shop the agent serves.
fn canned_page(
    host: &Admin,
    t: &Text,
    session: &Session,
    shop: &str,
    problem: Option<String>,
) -> Response<Full<Bytes>> {
    let who = &session.principal;
    if host.shops.get(shop).is_none() || !who.serves(shop) {
        return html(
            StatusCode::FORBIDDEN,
            format!("`{}` does not serve shop `{shop}`", who.id),
        );
    }
    let replies = match host.store.canned_replies(shop) {
        Ok(replies) => replies,
        Err(err) => return desk_error(t, &DeskError::Store(format!("{err:#}"))),
    };
    page(&CannedPage {
        t,
        shop: shop.to_owned(),
        csrf: session.csrf.clone(),
        replies,
        problem,
    })
}

/// Adds (or replaces, by name) or deletes a shop's canned reply.
fn edit_canned(
    host: &Admin,
    t: &Text,
    session: &Session,
    shop: &str,
    delete: bool,
    form: &[(String, String)],
) -> Response<Full<Bytes>> {
    let who = &session.principal;
    if host.shops.get(shop).is_none() || !who.serves(shop) {
        return html(
            StatusCode::FORBIDDEN,
            format!("`{}` does not serve shop `{shop}`", who.id),
        );
    }
    let name = field(form, "name").map(str::trim).unwrap_or_default();
    let text = field(form, "text").map(str::trim).unwrap_or_default();
    let done = if name.is_empty() || name.chars().count() > 40 {
        Err(DeskError::Invalid(
            "a canned reply needs a name of at most 40 characters".into(),
        ))
    } else if delete {
        host.store
            .remove_canned_reply(shop, name)
            .map(|_| ())
            .map_err(|err| DeskError::Store(format!("{err:#}")))
    } else if text.is_empty() || text.chars().count() > 1000 {
        Err(DeskError::Invalid(
            "a canned reply needs a text of at most 1,000 characters".into(),
        ))
    } else {
        host.store
            .put_canned_reply(
                shop,
                &crate::model::CannedReply {
                    name: name.to_owned(),
                    text: text.to_owned(),
                },
            )
            .map_err(|err| DeskError::Store(format!("{err:#}")))
    };
    let done = done.and_then(|()| {
        crate::gateway::admin::record(
            host,
            who,
            if delete {
                "canned-delete"
            } else {
                "canned-save"
            },
            Some(shop),
            None,
            Some(name.to_owned()),
        )
    });
    match done {
        Ok(()) => redirect(&format!("/console/canned?shop={}", encode(shop))),
        Err(err) => {
            let mut response = canned_page(host, t, session, shop, Some(err.to_string()));
            *response.status_mut() = StatusCode::BAD_REQUEST;
            response
        }
    }
}

/// 在线 / 小休 / 离线 for the signed-in agent.
fn set_status(
    host: &Admin,
    t: &Text,
    session: &Session,
    value: Option<&str>,
) -> Response<Full<Bytes>> {
    let who = &session.principal;
    let Some(status) = value.and_then(crate::model::AgentStatus::parse) else {
        return html(StatusCode::BAD_REQUEST, "no such status".to_owned());
    };
    if !who.is_agent {
        return html(
            StatusCode::FORBIDDEN,
            format!("`{}` is not an agent", who.id),
        );
    }
    let done = desk::set_status(&host.people, &who.id, status).and_then(|()| {
        crate::gateway::admin::record(
            host,
            who,
            "status",
            None,
            None,
            Some(status.as_str().to_owned()),
        )
    });
    match done {
        Ok(()) => redirect("/console"),
        Err(err) => {
            let mut response = workbench(host, t, session, "", Some(err.to_string()));
            *response.status_mut() = StatusCode::CONFLICT;
            response
        }
    }
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A form posted by the signed-in agent, with the session's CSRF token;
/// refused (403) without it.
async fn checked_form(
    host: &Admin,
    t: &Text,
    session: &Session,
    request: Request<Incoming>,
) -> Result<Vec<(String, String)>, Response<Full<Bytes>>> {
    let form = read_form(host, request).await?;
    if session::csrf_matches(session, field(&form, "csrf")) {
        Ok(form)
    } else {
        Err(forbidden(t))
    }
}

async fn read_form(
    host: &Admin,
    request: Request<Incoming>,
) -> Result<Vec<(String, String)>, Response<Full<Bytes>>> {
    let read = tokio::time::timeout(
        host.limits.body_read_timeout,
        Limited::new(request.into_body(), MAX_FORM).collect(),
    )
    .await;
    match read {
        Ok(Ok(collected)) => Ok(url::form_urlencoded::parse(&collected.to_bytes())
            .into_owned()
            .collect()),
        _ => Err(html(
            StatusCode::BAD_REQUEST,
            "unreadable or too large form".to_owned(),
        )),
    }
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn asset(name: &str) -> Response<Full<Bytes>> {
    let (body, kind): (&'static [u8], &str) = match name {
        "htmx-2.0.8.min.js" => (
            include_bytes!("../../console/assets/htmx-2.0.8.min.js"),
            "text/javascript",
        ),
        "htmx-ext-sse-2.2.4.js" => (
            include_bytes!("../../console/assets/htmx-ext-sse-2.2.4.js"),
            "text/javascript",
        ),
        "console.js" => (
            include_bytes!("../../console/assets/console.js"),
            "text/javascript",
        ),
        _ => return html(StatusCode::NOT_FOUND, "no such asset".to_owned()),
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, kind)
        .header(header::CACHE_CONTROL, "public, max-age=86400")
        .body(Full::new(Bytes::from_static(body)))
        .expect("a valid response")
}

fn page(template: &impl Template) -> Response<Full<Bytes>> {
    page_with(StatusCode::OK, template)
}

fn page_with(status: StatusCode, template: &impl Template) -> Response<Full<Bytes>> {
    match template.render() {
        Ok(body) => html(status, body),
        Err(err) => {
            tracing::error!(error = %err, "a console page could not be rendered");
            html(
                StatusCode::INTERNAL_SERVER_ERROR,
                "rendering failed".to_owned(),
            )
        }
    }
}

fn html(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .header("x-frame-options", "DENY")
        .header(
            "content-security-policy",
            "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
        )
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

fn redirect(to: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, to)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Full::new(Bytes::new()))
        .expect("a valid response")
}

fn forbidden(t: &Text) -> Response<Full<Bytes>> {
    html(StatusCode::FORBIDDEN, t.csrf_refused.to_owned())
}

fn desk_error(t: &Text, err: &DeskError) -> Response<Full<Bytes>> {
    let status = match err {
        DeskError::NotFound(_) => StatusCode::NOT_FOUND,
        DeskError::Forbidden(_) => StatusCode::FORBIDDEN,
        DeskError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::CONFLICT,
    };
    html(status, format!("{}: {err}", t.refused))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(reason: &str) -> RowView {
        RowView {
            key: "demo-oa/o1".into(),
            shop: "demo-oa".into(),
            platform: "wechat".into(),
            conversation: "o1".into(),
            position: Some(1),
            waited: view::wait_text(75),
            priority: "threat",
            priority_label: text::ZH.priority("threat"),
            reason: reason.into(),
            agent: None,
            unanswered_since_ms: Some(1_000),
            timer: crate::config::ReplyTimer {
                warn_secs: 60,
                alert_secs: 100,
            },
            timer_level: "alert",
        }
    }

    fn workbench_html(t: &Text, rows: Vec<RowView>) -> String {
        Workbench {
            t,
            me: "mei".into(),
            role: "agent",
            is_agent: true,
            is_supervisor: false,
            status: "online",
            csrf: "c".repeat(64),
            tab: "queue",
            here: "/console?tab=queue".into(),
            rows,
            more: 0,
            now_ms: 200_000,
            shops: vec!["demo-oa".into()],
            platforms: vec!["wechat".into()],
            shop_filter: None,
            platform_filter: None,
            selected: None,
            thread: None,
            viewers: Vec::new(),
            can_take: false,
            holding: false,
            colleagues: Vec::new(),
            problem: None,
        }
        .render()
        .unwrap()
    }

    #[test]
    fn the_list_shows_urgency_position_wait_and_reason_escaped() {
        let html = workbench_html(&text::ZH, vec![row("<script>alert(1)</script> 投诉")]);
        assert!(html.contains("投诉风险"), "{html}");
        assert!(html.contains("排队第 1"), "{html}");
        assert!(html.contains("已等待 1分15秒"), "{html}");
        assert!(
            html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(
            html.contains(&"c".repeat(64)),
            "the sign-out form carries the token"
        );
    }

    #[test]
    fn english_is_an_option_and_an_empty_list_says_so() {
        let html = workbench_html(&text::EN, Vec::new());
        assert!(html.contains("Waiting"), "{html}");
        assert!(html.contains("No conversations"), "{html}");
        let page = SignInPage {
            t: &text::EN,
            problem: None,
        }
        .render()
        .unwrap();
        assert!(
            page.contains("Sign in") && page.contains("lang=\"en\""),
            "{page}"
        );
        let headers = hyper::HeaderMap::new();
        assert_eq!(text::for_request("lang=en", &headers).lang, "en");
        assert_eq!(text::for_request("", &headers).lang, "zh-CN");
        let mut chosen = hyper::HeaderMap::new();
        chosen.insert(hyper::header::COOKIE, "tongdao_lang=en".parse().unwrap());
        assert_eq!(text::for_request("", &chosen).lang, "en");
        assert!(
            text::remember("lang=en")
                .unwrap()
                .starts_with("tongdao_lang=en;")
        );
        assert_eq!(text::remember("tab=mine"), None);
    }
}
