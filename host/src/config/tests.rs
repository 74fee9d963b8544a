//! Config parsing and validation: every error names file, line and field.

use super::*;
use std::path::Path;

const GOOD: &str = r#"
[server]
listen = "127.0.0.1:9999"
data_dir = "state"

[limits]
call_timeout_ms = 250

[[plugins]]
name = "wechat"
component = "plugins/wechat.wasm"

[[shops]]
id = "demo-oa"
plugin = "wechat"
egress = ["api.weixin.qq.com"]
credentials = { app_id = "wx1", app_secret = "s", token = "t" }
settings = { timestamp_tolerance_secs = 300, note = "x" }
api_base = { "api.weixin.qq.com" = "http://127.0.0.1:9100" }
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/tongdao/brand.toml"), text)
}

fn error_text(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn a_good_config_resolves_paths_and_values() {
    let config = parse(GOOD).unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:9999");
    assert_eq!(config.data_dir, Path::new("/etc/tongdao/state"));
    assert_eq!(config.limits.call_timeout, Duration::from_millis(250));
    assert_eq!(
        config.limits.max_body_bytes,
        Limits::default().max_body_bytes
    );
    let plugin = &config.plugins["wechat"];
    assert_eq!(
        plugin.component,
        Path::new("/etc/tongdao/plugins/wechat.wasm")
    );
    let shop = &config.shops["demo-oa"];
    assert_eq!(shop.credentials["app_id"], "wx1");
    let printed = format!("{config:?}");
    for secret in shop.credentials.values().filter(|s| s.len() >= 3) {
        assert!(
            !printed.contains(secret.as_str()),
            "Debug printed `{secret}`: {printed}"
        );
    }
    assert!(printed.contains("app_id"), "credential names are shown");
    assert_eq!(shop.settings["timestamp_tolerance_secs"], "300");
    assert_eq!(
        shop.api_base["api.weixin.qq.com"].as_str(),
        "http://127.0.0.1:9100/"
    );
    assert_eq!(config.shop_line("demo-oa"), Some(13));
}

#[test]
fn syntax_errors_name_file_and_line() {
    let text = GOOD.replace("call_timeout_ms = 250", "call_timeout_ms = = 250");
    let err = error_text(&text);
    assert!(err.starts_with("/etc/tongdao/brand.toml:7:"), "{err}");
}

#[test]
fn type_errors_name_the_field() {
    let err = error_text(&GOOD.replace("call_timeout_ms = 250", "call_timeout_ms = \"fast\""));
    assert!(
        err.starts_with(
            "/etc/tongdao/brand.toml:7: limits.call_timeout_ms: invalid type: string \"fast\""
        ),
        "{err}"
    );
}

#[test]
fn unknown_fields_are_refused_with_their_line() {
    let text = GOOD.replace("egress = [", "egres = [\"x\"]\negress = [");
    let err = error_text(&text);
    assert!(err.starts_with("/etc/tongdao/brand.toml:16:"), "{err}");
    assert!(err.contains("egres"), "{err}");
}

#[test]
fn an_unknown_plugin_names_the_shop_field_and_line() {
    let text = GOOD.replace("plugin = \"wechat\"", "plugin = \"wechatt\"");
    let err = error_text(&text);
    assert!(
        err.starts_with(
            "/etc/tongdao/brand.toml:15: shops.demo-oa.plugin: no plugin named `wechatt`"
        ),
        "{err}"
    );
}

#[test]
fn out_of_range_limits_are_refused() {
    let text = GOOD.replace("call_timeout_ms = 250", "call_timeout_ms = 0");
    let err = error_text(&text);
    assert_eq!(
        err,
        "/etc/tongdao/brand.toml:7: limits.call_timeout_ms: 0 is out of range 1..=60000"
    );
}

#[test]
fn a_bad_listen_address_is_refused() {
    let err = error_text(&GOOD.replace("127.0.0.1:9999", "localhost"));
    assert!(
        err.starts_with("/etc/tongdao/brand.toml:3: server.listen:"),
        "{err}"
    );
}

#[test]
fn egress_must_be_bare_host_names() {
    let err = error_text(&GOOD.replace(
        "egress = [\"api.weixin.qq.com\"]",
        "egress = [\"https://api.weixin.qq.com/\"]",
    ));
    assert!(
        err.starts_with("/etc/tongdao/brand.toml:16: shops.demo-oa.egress:"),
        "{err}"
    );
}

#[test]
fn api_base_must_point_at_a_granted_host_and_be_a_url() {
    let err = error_text(&GOOD.replace("\"http://127.0.0.1:9100\"", "\"not a url\""));
    assert!(
        err.contains(
            "shops.demo-oa.api_base.\"api.weixin.qq.com\": `not a url` is not an http(s) or ws(s) base URL"
        ),
        "{err}"
    );
    let err = error_text(&GOOD.replace(
        "api_base = { \"api.weixin.qq.com\"",
        "api_base = { \"api.example.com\"",
    ));
    assert!(err.contains("is not in this shop's egress list"), "{err}");
}

#[test]
fn duplicate_shops_are_refused() {
    let shop = &GOOD[GOOD.find("[[shops]]").unwrap()..];
    let err = error_text(&format!("{GOOD}\n{shop}"));
    assert!(
        err.contains("shops.id: shop `demo-oa` is defined twice"),
        "{err}"
    );
}

#[test]
fn credentials_can_come_from_the_environment() {
    let text = GOOD.replace(
        "app_secret = \"s\"",
        "app_secret = { env = \"TONGDAO_TEST_UNSET_VARIABLE\" }",
    );
    let err = error_text(&text);
    assert!(
        err.contains("shops.demo-oa.credentials.app_secret: environment variable `TONGDAO_TEST_UNSET_VARIABLE` is not set"),
        "{err}"
    );
    let text = GOOD.replace("app_secret = \"s\"", "app_secret = { env = \"PATH\" }");
    let config = parse(&text).unwrap();
    assert_eq!(
        config.shops["demo-oa"].credentials["app_secret"],
        std::env::var("PATH").unwrap()
    );
}

#[test]
fn manifests_check_credentials_and_egress() {
    let config = parse(GOOD).unwrap();
    let mut facts = BTreeMap::new();
    facts.insert(
        "wechat".to_string(),
        ManifestFacts {
            name: "wechat".into(),
            required_credentials: vec!["app_id".into(), "encoding_aes_key".into()],
            egress_hosts: vec!["api.weixin.qq.com".into()],
            streams: false,
            polls: false,
        },
    );
    let err = config
        .check_against_manifests(&facts)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "/etc/tongdao/brand.toml:17: shops.demo-oa.credentials.encoding_aes_key: plugin `wechat` requires this credential"
    );
    facts.get_mut("wechat").unwrap().required_credentials = vec!["app_id".into()];
    facts.get_mut("wechat").unwrap().egress_hosts = vec!["api.example.com".into()];
    let err = config
        .check_against_manifests(&facts)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("/etc/tongdao/brand.toml:16: shops.demo-oa.egress: plugin `wechat` does not declare host `api.weixin.qq.com`"), "{err}");
}

