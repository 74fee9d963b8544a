//! The report page (supervisors): the voice-of-the-customer report over a
//! range of days as server-drawn charts — messages, the automation rate and
//! the negative share per day; the top intents and scenarios; complaints by
//! order state and by product — with the unknown questions grouped and each
//! agent's figures, and the same report as CSV.

use super::charts::{Unit, bars, line};
use super::session::Session;
use super::text::Text;
use crate::config::Role;
use crate::gateway::admin::Admin;
use crate::report::Report;
use askama::Template;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

/// The report page's words.
pub struct ReportText {
    title: &'static str,
    from: &'static str,
    to: &'static str,
    show: &'static str,
    csv: &'static str,
    messages: &'static str,
    automation: &'static str,
    negative: &'static str,
    intents: &'static str,
    scenarios: &'static str,
    by_state: &'static str,
    by_product: &'static str,
    unknown: &'static str,
    agents: &'static str,
    agent: &'static str,
    first_response: &'static str,
    handling: &'static str,
    transfers: &'static str,
    csat: &'static str,
    totals: &'static str,
}

static ZH: ReportText = ReportText {
    title: "客户之声报表",
    from: "从",
    to: "到",
    show: "查看",
    csv: "下载 CSV",
    messages: "每日咨询量",
    automation: "机器人自动化率（按日）",
    negative: "负面情绪占比（按日）",
    intents: "咨询意图 TOP 10",
    scenarios: "咨询场景",
    by_state: "投诉 · 按订单状态",
    by_product: "投诉 · 按商品 TOP 10",
    unknown: "未知问题聚类",
    agents: "客服表现",
    agent: "客服",
    first_response: "平均首响",
    handling: "平均处理时长",
    transfers: "转接",
    csat: "满意度（评价数）",
    totals: "合计",
};

static EN: ReportText = ReportText {
    title: "Voice of the customer",
    from: "From",
    to: "to",
    show: "Show",
    csv: "Download CSV",
    messages: "Messages per day",
    automation: "Bot automation rate by day",
    negative: "Negative share by day",
    intents: "Top 10 intents",
    scenarios: "Scenarios",
    by_state: "Complaints by order state",
    by_product: "Top 10 products complained about",
    unknown: "Unknown questions, grouped",
    agents: "Agents",
    agent: "Agent",
    first_response: "Avg. first response",
    handling: "Avg. handling",
    transfers: "Transfers",
    csat: "CSAT (ratings)",
    totals: "Totals",
};

/// An agent's row.
struct AgentView {
    agent: String,
    first_response: String,
    handling: String,
    transfers: u64,
    csat: String,
}

/// A group of unknown questions.
struct UnknownView {
    count: usize,
    closest: String,
    questions: String,
}

#[derive(Template)]
#[template(path = "console/report.html")]
struct ReportPage<'a> {
    t: &'a Text,
    r: &'static ReportText,
    me: String,
    from: String,
    to: String,
    totals: String,
    /// (title, SVG) of each chart.
    charts: Vec<(&'static str, String)>,
    unknown: Vec<UnknownView>,
    agents: Vec<AgentView>,
}

/// The range the query asks for (default: the last seven days).
fn range(query: &str) -> Result<(i64, i64), String> {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let date = |name: &str| {
        params
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    };
    crate::report::range(date("from"), date("to"))
}

fn build(host: &Admin, session: &Session, query: &str) -> Result<Report, (StatusCode, String)> {
    let who = &session.principal;
    crate::gateway::admin::require(who, Role::Supervisor)
        .map_err(|refused| (StatusCode::FORBIDDEN, refused.to_string()))?;
    let (from, to) = range(query).map_err(|reason| (StatusCode::BAD_REQUEST, reason))?;
    tokio::task::block_in_place(|| {
        crate::report::build(&*host.store, &host.bot, from, to, |shop| who.serves(shop))
    })
    .map_err(|err| (StatusCode::INTERNAL_SERVER_ERROR, format!("{err:#}")))
}

fn seconds(value: Option<f64>) -> String {
    match value {
        Some(secs) if secs >= 60.0 => format!("{:.1} min", secs / 60.0),
        Some(secs) => format!("{secs:.0} s"),
        None => "—".into(),
    }
}

/// The ten largest of `counts`, largest first.
fn top(counts: &std::collections::BTreeMap<String, u64>, n: usize) -> Vec<(String, f64)> {
    let mut items: Vec<(String, f64)> =
        counts.iter().map(|(k, v)| (k.clone(), *v as f64)).collect();
    items.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    items.truncate(n);
    items
}

