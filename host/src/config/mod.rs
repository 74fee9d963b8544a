//! The brand config: a TOML file naming the plugins, the shops that use them,
//! their credentials, granted egress hosts and API base overrides, and limits.
//!
//! Loading happens in two passes: [`Config::load`] parses and validates what
//! the file alone can tell (syntax, types, references between sections), and
//! [`Config::check_against_manifests`] checks shops against the manifests of
//! the loaded plugins (required credentials, egress grants). Every error names
//! the file, the line and the field.

mod error;
mod raw;

pub use error::ConfigError;

mod alerts;
mod care;
mod console;
mod market;
mod people;

pub use alerts::AlertsConfig;
pub use care::{
    CareConfig, CareRule, CareTrigger, PLACEHOLDERS, QuietHours, WechatNotice, WechatNoticeKind,
    placeholder_names,
};
pub use console::{ConsoleConfig, ReplyTimer};
pub use market::MarketConfig;
pub use people::{AdminConfig, AgentConfig, Assignment, Role};

use crate::config::raw::{RawConfig, RawSecret, Spanned};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A validated brand config.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file the config came from.
    pub path: PathBuf,
    /// The address the gateway listens on.
    pub listen: SocketAddr,
    /// Where `/admin` and `/metrics` are served instead, when set (the
    /// public listener then serves only webhooks and `/healthz`).
    pub admin_listen: Option<SocketAddr>,
    /// Where the embedded store and the compiled-component cache live.
    pub data_dir: PathBuf,
    /// Per-call and per-request limits.
    pub limits: Limits,
    /// The bot's settings.
    pub bot: BotConfig,
    /// Plugins by name.
    pub plugins: BTreeMap<String, PluginConfig>,
    /// Shops by id.
    pub shops: BTreeMap<String, ShopConfig>,
    /// The admin API for agents (off when absent).
    pub admin: Option<AdminConfig>,
    /// Human agents, in config order.
    pub agents: Vec<AgentConfig>,
    /// How long each kind of record is kept.
    pub retention: crate::store::Retention,
    /// The agents' console.
    pub console: ConsoleConfig,
    /// Risk alerts.
    pub alerts: AlertsConfig,
    /// The plugin marketplace shops install from, if any.
    pub market: Option<MarketConfig>,
    source: SourceMap,
}

/// Limits on requests and plugin calls.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// The largest webhook body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// Wall-clock budget of one plugin call.
    pub call_timeout: Duration,
    /// Linear memory cap of one plugin instance.
    pub plugin_memory_bytes: usize,
    /// The largest output a plugin call may return.
    pub max_output_bytes: usize,
    /// Plugin calls running at once (also the size of the instance pool).
    pub max_concurrent_calls: u32,
    /// How long platform message ids are remembered for dedupe.
    pub dedupe_window: Duration,
    /// Failed calls in a row after which a shop's plugin is paused.
    pub breaker_failures: u32,
    /// How long a paused shop's plugin stays paused.
    pub breaker_cooldown: Duration,
    /// Delivery attempts before an action is dead-lettered.
    pub max_delivery_attempts: u32,
    /// Timeout of one outbound HTTP request.
    pub outbound_timeout: Duration,
    /// How long a client gets to send a whole request body.
    pub body_read_timeout: Duration,
    /// Connections open at once, per listener; more wait to be accepted.
    pub max_connections: usize,
    /// Webhooks one shop may send per second (bursts of as many); more get 429.
    pub webhooks_per_second_per_shop: u32,
    /// Plugin calls one shop's webhooks may run at once; more get 503.
    pub push_calls_per_shop: u32,
    /// Plugin calls kept for delivery, polls and streams: webhooks never
    /// hold more than `max_concurrent_calls - reserved_work_calls`.
    pub reserved_work_calls: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1 << 20,
            call_timeout: Duration::from_millis(500),
            plugin_memory_bytes: 64 << 20,
            max_output_bytes: 4 << 20,
            max_concurrent_calls: 64,
            dedupe_window: Duration::from_secs(7 * 24 * 3600),
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(30),
            max_delivery_attempts: 8,
            outbound_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(15),
            max_connections: 10_000,
            webhooks_per_second_per_shop: 20_000,
            push_calls_per_shop: 32,
            reserved_work_calls: 16,
        }
    }
}

