//! The voice-of-the-customer report over a range of days: what customers
//! asked (by intent and scenario, per day), how they felt (negative share
//! and threats per day), what they complained about (by product and by
//! order state), what the bot could not answer (its unknown questions
//! grouped), how much the bot settled (the automation rate), and how each
//! agent served (first response, handling time, transfers, CSAT). It sums
//! the figures kept per day as things happened ([`crate::model::DailyTally`],
//! [`VocTally`], [`AgentTally`]): one read per day whatever the traffic,
//! plus the unknown questions of the range. As JSON, or as CSV in long
//! form (`section,date,subject,key,value`).

use crate::kb::Bot;
use crate::model::{AgentTally, DailyTally, UNKNOWN_INTENT, VocTally, date_of_day, day_of};
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tongdao_bot::suggest::{Suggestion, Unanswered, suggest};

/// The most unknown questions one report groups.
const MOST_UNKNOWN: usize = 5_000;
/// The smallest group of unknown questions a report lists.
const MIN_CLUSTER: usize = 2;
/// The most days one report covers.
pub const MOST_DAYS: i64 = 366;

/// One day, over the shops the report covers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DayRow {
    /// `YYYY-MM-DD`, China Standard Time.
    pub date: String,
    /// Customer messages with text.
    pub messages: u64,
    /// Messages the bot decided about.
    pub bot_questions: u64,
    /// Of those, answered outright.
    pub bot_settled: u64,
    /// `bot_settled / bot_questions`.
    pub automation_rate: Option<f64>,
    /// Negative messages.
    pub negative: u64,
    /// `negative / messages`.
    pub negative_share: Option<f64>,
    /// Complaint threats.
    pub threats: u64,
    /// Risk alerts raised.
    pub alerts: u64,
    /// Questions by intent.
    pub intents: BTreeMap<String, u64>,
    /// Questions by scenario.
    pub scenarios: BTreeMap<String, u64>,
}

/// One agent over the range.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgentRow {
    /// The agent.
    pub agent: String,
    /// Conversations answered first after a hand-over.
    pub first_responses: u64,
    /// Their average wait, seconds.
    pub average_first_response_secs: Option<f64>,
    /// Conversations closed or handed back.
    pub handled: u64,
    /// Average handling time, seconds.
    pub average_handling_secs: Option<f64>,
    /// Conversations passed to a colleague.
    pub transfers: u64,
    /// Satisfaction ratings received.
    pub ratings: u64,
    /// Their average (1–5).
    pub csat: Option<f64>,
}

/// A group of questions the bot could not answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UnknownCluster {
    /// Questions in the group.
    pub count: usize,
    /// The intent they lean towards, if the knowledge base has one.
    pub closest_intent: Option<String>,
    /// Some of them.
    pub questions: Vec<String>,
}

/// The report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// First day, `YYYY-MM-DD`.
    pub from: String,
    /// Last day, `YYYY-MM-DD` (inclusive).
    pub to: String,
    /// The shops covered.
    pub shops: Vec<String>,
    /// Totals over the range.
    pub total: DayRow,
    /// Each day.
    pub days: Vec<DayRow>,
    /// Negative messages by the product the conversation was about.
    pub complaints_by_product: BTreeMap<String, u64>,
    /// Negative messages by the state of the conversation's latest order.
    pub complaints_by_order_state: BTreeMap<String, u64>,
    /// Unknown questions, grouped (most frequent first).
    pub unknown_clusters: Vec<UnknownCluster>,
    /// Unknown questions read for the groups (at most 5,000).
    pub unknown_questions_grouped: usize,
    /// Each agent.
    pub agents: Vec<AgentRow>,
}

/// A day as a number, from `YYYY-MM-DD`.
pub fn parse_day(date: &str) -> Result<i64, String> {
    let parts: Vec<&str> = date.split('-').collect();
    let bad = || format!("`{date}` is not a date (YYYY-MM-DD)");
    let [year, month, day] = parts.as_slice() else {
        return Err(bad());
    };
    let (year, month, day): (i64, u32, u32) = (
        year.parse().map_err(|_| bad())?,
        month.parse().map_err(|_| bad())?,
        day.parse().map_err(|_| bad())?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    // Days from civil (Howard Hinnant), the inverse of `civil_from_days`.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    if date_of_day(days) != format!("{year:04}-{month:02}-{day:02}") {
        return Err(bad());
    }
    Ok(days)
}

/// The days a report asks for: `to` (default today) back to `from`
/// (default six days before `to`), both `YYYY-MM-DD`, forwards and at most
/// [`MOST_DAYS`] long.
pub fn range(from: Option<&str>, to: Option<&str>) -> Result<(i64, i64), String> {
    let to = to.map_or(Ok(today()), parse_day)?;
    let from = from.map_or(Ok(to - 6), parse_day)?;
    if from > to || to - from >= MOST_DAYS {
        return Err(format!(
            "`from` must not be after `to`, and a report covers at most {MOST_DAYS} days"
        ));
    }
    Ok((from, to))
}

