//! How long the voice-of-the-customer report takes over a month of a
//! festival's figures. The report reads the figures kept per day (per shop:
//! the bot's and people's figures and the voice of the customer; per agent:
//! theirs) and the range's unknown questions (at most 5,000); it never
//! reads events, so what it reads grows with days × (shops + agents) and
//! the distinct intents, products and order states, not with the number of
//! messages. This bench writes a month for 20 shops and 200 agents through
//! the store's own commit (the figures of 10 million messages: 322,580 a
//! day, spread over 60 intents, 200 products and 8 order states), plus
//! 5,000 unknown questions, then times the report over the month.
//!
//! Run with `cargo bench -p tongdao --bench report`.

use std::collections::BTreeMap;
use std::time::Instant;
use tongdao::model::{AgentTally, BotDecision, BotOutcome, UnansweredQuestion, VocTally, day_of};
use tongdao::report::{build, day_start_ms};
use tongdao::store::{InboxOutcome, SledStore, Store};

const DAYS: i64 = 31;
const SHOPS: usize = 20;
const AGENTS: usize = 200;
const MESSAGES: u64 = 10_000_000;
const UNKNOWN: usize = 5_000;

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SledStore::open(&dir.path().join("store")).expect("a store");
    let first_day = day_of(1_793_462_400_000); // 2026-11-01, Beijing
    let per_shop_day = MESSAGES / (DAYS as u64 * SHOPS as u64);
    let started = Instant::now();
    for day in first_day..first_day + DAYS {
        let at_ms = day_start_ms(day) + 12 * 3_600_000;
        for shop in 0..SHOPS {
            let shop_id = format!("shop-{shop:02}");
            let voc = VocTally {
                messages: per_shop_day,
                negative: per_shop_day / 20,
                threats: per_shop_day / 500,
                intents: (0..60)
                    .map(|i| (format!("intent_{i:02}"), per_shop_day / 60))
                    .collect(),
                scenarios: ["售前", "售中", "售后"]
                    .iter()
                    .map(|s| (s.to_string(), per_shop_day / 3))
                    .collect(),
                complaints_by_product: (0..200)
                    .map(|p| (format!("商品 {p:03}"), per_shop_day / 4000))
                    .collect(),
                complaints_by_order_state: [
                    "待付款",
                    "已付款",
                    "已发货",
                    "已签收",
                    "已关闭",
                    "退款中",
                    "(unknown)",
                    "WAIT_SELLER_SEND_GOODS",
                ]
                .iter()
                .map(|s| (s.to_string(), per_shop_day / 160))
                .collect(),
                alerts: BTreeMap::from([("complaint-threat".to_owned(), per_shop_day / 500)]),
            };
            let decision = BotDecision {
                decision: "intent intent_00".into(),
                outcome: BotOutcome::Settled,
            };
            let event = uuid::Uuid::now_v7().to_string();
            let outcome = InboxOutcome {
                shop: &shop_id,
                voc: Some(&voc),
                decision: Some(&decision),
                ..InboxOutcome::default()
            };
            store
                .finish_inbox_all(&[(event.as_str(), outcome)], at_ms)
                .expect("the day's figures are written");
        }
        for agent in 0..AGENTS {
            store
                .add_agent_tally(
                    day,
                    &format!("agent-{agent:03}"),
                    &AgentTally {
                        first_responses: 300,
                        first_response_ms: 300 * 25_000,
                        handled: 280,
                        handling_ms: 280 * 240_000,
                        transfers: 12,
                        ratings: 90,
                        rating_sum: 90 * 4,
                    },
                )
                .expect("an agent's figures are written");
        }
    }
    let questions = [
        "你们公司的股票代码是多少",
        "请问招聘客服吗",
        "能开增值税专票吗",
        "有没有线下门店",
        "可以寄到国外吗",
    ];
    for i in 0..UNKNOWN {
        let day = first_day + (i as i64 % DAYS);
        let question = UnansweredQuestion {
            shop: format!("shop-{:02}", i % SHOPS),
            conversation: format!("c{i}"),
            event: uuid::Uuid::now_v7().to_string(),
            question: format!("{}（{}）", questions[i % questions.len()], i % 7),
            received_ms: day_start_ms(day) + 3_600_000 + i as i64,
        };
        let event = question.event.clone();
        let outcome = InboxOutcome {
            shop: &question.shop,
            unanswered: Some(&question),
            ..InboxOutcome::default()
        };
        store
            .finish_inbox_all(&[(event.as_str(), outcome)], question.received_ms)
            .expect("an unknown question is written");
    }
    println!(
        "wrote a month of figures ({SHOPS} shops, {AGENTS} agents, {MESSAGES} messages' worth) and {UNKNOWN} unknown questions in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let bot = tongdao::kb::Bot::load(
        Some(
            &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../examples/kb/retail.toml"),
        ),
        None,
    )
    .expect("the example knowledge base");
    let mut samples = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let report =
            build(&store, &bot, first_day, first_day + DAYS - 1, |_| true).expect("the report");
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(report.days.len(), DAYS as usize);
        assert_eq!(report.agents.len(), AGENTS);
        assert_eq!(report.unknown_questions_grouped, UNKNOWN);
    }
    samples.sort_by(f64::total_cmp);
    let report =
        build(&store, &bot, first_day, first_day + DAYS - 1, |_| true).expect("the report");
    println!(
        "report over {DAYS} days: {} messages counted, {} unknown groups; median {:.1} ms, max {:.1} ms (5 runs)",
        report.total.messages,
        report.unknown_clusters.len(),
        samples[2],
        samples[4]
    );
    let started = Instant::now();
    let csv = report.to_csv().expect("CSV");
    println!(
        "as CSV: {} lines in {:.1} ms",
        csv.lines().count(),
        started.elapsed().as_secs_f64() * 1000.0
    );
}