/// The bot's settings.
#[derive(Debug, Clone, Default)]
pub struct BotConfig {
    /// The knowledge base file, if the bot answers from one.
    pub knowledge_base: Option<PathBuf>,
    /// The lowest confidence the bot answers with (overrides the knowledge
    /// base's `settings.answer_threshold`).
    pub min_score: Option<f64>,
}

/// A plugin the host loads.
#[derive(Debug, Clone)]
pub struct PluginConfig {
    /// The plugin's name; its manifest must say the same.
    pub name: String,
    /// The component file.
    pub component: PathBuf,
    /// Its static manifest (`tongdao-plugin.toml`), which what the
    /// component describes must match.
    pub manifest: Option<tongdao_market::manifest::Manifest>,
    line: usize,
}

/// A shop: one account on one platform, served by one plugin. Its `Debug`
/// names the credentials but never prints their values.
#[derive(Clone)]
pub struct ShopConfig {
    /// The shop's id, used in webhook URLs: `/hooks/{plugin}/{id}`.
    pub id: String,
    /// The plugin serving the shop.
    pub plugin: String,
    /// Credentials handed to the plugin (secrets resolved from the environment).
    pub credentials: BTreeMap<String, String>,
    /// Non-secret settings handed to the plugin.
    pub settings: BTreeMap<String, String>,
    /// Hosts the brand lets this shop's plugin send requests to.
    pub egress: Vec<String>,
    /// Platform API hosts pointed at another base URL (a sandbox, an emulator).
    pub api_base: BTreeMap<String, url::Url>,
    /// Private, loopback or link-local networks this shop's granted hosts
    /// may resolve to (everything else must be a public address).
    pub egress_networks: Vec<ipnet::IpNet>,
    /// Whether the bot may offer coupons in this shop.
    pub allow_coupons: bool,
    /// Invite the customer to rate the service (1–5) when an agent closes
    /// the conversation, or after the bot answered and the customer said
    /// nothing more for [`ShopConfig::csat_after_bot`].
    pub csat_invite: bool,
    /// How long after the bot's answer a quiet customer is invited to rate
    /// the bot (default 10 minutes).
    pub csat_after_bot: Duration,
    /// The coupon offered to a hesitating customer (with `allow_coupons`).
    pub coupon: Option<crate::model::Coupon>,
    /// Whether the host holds the plugin's stream for this shop; `None`
    /// follows the plugin (a stream where it declares stream ingestion).
    pub stream: Option<bool>,
    /// Feeds the host polls on a schedule (hinted feeds are polled on hints).
    pub poll_feeds: Vec<String>,
    /// How often scheduled feeds are polled; `None` follows the plugin.
    pub poll_interval: Option<Duration>,
    /// The text the bot welcomes a customer with where the platform asks
    /// for a welcome (WeCom `enter_session`).
    pub welcome_message: Option<String>,
    /// Whether order events trigger an order look-up through the plugin.
    pub look_up_orders: bool,
    /// Whether the host asks the plugin's `profile` poll feed about each
    /// new customer (WeChat `user/info`, WeCom `customer/batchget`: the
    /// unionid that links one person across channels).
    pub look_up_profiles: bool,
    /// Proactive care after orders: messages on commerce events.
    pub care: Option<CareConfig>,
    line: usize,
    credentials_line: usize,
    egress_lines: Vec<usize>,
    stream_line: usize,
    poll_feeds_line: usize,
}

