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
            "shops.demo-oa.api_base.\"api.weixin.qq.com\": `not a url` is not an http(s) base URL"
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