#[test]
fn stream_and_poll_settings_are_read_and_checked_against_the_plugin() {
    let text = GOOD.replace(
        "settings = {",
        "stream = true\npoll_feeds = [\"tmc\", \"orders\"]\npoll_interval_ms = 2500\nwelcome_message = \"您好\"\nlook_up_orders = false\nsettings = {",
    );
    let config = parse(&text).unwrap();
    let shop = &config.shops["demo-oa"];
    assert_eq!(shop.stream, Some(true));
    assert_eq!(
        shop.poll_feeds,
        vec!["tmc".to_string(), "orders".to_string()]
    );
    assert_eq!(shop.poll_interval, Some(Duration::from_millis(2500)));
    assert_eq!(shop.welcome_message.as_deref(), Some("您好"));
    assert!(!shop.look_up_orders);
    assert!(shop.wants_stream(true));
    assert!(!shop.wants_stream(false));

    let mut facts = BTreeMap::new();
    facts.insert(
        "wechat".to_string(),
        ManifestFacts {
            name: "wechat".into(),
            required_credentials: vec![],
            egress_hosts: vec!["api.weixin.qq.com".into()],
            streams: false,
            polls: true,
        },
    );
    let err = config
        .check_against_manifests(&facts)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "/etc/tongdao/brand.toml:18: shops.demo-oa.stream: plugin `wechat` does not declare stream ingestion"
    );
    facts.get_mut("wechat").unwrap().streams = true;
    facts.get_mut("wechat").unwrap().polls = false;
    let err = config
        .check_against_manifests(&facts)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "/etc/tongdao/brand.toml:19: shops.demo-oa.poll_feeds: plugin `wechat` does not declare poll ingestion"
    );
}

#[test]
fn bad_stream_and_poll_settings_name_their_field() {
    let with = |line: &str| GOOD.replace("settings = {", &format!("{line}\nsettings = {{"));
    assert!(error_text(&with("poll_interval_ms = 5")).contains(
        "brand.toml:18: shops.demo-oa.poll_interval_ms: 5 is out of range 100..=86400000"
    ));
    assert!(
        error_text(&with("poll_feeds = [\"a\", \"a\"]"))
            .contains("brand.toml:18: shops.demo-oa.poll_feeds: `a` must be a non-empty feed name")
    );
    assert!(
        error_text(&with("welcome_message = \"  \""))
            .contains("brand.toml:18: shops.demo-oa.welcome_message: is empty")
    );
    assert!(
        error_text(&with("stream = \"yes\"")).contains("brand.toml:18: shops.stream: invalid type"),
        "{}",
        error_text(&with("stream = \"yes\""))
    );
}