impl std::fmt::Debug for ShopConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let credentials: BTreeMap<&str, &str> = self
            .credentials
            .keys()
            .map(|name| (name.as_str(), "<redacted>"))
            .collect();
        f.debug_struct("ShopConfig")
            .field("id", &self.id)
            .field("plugin", &self.plugin)
            .field("credentials", &credentials)
            .field("settings", &self.settings)
            .field("egress", &self.egress)
            .field("api_base", &self.api_base)
            .field("egress_networks", &self.egress_networks)
            .field("allow_coupons", &self.allow_coupons)
            .field("csat_invite", &self.csat_invite)
            .field("csat_after_bot", &self.csat_after_bot)
            .field("coupon", &self.coupon)
            .field("stream", &self.stream)
            .field("poll_feeds", &self.poll_feeds)
            .field("poll_interval", &self.poll_interval)
            .field("welcome_message", &self.welcome_message)
            .field("look_up_orders", &self.look_up_orders)
            .field("look_up_profiles", &self.look_up_profiles)
            .field("care", &self.care)
            .finish_non_exhaustive()
    }
}

impl ShopConfig {
    /// The coupon to offer a hesitating customer: the shop's coupon, when
    /// the shop allows coupons.
    pub fn coupon_offer(&self) -> Option<crate::model::Coupon> {
        self.coupon.clone().filter(|_| self.allow_coupons)
    }

    /// Whether the host should hold a stream for this shop, given whether
    /// its plugin declares stream ingestion.
    pub fn wants_stream(&self, plugin_streams: bool) -> bool {
        plugin_streams && self.stream.unwrap_or(true)
    }
}

/// What the loaded plugin declares, for [`Config::check_against_manifests`].
#[derive(Debug, Clone)]
pub struct ManifestFacts {
    /// Credentials the plugin requires.
    pub required_credentials: Vec<String>,
    /// Hosts the plugin declares it sends requests to.
    pub egress_hosts: Vec<String>,
    /// The name in the manifest.
    pub name: String,
    /// Whether the plugin declares stream ingestion.
    pub streams: bool,
    /// Whether the plugin declares poll ingestion.
    pub polls: bool,
}