/// `GET /console/report`.
pub fn page(host: &Admin, t: &Text, session: &Session, query: &str) -> Response<Full<Bytes>> {
    let report = match build(host, session, query) {
        Ok(report) => report,
        Err((status, reason)) => return super::html(status, reason),
    };
    let r = if t.lang == "zh-CN" { &ZH } else { &EN };
    let per_day =
        |value: &dyn Fn(&crate::report::DayRow) -> Option<f64>| -> Vec<(String, Option<f64>)> {
            report
                .days
                .iter()
                .map(|d| (d.date.clone(), value(d)))
                .collect()
        };
    // Intents by their names in the knowledge base, where it has them.
    let named = |items: Vec<(String, f64)>| -> Vec<(String, f64)> {
        let Some(matcher) = host.bot.matcher() else {
            return items;
        };
        let knowledge_base = matcher.knowledge_base();
        items
            .into_iter()
            .map(|(id, count)| match knowledge_base.intent(&id) {
                Some(intent) if !intent.name.is_empty() => (intent.name.clone(), count),
                _ => (id, count),
            })
            .collect()
    };
    let charts = vec![
        (
            r.messages,
            line(
                "chart-messages",
                r.messages,
                &per_day(&|d| Some(d.messages as f64)),
                Unit::Count,
            ),
        ),
        (
            r.automation,
            line(
                "chart-automation",
                r.automation,
                &per_day(&|d| d.automation_rate),
                Unit::Share,
            ),
        ),
        (
            r.negative,
            line(
                "chart-negative",
                r.negative,
                &per_day(&|d| d.negative_share),
                Unit::Share,
            ),
        ),
        (
            r.intents,
            bars(
                "chart-intents",
                r.intents,
                &named(top(&report.total.intents, 10)),
                Unit::Count,
            ),
        ),
        (
            r.scenarios,
            bars(
                "chart-scenarios",
                r.scenarios,
                &top(&report.total.scenarios, 10),
                Unit::Count,
            ),
        ),
        (
            r.by_state,
            bars(
                "chart-states",
                r.by_state,
                &top(&report.complaints_by_order_state, 10),
                Unit::Count,
            ),
        ),
        (
            r.by_product,
            bars(
                "chart-products",
                r.by_product,
                &top(&report.complaints_by_product, 10),
                Unit::Count,
            ),
        ),
    ];
    let total = &report.total;
    let totals = format!(
        "{} {} · {} {} · {} {}",
        r.messages,
        total.messages,
        r.automation,
        total
            .automation_rate
            .map(|a| format!("{:.1}%", a * 100.0))
            .unwrap_or_else(|| "—".into()),
        r.negative,
        total
            .negative_share
            .map(|a| format!("{:.1}%", a * 100.0))
            .unwrap_or_else(|| "—".into()),
    );
    super::page(&ReportPage {
        t,
        r,
        me: session.principal.id.clone(),
        from: report.from.clone(),
        to: report.to.clone(),
        totals,
        charts,
        unknown: report
            .unknown_clusters
            .iter()
            .map(|c| UnknownView {
                count: c.count,
                closest: c.closest_intent.clone().unwrap_or_else(|| "—".into()),
                questions: c.questions.join(" / "),
            })
            .collect(),
        agents: report
            .agents
            .iter()
            .map(|a| AgentView {
                agent: a.agent.clone(),
                first_response: seconds(a.average_first_response_secs),
                handling: seconds(a.average_handling_secs),
                transfers: a.transfers,
                csat: a
                    .csat
                    .map(|c| format!("{c:.2}（{}）", a.ratings))
                    .unwrap_or_else(|| "—".into()),
            })
            .collect(),
    })
}

/// `GET /console/report.csv`.
pub fn csv(host: &Admin, session: &Session, query: &str) -> Response<Full<Bytes>> {
    let report = match build(host, session, query) {
        Ok(report) => report,
        Err((status, reason)) => return super::html(status, reason),
    };
    match report.to_csv() {
        Ok(csv) => Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "text/csv; charset=utf-8")
            .header(
                "content-disposition",
                format!(
                    "attachment; filename=\"tongdao-report-{}-{}.csv\"",
                    report.from, report.to
                ),
            )
            .body(Full::new(Bytes::from(csv)))
            .expect("a valid response"),
        Err(err) => super::html(StatusCode::INTERNAL_SERVER_ERROR, format!("{err:#}")),
    }
}