#[test]
fn api_bases_may_be_websocket_urls() {
    let text = GOOD.replace("http://127.0.0.1:9100", "ws://127.0.0.1:9100/");
    let config = parse(&text).unwrap();
    assert_eq!(
        config.shops["demo-oa"].api_base["api.weixin.qq.com"].scheme(),
        "ws"
    );
    let text = GOOD.replace("http://127.0.0.1:9100", "ftp://127.0.0.1:9100/");
    assert!(error_text(&text).contains("is not an http(s) or ws(s) base URL"));
}

#[test]
fn agents_coupons_and_the_admin_api_are_read_and_checked() {
    let text = format!(
        "{GOOD}allow_coupons = true\ncoupon = {{ id = \"c10\", title = \"满199减10\", discount = \"10.00\" }}\n\n[admin]\ntoken = \"0123456789abcdef0123\"\nassignment = \"round-robin\"\n\n[[agents]]\nid = \"mei\"\nshops = [\"demo-oa\"]\nmax_concurrent = 3\n"
    );
    let config = parse(&text).unwrap();
    let admin = config.admin.as_ref().unwrap();
    assert_eq!(admin.assignment, Assignment::RoundRobin);
    assert_eq!(config.agents[0].name, "mei");
    assert_eq!(config.agents[0].max_concurrent, 3);
    assert_eq!(config.agents[0].role, Role::Agent, "the default role");
    assert!(
        !format!("{admin:?}").contains("0123456789abcdef0123"),
        "Debug never prints the token"
    );
    let bad_role = text.replace(
        "max_concurrent = 3\n",
        "max_concurrent = 3\nrole = \"boss\"\n",
    );
    assert!(
        error_text(&bad_role)
            .contains("agents.mei.role: `boss` is not one of agent, supervisor, admin")
    );
    let coupon = config.shops["demo-oa"].coupon_offer().unwrap();
    assert_eq!(coupon.coupon_id, "c10");
    assert_eq!(coupon.fallback_text, "满199减10");

    let unknown_shop = text.replace("shops = [\"demo-oa\"]", "shops = [\"nope\"]");
    let message = error_text(&unknown_shop);
    assert!(message.contains("agents.mei.shops"), "{message}");
    assert!(message.contains("no shop `nope`"), "{message}");

    let short = text.replace("0123456789abcdef0123", "short");
    assert!(error_text(&short).contains("admin.token"));

    let policy = text.replace("round-robin", "random");
    let message = error_text(&policy);
    assert!(
        message.contains("brand.toml:25: admin.assignment"),
        "{message}"
    );
}

#[test]
fn console_timers_default_per_platform_and_bad_ones_name_the_field() {
    let config = parse(GOOD).unwrap();
    assert_eq!(
        config.console.timer("tmall").alert_secs,
        100,
        "Taobao's 100 s"
    );
    assert_eq!(config.console.timer("jd").alert_secs, 30, "JD's 30 s");
    assert_eq!(config.console.timer("wechat"), console::DEFAULT_TIMER);
    assert_eq!(config.console.reassign_after, Duration::from_secs(120));

    let tuned = parse(&format!(
        "{GOOD}\n[console]\nreassign_after_secs = 30\n\n[console.reply_timers.wechat]\nwarn_secs = 20\nalert_secs = 45\n"
    ))
    .unwrap();
    assert_eq!(tuned.console.reassign_after, Duration::from_secs(30));
    assert_eq!(
        tuned.console.timer("wechat"),
        ReplyTimer {
            warn_secs: 20,
            alert_secs: 45
        }
    );

    let unknown = error_text(&format!(
        "{GOOD}\n[console.reply_timers.wechaat]\nwarn_secs = 20\n"
    ));
    assert!(unknown.contains("brand.toml"), "{unknown}");
    assert!(
        unknown.contains("console.reply_timers.wechaat"),
        "{unknown}"
    );
    assert!(unknown.contains("no plugin"), "{unknown}");
    let backwards = error_text(&format!(
        "{GOOD}\n[console.reply_timers.wechat]\nwarn_secs = 90\nalert_secs = 30\n"
    ));
    assert!(backwards.contains("below warn_secs"), "{backwards}");
    let zero = error_text(&format!("{GOOD}\n[console]\nreassign_after_secs = 0\n"));
    assert!(zero.contains("console.reassign_after_secs"), "{zero}");
    assert!(zero.contains("brand.toml:22:"), "{zero}");
}

