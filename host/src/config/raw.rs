//! The config file as written: serde types with source spans, before
//! validation.

use serde::Deserialize;
use std::collections::BTreeMap;

pub use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub server: Option<RawServer>,
    pub limits: Option<RawLimits>,
    pub bot: Option<RawBot>,
    #[serde(default)]
    pub plugins: Vec<Spanned<RawPlugin>>,
    #[serde(default)]
    pub shops: Vec<Spanned<RawShop>>,
    pub admin: Option<RawAdmin>,
    #[serde(default)]
    pub agents: Vec<Spanned<RawAgent>>,
    pub retention: Option<RawRetention>,
    pub console: Option<RawConsole>,
    pub market: Option<Spanned<RawMarket>>,
    pub alerts: Option<Spanned<RawAlerts>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerts {
    pub anger_messages: Option<Spanned<u64>>,
    pub anger_window_secs: Option<Spanned<u64>>,
    pub via_shop: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMarket {
    pub source: Spanned<String>,
    pub roots: Spanned<Vec<Spanned<String>>>,
    pub threshold: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConsole {
    pub reassign_after_secs: Option<Spanned<u64>>,
    pub reply_timers: Option<BTreeMap<String, Spanned<RawReplyTimer>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReplyTimer {
    pub warn_secs: Option<Spanned<u64>>,
    pub alert_secs: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetention {
    pub events_days: Option<Spanned<f64>>,
    pub delivered_actions_days: Option<Spanned<f64>>,
    pub dead_letters_days: Option<Spanned<f64>>,
    pub identities_days: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub token: Option<Spanned<RawSecret>>,
    pub assignment: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAgent {
    pub id: Spanned<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub shops: Vec<Spanned<String>>,
    pub max_concurrent: Option<Spanned<u64>>,
    pub role: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<Spanned<String>>,
    pub admin_listen: Option<Spanned<String>>,
    pub data_dir: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_body_bytes: Option<Spanned<u64>>,
    pub call_timeout_ms: Option<Spanned<u64>>,
    pub plugin_memory_bytes: Option<Spanned<u64>>,
    pub max_output_bytes: Option<Spanned<u64>>,
    pub max_concurrent_calls: Option<Spanned<u64>>,
    pub dedupe_window_secs: Option<Spanned<u64>>,
    pub breaker_failures: Option<Spanned<u64>>,
    pub breaker_cooldown_secs: Option<Spanned<u64>>,
    pub max_delivery_attempts: Option<Spanned<u64>>,
    pub outbound_timeout_ms: Option<Spanned<u64>>,
    pub body_read_timeout_ms: Option<Spanned<u64>>,
    pub max_connections: Option<Spanned<u64>>,
    pub webhooks_per_second_per_shop: Option<Spanned<u64>>,
    pub push_calls_per_shop: Option<Spanned<u64>>,
    pub reserved_work_calls: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBot {
    pub knowledge_base: Option<Spanned<String>>,
    pub min_score: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlugin {
    pub name: Spanned<String>,
    pub component: Spanned<String>,
    pub manifest: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawShop {
    pub id: Spanned<String>,
    pub plugin: Spanned<String>,
    pub credentials: Option<Spanned<BTreeMap<String, Spanned<RawSecret>>>>,
    pub settings: Option<BTreeMap<String, RawSetting>>,
    pub egress: Option<Vec<Spanned<String>>>,
    pub api_base: Option<BTreeMap<String, Spanned<String>>>,
    pub egress_networks: Option<Vec<Spanned<String>>>,
    pub allow_coupons: Option<bool>,
    pub csat_invite: Option<bool>,
    pub csat_after_bot_secs: Option<Spanned<u64>>,
    pub coupon: Option<Spanned<RawCoupon>>,
    pub stream: Option<Spanned<bool>>,
    pub poll_feeds: Option<Spanned<Vec<Spanned<String>>>>,
    pub poll_interval_ms: Option<Spanned<u64>>,
    pub welcome_message: Option<Spanned<String>>,
    pub look_up_orders: Option<bool>,
    pub look_up_profiles: Option<bool>,
    pub care: Option<Spanned<RawCare>>,
}

/// A shop's proactive care: where its messages may go, their limits and
/// the rules.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCare {
    pub via: Spanned<Vec<Spanned<String>>>,
    pub quiet_hours: Option<Spanned<String>>,
    pub most_per_customer: Option<Spanned<u64>>,
    pub cap_window_secs: Option<Spanned<u64>>,
    #[serde(default)]
    pub rules: Vec<Spanned<RawCareRule>>,
}

/// One care rule as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCareRule {
    pub name: Spanned<String>,
    pub on: Spanned<String>,
    pub text: Spanned<String>,
    pub stuck_after_secs: Option<Spanned<u64>>,
    pub wechat_template: Option<Spanned<String>>,
    pub wechat_subscription: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub fields: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
}

/// The coupon the bot offers a hesitating customer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCoupon {
    pub id: String,
    pub title: String,
    pub discount: Option<String>,
    pub url: Option<String>,
}

/// A credential: written inline, or read from an environment variable with
/// `{ env = "NAME" }` so secrets stay out of the file.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawSecret {
    Plain(String),
    FromEnv { env: String },
}

/// A setting value: text, a number or a boolean, handed to the plugin as text.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawSetting {
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl RawSetting {
    pub fn into_string(self) -> String {
        match self {
            RawSetting::Text(text) => text,
            RawSetting::Integer(n) => n.to_string(),
            RawSetting::Float(x) => x.to_string(),
            RawSetting::Bool(b) => b.to_string(),
        }
    }
}