/// Builds the report for days `from..=to` over the shops `visible` lets
/// through.
pub fn build(
    store: &dyn Store,
    bot: &Bot,
    from: i64,
    to: i64,
    visible: impl Fn(&str) -> bool,
) -> anyhow::Result<Report> {
    anyhow::ensure!(from <= to, "the range ends before it begins");
    anyhow::ensure!(
        to - from < MOST_DAYS,
        "a report covers at most {MOST_DAYS} days"
    );
    let mut shops = std::collections::BTreeSet::new();
    let mut days = Vec::new();
    let mut total = DayRow::empty("total".into());
    let mut products = BTreeMap::new();
    let mut states = BTreeMap::new();
    let mut agents: BTreeMap<String, AgentTally> = BTreeMap::new();
    for day in from..=to {
        let figures = store.day_figures(day)?;
        let mut bot_day = DailyTally::default();
        for (shop, tally) in figures.shops.iter().filter(|(s, _)| visible(s)) {
            shops.insert(shop.clone());
            bot_day.add(tally);
        }
        let mut voc_day = VocTally::default();
        for (shop, voc) in figures.voc.iter().filter(|(s, _)| visible(s)) {
            shops.insert(shop.clone());
            voc_day.add(voc);
        }
        for (agent, tally) in &figures.agents {
            agents.entry(agent.clone()).or_default().add(tally);
        }
        add_counts(&mut products, &voc_day.complaints_by_product);
        add_counts(&mut states, &voc_day.complaints_by_order_state);
        let row = DayRow::of(date_of_day(day), &bot_day, &voc_day);
        total.add(&row);
        days.push(row);
    }
    total.finish();
    let (unknown_clusters, unknown_questions_grouped) = unknown(store, bot, from, to, &visible)?;
    Ok(Report {
        from: date_of_day(from),
        to: date_of_day(to),
        shops: shops.into_iter().collect(),
        total,
        days,
        complaints_by_product: products,
        complaints_by_order_state: states,
        unknown_clusters,
        unknown_questions_grouped,
        agents: agents
            .into_iter()
            .map(|(agent, t)| AgentRow {
                agent,
                first_responses: t.first_responses,
                average_first_response_secs: t.average_first_response_secs(),
                handled: t.handled,
                average_handling_secs: t.average_handling_secs(),
                transfers: t.transfers,
                ratings: t.ratings,
                csat: t.average_rating(),
            })
            .collect(),
    })
}

fn add_counts(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (key, count) in from {
        *into.entry(key.clone()).or_default() += count;
    }
}

impl DayRow {
    fn empty(date: String) -> DayRow {
        DayRow {
            date,
            messages: 0,
            bot_questions: 0,
            bot_settled: 0,
            automation_rate: None,
            negative: 0,
            negative_share: None,
            threats: 0,
            alerts: 0,
            intents: BTreeMap::new(),
            scenarios: BTreeMap::new(),
        }
    }

    fn of(date: String, bot: &DailyTally, voc: &VocTally) -> DayRow {
        let mut row = DayRow {
            messages: voc.messages,
            bot_questions: bot.questions,
            bot_settled: bot.settled,
            negative: voc.negative,
            threats: voc.threats,
            alerts: voc.alerts.values().sum(),
            intents: voc.intents.clone(),
            scenarios: voc.scenarios.clone(),
            ..DayRow::empty(date)
        };
        row.finish();
        row
    }

    fn add(&mut self, other: &DayRow) {
        self.messages += other.messages;
        self.bot_questions += other.bot_questions;
        self.bot_settled += other.bot_settled;
        self.negative += other.negative;
        self.threats += other.threats;
        self.alerts += other.alerts;
        add_counts(&mut self.intents, &other.intents);
        add_counts(&mut self.scenarios, &other.scenarios);
    }

    fn finish(&mut self) {
        self.automation_rate =
            (self.bot_questions > 0).then(|| self.bot_settled as f64 / self.bot_questions as f64);
        self.negative_share =
            (self.messages > 0).then(|| self.negative as f64 / self.messages as f64);
    }
}

/// The range's unknown questions, grouped by the bot's matcher.
fn unknown(
    store: &dyn Store,
    bot: &Bot,
    from: i64,
    to: i64,
    visible: &impl Fn(&str) -> bool,
) -> anyhow::Result<(Vec<UnknownCluster>, usize)> {
    let Some(matcher) = bot.matcher() else {
        return Ok((Vec::new(), 0));
    };
    // The same share of every day, so a busy range's last days are not
    // left out.
    let per_day = (MOST_UNKNOWN / (to - from + 1) as usize).max(1);
    let mut items: Vec<Unanswered> = Vec::new();
    for day in from..=to {
        let end_ms = day_start_ms(day + 1);
        items.extend(
            store
                .unanswered(day_start_ms(day), per_day)?
                .into_iter()
                .filter(|q| q.received_ms < end_ms && visible(&q.shop))
                .map(|q| Unanswered {
                    question: q.question,
                    agent_reply: None,
                }),
        );
    }
    let clusters = suggest(&matcher, &items, MIN_CLUSTER)
        .into_iter()
        .map(|suggestion| match suggestion {
            Suggestion::NewExamples {
                intent,
                count,
                questions,
            } => UnknownCluster {
                count,
                closest_intent: Some(intent),
                questions,
            },
            Suggestion::NewIntent {
                count, questions, ..
            } => UnknownCluster {
                count,
                closest_intent: None,
                questions,
            },
        })
        .collect();
    Ok((clusters, items.len()))
}