impl Config {
    /// Read, parse and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(path, &text)
    }

    /// Parse and validate config text; `path` is used in errors and to resolve
    /// relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let source = SourceMap::new(path, text);
        let raw: RawConfig = toml::from_str(text).map_err(|err| {
            let offset = err.span().map(|span| span.start);
            let line = offset.map(|at| source.line_of(at)).unwrap_or(0);
            let message = match offset.and_then(|at| field_at(text, at)) {
                Some(field) => format!("{field}: {}", err.message()),
                None => err.message().to_string(),
            };
            ConfigError::Syntax {
                path: path.to_path_buf(),
                line,
                message,
            }
        })?;
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        Builder {
            source,
            base,
            path: path.to_path_buf(),
        }
        .build(raw)
    }

    /// Check each shop against the manifest of its plugin: required credentials
    /// present, egress grants declared by the plugin.
    pub fn check_against_manifests(
        &self,
        manifests: &BTreeMap<String, ManifestFacts>,
    ) -> Result<(), ConfigError> {
        for plugin in self.plugins.values() {
            if let Some(facts) = manifests.get(&plugin.name)
                && facts.name != plugin.name
            {
                return Err(self.source.error(
                    plugin.line,
                    "plugins.name",
                    format!(
                        "the component {} says its name is `{}`, not `{}`",
                        plugin.component.display(),
                        facts.name,
                        plugin.name
                    ),
                ));
            }
        }
        for shop in self.shops.values() {
            let Some(facts) = manifests.get(&shop.plugin) else {
                continue;
            };
            for required in &facts.required_credentials {
                if !shop.credentials.contains_key(required) {
                    return Err(self.source.error(
                        shop.credentials_line,
                        &format!("shops.{}.credentials.{required}", shop.id),
                        format!("plugin `{}` requires this credential", shop.plugin),
                    ));
                }
            }
            if shop.stream == Some(true) && !facts.streams {
                return Err(self.source.error(
                    shop.stream_line,
                    &format!("shops.{}.stream", shop.id),
                    format!("plugin `{}` does not declare stream ingestion", shop.plugin),
                ));
            }
            if !shop.poll_feeds.is_empty() && !facts.polls {
                return Err(self.source.error(
                    shop.poll_feeds_line,
                    &format!("shops.{}.poll_feeds", shop.id),
                    format!("plugin `{}` does not declare poll ingestion", shop.plugin),
                ));
            }
            for (host, line) in shop.egress.iter().zip(&shop.egress_lines) {
                if !facts.egress_hosts.iter().any(|declared| declared == host) {
                    return Err(self.source.error(
                        *line,
                        &format!("shops.{}.egress", shop.id),
                        format!(
                            "plugin `{}` does not declare host `{host}` (it declares {:?})",
                            shop.plugin, facts.egress_hosts
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The line a shop is defined on, for messages.
    pub fn shop_line(&self, shop: &str) -> Option<usize> {
        self.shops.get(shop).map(|shop| shop.line)
    }
}

/// Maps byte offsets of the config text to line numbers, and formats errors.
#[derive(Debug, Clone)]
struct SourceMap {
    path: PathBuf,
    line_starts: Vec<usize>,
}

impl SourceMap {
    fn new(path: &Path, text: &str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceMap {
            path: path.to_path_buf(),
            line_starts,
        }
    }

    /// The 1-based line of a byte offset.
    fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }

    fn line_of_span<T>(&self, spanned: &Spanned<T>) -> usize {
        self.line_of(spanned.span().start)
    }

    fn error(&self, line: usize, field: &str, message: String) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.clone(),
            line,
            field: field.to_string(),
            message,
        }
    }
}

/// Turns the raw, spanned config into a validated [`Config`].
struct Builder {
    source: SourceMap,
    base: PathBuf,
    path: PathBuf,
}

impl Builder {
    fn build(self, raw: RawConfig) -> Result<Config, ConfigError> {
        let server = raw.server.unwrap_or_default();
        let address = |value: &Spanned<String>, field: &str| {
            value.get_ref().parse::<SocketAddr>().map_err(|err| {
                self.error(
                    value,
                    field,
                    format!(
                        "`{}` is not an address like 127.0.0.1:8080: {err}",
                        value.get_ref()
                    ),
                )
            })
        };
        let listen = match &server.listen {
            Some(listen) => address(listen, "server.listen")?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let admin_listen = server
            .admin_listen
            .as_ref()
            .map(|value| address(value, "server.admin_listen"))
            .transpose()?;
        let data_dir = self.resolve(
            server
                .data_dir
                .as_ref()
                .map(|d| d.get_ref().as_str())
                .unwrap_or("data"),
        );
        let limits = self.limits(raw.limits.unwrap_or_default())?;
        let bot = self.bot(raw.bot.unwrap_or_default())?;
        let plugins = self.plugins(raw.plugins)?;
        let market = self.market(raw.market)?;
        let shops = self.shops(raw.shops, &plugins, market.is_some())?;
        self.check_care_via(&shops)?;
        let admin = self.admin(raw.admin)?;
        let agents = self.agents(raw.agents, &shops)?;
        let retention = self.retention(raw.retention.unwrap_or_default())?;
        let console = self.console(raw.console.unwrap_or_default(), &plugins)?;
        let alerts = self.alerts(raw.alerts, &shops)?;
        Ok(Config {
            alerts,
            market,
            retention,
            console,
            admin,
            agents,
            path: self.path.clone(),
            listen,
            admin_listen,
            data_dir,
            limits,
            bot,
            plugins,
            shops,
            source: self.source,
        })
    }

    fn error<T>(&self, at: &Spanned<T>, field: &str, message: String) -> ConfigError {
        self.source
            .error(self.source.line_of_span(at), field, message)
    }

    fn resolve(&self, path: &str) -> PathBuf {
        let path = Path::new(path);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base.join(path)
        }
    }

    fn limits(&self, raw: raw::RawLimits) -> Result<Limits, ConfigError> {
        let limits = self.limit_values(&raw)?;
        if limits.reserved_work_calls >= limits.max_concurrent_calls {
            let at = raw
                .reserved_work_calls
                .as_ref()
                .or(raw.max_concurrent_calls.as_ref());
            let message = format!(
                "reserved_work_calls ({}) must be below max_concurrent_calls ({}), or webhooks get no plugin calls at all",
                limits.reserved_work_calls, limits.max_concurrent_calls
            );
            // The defaults are consistent, so one of the two was written.
            if let Some(at) = at {
                return Err(self.error(at, "limits.reserved_work_calls", message));
            }
        }
        Ok(limits)
    }

    fn limit_values(&self, raw: &raw::RawLimits) -> Result<Limits, ConfigError> {
        let defaults = Limits::default();
        let bytes =
            |value: &Option<Spanned<u64>>, field: &str, min: u64, max: u64, default: usize| {
                self.bounded(value, field, min, max)
                    .map(|v| v.map(|v| v as usize).unwrap_or(default))
            };
        let millis =
            |value: &Option<Spanned<u64>>, field: &str, min: u64, max: u64, default: Duration| {
                self.bounded(value, field, min, max)
                    .map(|v| v.map(Duration::from_millis).unwrap_or(default))
            };
        let secs =
            |value: &Option<Spanned<u64>>, field: &str, min: u64, max: u64, default: Duration| {
                self.bounded(value, field, min, max)
                    .map(|v| v.map(Duration::from_secs).unwrap_or(default))
            };
        let count =
            |value: &Option<Spanned<u64>>, field: &str, min: u64, max: u64, default: u32| {
                self.bounded(value, field, min, max)
                    .map(|v| v.map(|v| v as u32).unwrap_or(default))
            };
        Ok(Limits {
            max_body_bytes: bytes(
                &raw.max_body_bytes,
                "limits.max_body_bytes",
                1024,
                64 << 20,
                defaults.max_body_bytes,
            )?,
            call_timeout: millis(
                &raw.call_timeout_ms,
                "limits.call_timeout_ms",
                1,
                60_000,
                defaults.call_timeout,
            )?,
            plugin_memory_bytes: bytes(
                &raw.plugin_memory_bytes,
                "limits.plugin_memory_bytes",
                1 << 20,
                4 << 30,
                defaults.plugin_memory_bytes,
            )?,
            max_output_bytes: bytes(
                &raw.max_output_bytes,
                "limits.max_output_bytes",
                1024,
                256 << 20,
                defaults.max_output_bytes,
            )?,
            max_concurrent_calls: count(
                &raw.max_concurrent_calls,
                "limits.max_concurrent_calls",
                1,
                4096,
                defaults.max_concurrent_calls,
            )?,
            dedupe_window: secs(
                &raw.dedupe_window_secs,
                "limits.dedupe_window_secs",
                60,
                365 * 24 * 3600,
                defaults.dedupe_window,
            )?,
            breaker_failures: count(
                &raw.breaker_failures,
                "limits.breaker_failures",
                1,
                1_000_000,
                defaults.breaker_failures,
            )?,
            breaker_cooldown: secs(
                &raw.breaker_cooldown_secs,
                "limits.breaker_cooldown_secs",
                1,
                24 * 3600,
                defaults.breaker_cooldown,
            )?,
            max_delivery_attempts: count(
                &raw.max_delivery_attempts,
                "limits.max_delivery_attempts",
                1,
                1000,
                defaults.max_delivery_attempts,
            )?,
            outbound_timeout: millis(
                &raw.outbound_timeout_ms,
                "limits.outbound_timeout_ms",
                100,
                300_000,
                defaults.outbound_timeout,
            )?,
            body_read_timeout: millis(
                &raw.body_read_timeout_ms,
                "limits.body_read_timeout_ms",
                100,
                600_000,
                defaults.body_read_timeout,
            )?,
            max_connections: bytes(
                &raw.max_connections,
                "limits.max_connections",
                1,
                1_000_000,
                defaults.max_connections,
            )?,
            webhooks_per_second_per_shop: count(
                &raw.webhooks_per_second_per_shop,
                "limits.webhooks_per_second_per_shop",
                1,
                10_000_000,
                defaults.webhooks_per_second_per_shop,
            )?,
            push_calls_per_shop: count(
                &raw.push_calls_per_shop,
                "limits.push_calls_per_shop",
                1,
                4096,
                defaults.push_calls_per_shop,
            )?,
            reserved_work_calls: count(
                &raw.reserved_work_calls,
                "limits.reserved_work_calls",
                0,
                4095,
                defaults.reserved_work_calls,
            )?,
        })
    }

    fn retention(&self, raw: raw::RawRetention) -> Result<crate::store::Retention, ConfigError> {
        let defaults = crate::store::Retention::default();
        let days = |value: &Option<Spanned<f64>>, field: &str, default: Duration| match value {
            None => Ok(default),
            Some(days)
                if days.get_ref().is_finite()
                    && *days.get_ref() > 0.0
                    && *days.get_ref() <= 36500.0 =>
            {
                Ok(Duration::from_secs_f64(days.get_ref() * 86_400.0))
            }
            Some(days) => Err(self.error(
                days,
                field,
                format!(
                    "{} is not a number of days within (0, 36500]",
                    days.get_ref()
                ),
            )),
        };
        Ok(crate::store::Retention {
            events: days(&raw.events_days, "retention.events_days", defaults.events)?,
            delivered: days(
                &raw.delivered_actions_days,
                "retention.delivered_actions_days",
                defaults.delivered,
            )?,
            dead_letters: days(
                &raw.dead_letters_days,
                "retention.dead_letters_days",
                defaults.dead_letters,
            )?,
            identities: match raw.identities_days {
                None => None,
                Some(_) => Some(days(
                    &raw.identities_days,
                    "retention.identities_days",
                    Duration::ZERO,
                )?),
            },
        })
    }

    fn bounded(
        &self,
        value: &Option<Spanned<u64>>,
        field: &str,
        min: u64,
        max: u64,
    ) -> Result<Option<u64>, ConfigError> {
        match value {
            Some(v) if !(min..=max).contains(v.get_ref()) => Err(self.error(
                v,
                field,
                format!("{} is out of range {min}..={max}", v.get_ref()),
            )),
            Some(v) => Ok(Some(*v.get_ref())),
            None => Ok(None),
        }
    }

    fn bot(&self, raw: raw::RawBot) -> Result<BotConfig, ConfigError> {
        let knowledge_base = match &raw.knowledge_base {
            Some(path) => {
                let resolved = self.resolve(path.get_ref());
                if !resolved.is_file() {
                    return Err(self.error(
                        path,
                        "bot.knowledge_base",
                        format!("no such file: {}", resolved.display()),
                    ));
                }
                Some(resolved)
            }
            None => None,
        };
        let min_score = match &raw.min_score {
            Some(score) if !(0.0..=1.0).contains(score.get_ref()) => {
                return Err(self.error(
                    score,
                    "bot.min_score",
                    format!("{} is not within 0..=1", score.get_ref()),
                ));
            }
            Some(score) => Some(*score.get_ref()),
            None => None,
        };
        Ok(BotConfig {
            knowledge_base,
            min_score,
        })
    }

    fn plugins(
        &self,
        raw: Vec<Spanned<raw::RawPlugin>>,
    ) -> Result<BTreeMap<String, PluginConfig>, ConfigError> {
        let mut plugins = BTreeMap::new();
        for entry in raw {
            let line = self.source.line_of_span(&entry);
            let plugin = entry.into_inner();
            let name = plugin.name.get_ref().clone();
            if !is_identifier(&name) {
                return Err(self.error(
                    &plugin.name,
                    "plugins.name",
                    format!("`{name}` must be lower-case letters, digits, `-` or `_`"),
                ));
            }
            let component = self.resolve(plugin.component.get_ref());
            let manifest = match &plugin.manifest {
                Some(path) => {
                    let resolved = self.resolve(path.get_ref());
                    let text = std::fs::read_to_string(&resolved).map_err(|err| {
                        self.error(
                            path,
                            "plugins.manifest",
                            format!("{}: {err}", resolved.display()),
                        )
                    })?;
                    let manifest =
                        tongdao_market::manifest::Manifest::parse(&text).map_err(|err| {
                            self.error(
                                path,
                                "plugins.manifest",
                                format!("{}: {err}", resolved.display()),
                            )
                        })?;
                    if manifest.name != name {
                        return Err(self.error(
                            path,
                            "plugins.manifest",
                            format!(
                                "{} is the manifest of `{}`, not `{name}`",
                                resolved.display(),
                                manifest.name
                            ),
                        ));
                    }
                    Some(manifest)
                }
                None => None,
            };
            if plugins.contains_key(&name) {
                return Err(self.error(
                    &plugin.name,
                    "plugins.name",
                    format!("plugin `{name}` is defined twice"),
                ));
            }
            plugins.insert(
                name.clone(),
                PluginConfig {
                    name,
                    component,
                    manifest,
                    line,
                },
            );
        }
        Ok(plugins)
    }

    fn shops(
        &self,
        raw: Vec<Spanned<raw::RawShop>>,
        plugins: &BTreeMap<String, PluginConfig>,
        market: bool,
    ) -> Result<BTreeMap<String, ShopConfig>, ConfigError> {
        let mut shops = BTreeMap::new();
        for entry in raw {
            let line = self.source.line_of_span(&entry);
            let shop = entry.into_inner();
            let id = shop.id.get_ref().clone();
            if !is_identifier(&id) {
                return Err(self.error(
                    &shop.id,
                    "shops.id",
                    format!("`{id}` must be lower-case letters, digits, `-` or `_` (it is part of the webhook URL)"),
                ));
            }
            if shops.contains_key(&id) {
                return Err(self.error(
                    &shop.id,
                    "shops.id",
                    format!("shop `{id}` is defined twice"),
                ));
            }
            // With a marketplace, a shop's plugin may be installed instead.
            if !plugins.contains_key(shop.plugin.get_ref()) && !market {
                return Err(self.error(
                    &shop.plugin,
                    &format!("shops.{id}.plugin"),
                    format!(
                        "no plugin named `{}` (defined: {:?})",
                        shop.plugin.get_ref(),
                        plugins.keys().collect::<Vec<_>>()
                    ),
                ));
            }
            let credentials_line = shop
                .credentials
                .as_ref()
                .map(|c| self.source.line_of_span(c))
                .unwrap_or(line);
            let mut credentials = BTreeMap::new();
            for (name, value) in shop
                .credentials
                .map(Spanned::into_inner)
                .unwrap_or_default()
            {
                let resolved = match value.get_ref() {
                    RawSecret::Plain(text) => text.clone(),
                    RawSecret::FromEnv { env } => std::env::var(env).map_err(|_| {
                        self.error(
                            &value,
                            &format!("shops.{id}.credentials.{name}"),
                            format!("environment variable `{env}` is not set"),
                        )
                    })?,
                };
                credentials.insert(name, resolved);
            }
            let mut egress = Vec::new();
            let mut egress_lines = Vec::new();
            for host in shop.egress.unwrap_or_default() {
                if !is_hostname(host.get_ref()) {
                    return Err(self.error(
                        &host,
                        &format!("shops.{id}.egress"),
                        format!(
                            "`{}` is not a host name (write `api.example.com`, no scheme or path)",
                            host.get_ref()
                        ),
                    ));
                }
                egress_lines.push(self.source.line_of_span(&host));
                egress.push(host.into_inner());
            }
            let mut api_base = BTreeMap::new();
            for (host, base) in shop.api_base.unwrap_or_default() {
                let field = format!("shops.{id}.api_base.\"{host}\"");
                let parsed = url::Url::parse(base.get_ref())
                    .ok()
                    .filter(|url| {
                        matches!(url.scheme(), "http" | "https" | "ws" | "wss")
                            && url.host().is_some()
                    })
                    .ok_or_else(|| {
                        self.error(
                            &base,
                            &field,
                            format!("`{}` is not an http(s) or ws(s) base URL", base.get_ref()),
                        )
                    })?;
                if !egress.contains(&host) {
                    return Err(self.error(
                        &base,
                        &field,
                        format!("`{host}` is not in this shop's egress list, so nothing would be sent there"),
                    ));
                }
                api_base.insert(host, parsed);
            }
            let mut egress_networks = Vec::new();
            for network in shop.egress_networks.unwrap_or_default() {
                let text = network.get_ref().trim();
                let parsed = text
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        self.error(
                            &network,
                            &format!("shops.{id}.egress_networks"),
                            format!("`{text}` is not a network (write `10.0.0.0/8` or an address)"),
                        )
                    })?;
                egress_networks.push(parsed);
            }
            let stream_line = shop
                .stream
                .as_ref()
                .map(|s| self.source.line_of_span(s))
                .unwrap_or(line);
            let poll_feeds_line = shop
                .poll_feeds
                .as_ref()
                .map(|f| self.source.line_of_span(f))
                .unwrap_or(line);
            let mut poll_feeds: Vec<String> = Vec::new();
            for feed in shop.poll_feeds.map(Spanned::into_inner).unwrap_or_default() {
                if feed.get_ref().is_empty()
                    || feed.get_ref().len() > 128
                    || poll_feeds.contains(feed.get_ref())
                {
                    return Err(self.error(
                        &feed,
                        &format!("shops.{id}.poll_feeds"),
                        format!(
                            "`{}` must be a non-empty feed name of at most 128 bytes, listed once",
                            feed.get_ref()
                        ),
                    ));
                }
                poll_feeds.push(feed.into_inner());
            }
            let poll_interval = self
                .bounded(
                    &shop.poll_interval_ms,
                    &format!("shops.{id}.poll_interval_ms"),
                    100,
                    24 * 3600 * 1000,
                )?
                .map(Duration::from_millis);
            let welcome_message = match shop.welcome_message {
                Some(text) if text.get_ref().trim().is_empty() => {
                    return Err(self.error(
                        &text,
                        &format!("shops.{id}.welcome_message"),
                        "is empty; leave it out to send no welcome".into(),
                    ));
                }
                Some(text) => Some(text.into_inner()),
                None => None,
            };
            let care = shop.care.map(|care| self.care(&id, care)).transpose()?;
            let allow_coupons = shop.allow_coupons.unwrap_or(false);
            let csat_invite = shop.csat_invite.unwrap_or(false);
            let csat_after_bot = Duration::from_secs(
                self.bounded(
                    &shop.csat_after_bot_secs,
                    &format!("shops.{id}.csat_after_bot_secs"),
                    1,
                    86_400,
                )?
                .unwrap_or(600),
            );
            let coupon = shop.coupon.map(|coupon| {
                let coupon = coupon.into_inner();
                let fallback_text = match &coupon.url {
                    Some(url) => format!("{}：{}", coupon.title, url),
                    None => coupon.title.clone(),
                };
                crate::model::Coupon {
                    coupon_id: coupon.id,
                    title: coupon.title,
                    discount: coupon.discount,
                    url: coupon.url,
                    fallback_text,
                }
            });
            let settings = shop
                .settings
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.into_string()))
                .collect();
            shops.insert(
                id.clone(),
                ShopConfig {
                    id,
                    plugin: shop.plugin.into_inner(),
                    credentials,
                    settings,
                    egress,
                    api_base,
                    egress_networks,
                    allow_coupons,
                    csat_invite,
                    csat_after_bot,
                    coupon,
                    stream: shop.stream.map(Spanned::into_inner),
                    poll_feeds,
                    poll_interval,
                    welcome_message,
                    look_up_orders: shop.look_up_orders.unwrap_or(true),
                    look_up_profiles: shop.look_up_profiles.unwrap_or(false),
                    care,
                    line,
                    credentials_line,
                    egress_lines,
                    stream_line,
                    poll_feeds_line,
                },
            );
        }
        Ok(shops)
    }
}

/// The dotted name of the key assigned on the line holding `offset`, with
/// the table header above it: `limits.call_timeout_ms`.
fn field_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let key = line.split_once('=').map(|(key, _)| key.trim())?;
    if key.is_empty() || key.starts_with('[') || key.starts_with('#') {
        return None;
    }
    let table = text[..line_start].lines().rev().find_map(|l| {
        let l = l.trim();
        l.starts_with('[')
            .then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
    });
    Some(match table {
        Some(table) => format!("{table}.{key}"),
        None => key.to_string(),
    })
}

fn is_identifier(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn is_hostname(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests;