#[test]
fn alerts_go_only_through_a_shop_with_a_group_robot() {
    let err = error_text(&format!("{GOOD}\n[alerts]\nvia_shop = \"nowhere\"\n"));
    assert!(
        err.contains("alerts.via_shop: no shop `nowhere` is configured"),
        "{err}"
    );
    let err = error_text(&format!("{GOOD}\n[alerts]\nvia_shop = \"demo-oa\"\n"));
    assert!(
        err.contains("shop `demo-oa` has no `robot_key` credential"),
        "{err}"
    );
    let err = error_text(&format!("{GOOD}\n[alerts]\nanger_messages = 1\n"));
    assert!(err.contains("alerts.anger_messages"), "{err}");
}

/// `GOOD` with `[shops.care]` for its shop.
fn with_care(care: &str) -> String {
    format!("{GOOD}\n[shops.care]\n{care}\n")
}

const THANKS: &str =
    "[[shops.care.rules]]\nname = \"thanks\"\non = \"paid\"\ntext = \"订单{order_id}已付款\"\n";

#[test]
fn care_rules_are_read_with_their_limits() {
    let config = parse(&with_care(&format!(
        "via = [\"demo-oa\"]\nquiet_hours = \"22:00-08:00\"\nmost_per_customer = 3\ncap_window_secs = 7200\n{THANKS}\n[[shops.care.rules]]\nname = \"sorry\"\non = \"stuck\"\nstuck_after_secs = 259200\ntext = \"抱歉\"\nwechat_template = \"TPL\"\nfields = {{ keyword1 = \"{{order_id}}\" }}\n"
    )))
    .unwrap();
    let care = config.shops["demo-oa"].care.as_ref().unwrap();
    assert_eq!(care.via, ["demo-oa"]);
    assert_eq!(
        care.quiet_hours,
        Some(QuietHours {
            from_secs: 22 * 3600,
            to_secs: 8 * 3600
        })
    );
    assert_eq!(care.most_per_customer, 3);
    assert_eq!(care.cap_window, Duration::from_secs(7200));
    assert_eq!(care.rules[0].on, CareTrigger::Paid);
    assert_eq!(
        care.rules[1].stuck_after,
        Some(Duration::from_secs(259_200))
    );
    let notice = care.rules[1].wechat.as_ref().unwrap();
    assert_eq!(notice.kind, WechatNoticeKind::Template);
    assert_eq!(notice.fields["keyword1"], "{order_id}");
}

#[test]
fn bad_care_rules_are_refused_naming_line_and_field() {
    let cases = [
        ("via = []\n", "shops.demo-oa.care.via: names no shop"),
        (
            &format!("via = [\"nowhere\"]\n{THANKS}"),
            "shops.demo-oa.care.via: no shop `nowhere` is configured",
        ),
        (
            &format!("via = [\"demo-oa\"]\nquiet_hours = \"22-8\"\n{THANKS}"),
            "shops.demo-oa.care.quiet_hours: `22-8` is not a span",
        ),
        (
            "via = [\"demo-oa\"]\n[[shops.care.rules]]\nname = \"x\"\non = \"delivered\"\ntext = \"t\"\n",
            "shops.demo-oa.care.rules.x.on: `delivered` is no trigger",
        ),
        (
            "via = [\"demo-oa\"]\n[[shops.care.rules]]\nname = \"x\"\non = \"paid\"\ntext = \"订单{order}\"\n",
            "shops.demo-oa.care.rules.x.text: `{order}` is no placeholder",
        ),
        (
            "via = [\"demo-oa\"]\n[[shops.care.rules]]\nname = \"x\"\non = \"stuck\"\ntext = \"t\"\n",
            "needs `stuck_after_secs`",
        ),
        (
            "via = [\"demo-oa\"]\n[[shops.care.rules]]\nname = \"x\"\non = \"paid\"\nstuck_after_secs = 5\ntext = \"t\"\n",
            "shops.demo-oa.care.rules.x.stuck_after_secs: only a `stuck` rule waits",
        ),
        (
            "via = [\"demo-oa\"]\n[[shops.care.rules]]\nname = \"x\"\non = \"paid\"\ntext = \"t\"\nwechat_template = \"T\"\n",
            "shops.demo-oa.care.rules.x.fields: a WeChat template needs its `fields`",
        ),
        (
            &format!("via = [\"demo-oa\"]\n{THANKS}{THANKS}"),
            "must be a unique name",
        ),
    ];
    for (care, expected) in cases {
        let err = error_text(&with_care(care));
        assert!(err.contains(expected), "{care}\n→ {err}");
        assert!(err.contains("brand.toml:"), "{err}");
    }
}