/// When a day (China Standard Time) begins, Unix milliseconds.
pub fn day_start_ms(day: i64) -> i64 {
    day * 86_400_000 - 8 * 3_600_000
}

/// A cell a spreadsheet will not take for a formula: text beginning with
/// `=`, `+`, `-` or `@` (customers' words can) gets a leading `'`.
fn cell(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@']) && text.parse::<f64>().is_err() {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

impl Report {
    /// The report as CSV in long form: `section,date,subject,key,value`.
    pub fn to_csv(&self) -> anyhow::Result<String> {
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(["section", "date", "subject", "key", "value"])?;
        let day = |row: &DayRow, out: &mut csv::Writer<Vec<u8>>| -> anyhow::Result<()> {
            let figures = [
                ("messages", Some(row.messages as f64)),
                ("bot_questions", Some(row.bot_questions as f64)),
                ("bot_settled", Some(row.bot_settled as f64)),
                ("automation_rate", row.automation_rate),
                ("negative", Some(row.negative as f64)),
                ("negative_share", row.negative_share),
                ("threats", Some(row.threats as f64)),
                ("alerts", Some(row.alerts as f64)),
            ];
            for (key, value) in figures {
                out.write_record([
                    "day",
                    &row.date,
                    "",
                    key,
                    &value.map(|v| format!("{v}")).unwrap_or_default(),
                ])?;
            }
            for (intent, count) in &row.intents {
                out.write_record(["intent", &row.date, "", &cell(intent), &count.to_string()])?;
            }
            for (scenario, count) in &row.scenarios {
                out.write_record([
                    "scenario",
                    &row.date,
                    "",
                    &cell(scenario),
                    &count.to_string(),
                ])?;
            }
            Ok(())
        };
        for row in &self.days {
            day(row, &mut out)?;
        }
        day(&self.total, &mut out)?;
        for (product, count) in &self.complaints_by_product {
            out.write_record([
                "complaint_product",
                "",
                "",
                &cell(product),
                &count.to_string(),
            ])?;
        }
        for (state, count) in &self.complaints_by_order_state {
            out.write_record([
                "complaint_order_state",
                "",
                "",
                &cell(state),
                &count.to_string(),
            ])?;
        }
        for (rank, cluster) in self.unknown_clusters.iter().enumerate() {
            let subject = format!("cluster-{}", rank + 1);
            out.write_record([
                "unknown_cluster",
                "",
                &subject,
                cluster.closest_intent.as_deref().unwrap_or(UNKNOWN_INTENT),
                &cluster.count.to_string(),
            ])?;
            for question in &cluster.questions {
                out.write_record(["unknown_question", "", &subject, &cell(question), ""])?;
            }
        }
        for agent in &self.agents {
            let figures = [
                ("first_responses", Some(agent.first_responses as f64)),
                (
                    "average_first_response_secs",
                    agent.average_first_response_secs,
                ),
                ("handled", Some(agent.handled as f64)),
                ("average_handling_secs", agent.average_handling_secs),
                ("transfers", Some(agent.transfers as f64)),
                ("ratings", Some(agent.ratings as f64)),
                ("csat", agent.csat),
            ];
            for (key, value) in figures {
                out.write_record([
                    "agent",
                    "",
                    &cell(&agent.agent),
                    key,
                    &value.map(|v| format!("{v}")).unwrap_or_default(),
                ])?;
            }
        }
        Ok(String::from_utf8(out.into_inner()?)?)
    }
}

/// Today, as a day number.
pub fn today() -> i64 {
    day_of(crate::clock::now_ms())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_words_are_not_formulas_in_a_spreadsheet() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("-1.5"), "-1.5");
        assert_eq!(cell("发货时间"), "发货时间");
    }

    #[test]
    fn dates_read_both_ways_and_bad_ones_say_so() {
        assert_eq!(parse_day("1970-01-01"), Ok(0));
        assert_eq!(date_of_day(parse_day("2026-11-11").unwrap()), "2026-11-11");
        assert_eq!(date_of_day(parse_day("2024-02-29").unwrap()), "2024-02-29");
        assert!(parse_day("2026-02-30").is_err());
        assert!(parse_day("11/11").unwrap_err().contains("YYYY-MM-DD"));
        let eleventh = parse_day("2026-11-11").unwrap();
        assert_eq!(
            range(None, Some("2026-11-11")),
            Ok((eleventh - 6, eleventh))
        );
        assert!(range(Some("2026-11-12"), Some("2026-11-11")).is_err());
        assert!(range(Some("2025-01-01"), Some("2026-11-11")).is_err());
        assert_eq!(
            day_of(day_start_ms(parse_day("2026-11-11").unwrap())),
            parse_day("2026-11-11").unwrap()
        );
    }
}
