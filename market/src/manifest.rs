//! The static manifest, `tongdao-plugin.toml`: what a plugin is and what it
//! asks for, read and reviewed before any of its code runs. It is the
//! authority: the host refuses a plugin whose `describe()` disagrees with
//! it, and the permission prompt a brand sees is built from it alone.

use crate::MarketError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The manifest's file name inside a package.
pub const FILE: &str = "tongdao-plugin.toml";

/// A reply window: at most `max_messages` replies within `window_seconds`
/// of the customer's last message (0 = unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyWindow {
    /// Seconds after the customer's last message.
    pub window_seconds: u32,
    /// Replies per customer message.
    pub max_messages: u32,
}

/// A credential the brand enters for each shop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialSpec {
    /// Its name in the shop's config.
    pub name: String,
    /// What it is, in Chinese.
    pub description: String,
    /// What it is, in English.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description_en: Option<String>,
    /// Whether every shop must give it.
    #[serde(default = "required_by_default")]
    pub required: bool,
    /// A secret the plugin never reads: the host signs with it for the
    /// plugin (`tongdao:channel@0.2.0` and later).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

fn required_by_default() -> bool {
    true
}

/// The type of a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SettingKind {
    /// Any text.
    String,
    /// A whole number, within `min`..=`max` when given.
    Integer,
    /// `true` or `false`.
    Boolean,
}

/// A setting a shop may give the plugin, with its schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingSpec {
    /// Its type.
    pub kind: SettingKind,
    /// What it does.
    pub description: String,
    /// Used when the shop gives none.
    #[serde(default)]
    pub default: Option<toml::Value>,
    /// Smallest integer allowed.
    #[serde(default)]
    pub min: Option<i64>,
    /// Largest integer allowed.
    #[serde(default)]
    pub max: Option<i64>,
}

/// Data about customers a plugin reads from the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataClass {
    /// Messages customers write.
    Messages,
    /// Nicknames and platform ids.
    CustomerIdentity,
    /// Orders, amounts and their state.
    Orders,
    /// Parcels and their route.
    Logistics,
    /// Shipping addresses.
    Addresses,
    /// Phone numbers.
    PhoneNumbers,
}

impl DataClass {
    /// How the permission prompt names it: (Chinese, English).
    pub fn words(self) -> (&'static str, &'static str) {
        match self {
            DataClass::Messages => ("客户发来的消息", "customers' messages"),
            DataClass::CustomerIdentity => ("客户昵称和平台账号", "customers' nicknames and ids"),
            DataClass::Orders => ("订单及金额", "orders and amounts"),
            DataClass::Logistics => ("物流轨迹", "parcels and their route"),
            DataClass::Addresses => ("收货地址", "shipping addresses"),
            DataClass::PhoneNumbers => ("手机号", "phone numbers"),
        }
    }
}

/// `tongdao-plugin.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The plugin's name (lowercase letters, digits, `-`).
    pub name: String,
    /// Its version.
    pub version: semver::Version,
    /// Who publishes it (a publisher id in the marketplace's key list).
    pub publisher: String,
    /// The contract it targets, e.g. `tongdao:channel@0.1.0`.
    pub wit: String,
    /// The lowest host version that runs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_host: Option<semver::Version>,
    /// The platform it speaks for.
    pub platform: String,
    /// One line about it.
    #[serde(default)]
    pub description: String,
    /// How events arrive: `push`, `stream`, `poll`.
    #[serde(default)]
    pub ingestion: Vec<String>,
    /// Hosts it may send requests to.
    #[serde(default)]
    pub egress_hosts: Vec<String>,
    /// Content the platform renders natively.
    #[serde(default)]
    pub content_kinds: Vec<String>,
    /// Actions it performs.
    #[serde(default)]
    pub actions: Vec<String>,
    /// The longest text message, in bytes.
    pub max_text_bytes: u32,
    /// The channel's reply window, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_window: Option<ReplyWindow>,
    /// Credentials each shop enters.
    #[serde(default)]
    pub credentials: Vec<CredentialSpec>,
    /// Settings a shop may give, with their schema.
    #[serde(default)]
    pub settings: BTreeMap<String, SettingSpec>,
    /// The customer data it reads.
    #[serde(default)]
    pub reads: BTreeSet<DataClass>,
    /// Deliveries carry the idempotency key to the platform.
    #[serde(default)]
    pub idempotent_delivery: bool,
    /// How often the host polls each feed, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval_ms: Option<u32>,
}

/// What a plugin may do in a shop: what the brand grants at install.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    /// Hosts it may call.
    pub egress_hosts: BTreeSet<String>,
    /// Credentials whose values it is given.
    pub credentials: BTreeSet<String>,
    /// Secret credentials the host signs with for it; their values never
    /// enter the plugin.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub signs_with: BTreeSet<String>,
    /// Customer data it reads.
    pub reads: BTreeSet<DataClass>,
}

impl Permissions {
    /// What `self` asks beyond `granted`, in words; empty when nothing.
    pub fn beyond(&self, granted: &Permissions) -> Vec<String> {
        let mut wider = Vec::new();
        for host in self.egress_hosts.difference(&granted.egress_hosts) {
            wider.push(format!("calls {host}"));
        }
        for credential in self.credentials.difference(&granted.credentials) {
            wider.push(format!("needs credential {credential}"));
        }
        // A secret the host signed with that the plugin now reads is caught
        // above; one it signed with or read before asks nothing new.
        for credential in self
            .signs_with
            .iter()
            .filter(|c| !granted.signs_with.contains(*c) && !granted.credentials.contains(*c))
        {
            wider.push(format!("signs with credential {credential}"));
        }
        for data in self.reads.difference(&granted.reads) {
            wider.push(format!("reads {}", data.words().1));
        }
        wider
    }
}

fn is_name(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
}

fn is_host(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 253
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && value.contains('.')
}

impl Manifest {
    /// Reads and checks a manifest.
    pub fn parse(text: &str) -> Result<Manifest, MarketError> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|err| MarketError::Manifest(err.to_string()))?;
        manifest.check()?;
        Ok(manifest)
    }

    /// The manifest as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a manifest serializes")
    }

    fn check(&self) -> Result<(), MarketError> {
        let bad = |what: String| Err(MarketError::Manifest(what));
        if !is_name(&self.name) {
            return bad(format!(
                "name `{}` must be lowercase letters, digits and `-`",
                self.name
            ));
        }
        if !is_name(&self.publisher) {
            return bad(format!(
                "publisher `{}` must be lowercase letters, digits and `-`",
                self.publisher
            ));
        }
        if crate::wit_version(&self.wit).is_none() {
            return bad(format!(
                "wit `{}` is not `tongdao:channel@MAJOR.MINOR.PATCH`",
                self.wit
            ));
        }
        for host in &self.egress_hosts {
            if !is_host(host) {
                return bad(format!("egress host `{host}` is not a lowercase host name"));
            }
        }
        for shape in &self.ingestion {
            if !["push", "stream", "poll"].contains(&shape.as_str()) {
                return bad(format!("ingestion `{shape}` is not push, stream or poll"));
            }
        }
        let signs =
            crate::wit_version(&self.wit).is_some_and(|v| v >= semver::Version::new(0, 2, 0));
        let mut names = BTreeSet::new();
        for credential in &self.credentials {
            if credential.secret && !signs {
                return bad(format!(
                    "credential `{}` is secret, which needs tongdao:channel@0.2.0 or later (wit is `{}`)",
                    credential.name, self.wit
                ));
            }
            if !names.insert(&credential.name) {
                return bad(format!("credential `{}` is listed twice", credential.name));
            }
        }
        for (name, setting) in &self.settings {
            if let Some(default) = &setting.default {
                let fits = match setting.kind {
                    SettingKind::String => default.is_str(),
                    SettingKind::Integer => default.is_integer(),
                    SettingKind::Boolean => default.is_bool(),
                };
                if !fits {
                    return bad(format!(
                        "setting `{name}`'s default is not a {:?}",
                        setting.kind
                    ));
                }
            }
        }
        Ok(())
    }

    /// What installing it grants.
    pub fn permissions(&self) -> Permissions {
        Permissions {
            egress_hosts: self.egress_hosts.iter().cloned().collect(),
            credentials: self
                .credentials
                .iter()
                .filter(|c| !c.secret)
                .map(|c| c.name.clone())
                .collect(),
            signs_with: self
                .credentials
                .iter()
                .filter(|c| c.secret)
                .map(|c| c.name.clone())
                .collect(),
            reads: self.reads.clone(),
        }
    }

    /// The permission prompt a brand sees before installing, in Chinese and
    /// English, built from the manifest alone.
    pub fn permission_prompt(&self) -> String {
        let mut prompt = format!(
            "{} {}（发布者 publisher: {}）\n",
            self.name, self.version, self.publisher
        );
        if self.egress_hosts.is_empty() {
            prompt.push_str("· 不向任何地址发送请求 / calls no one\n");
        } else {
            prompt.push_str(&format!(
                "· 可向以下地址发送请求 / may send requests to: {}\n",
                self.egress_hosts.join(", ")
            ));
        }
        let described = |secret: bool| -> Vec<String> {
            self.credentials
                .iter()
                .filter(|c| c.secret == secret)
                .map(|c| format!("{}（{}）", c.name, c.description))
                .collect()
        };
        let given = described(false);
        if !given.is_empty() {
            prompt.push_str(&format!("· 需要 / needs: {}\n", given.join("、")));
        }
        let kept = described(true);
        if !kept.is_empty() {
            prompt.push_str(&format!(
                "· 由主机代为签名，插件看不到 / signed with by the host, never shown to the plugin: {}\n",
                kept.join("、")
            ));
        }
        if !self.reads.is_empty() {
            let zh: Vec<&str> = self.reads.iter().map(|d| d.words().0).collect();
            let en: Vec<&str> = self.reads.iter().map(|d| d.words().1).collect();
            prompt.push_str(&format!(
                "· 会读取 / reads: {} / {}\n",
                zh.join("、"),
                en.join(", ")
            ));
        }
        prompt
    }

    /// Checks a shop's settings against the schema: unknown names, wrong
    /// types, integers out of range.
    pub fn check_settings(&self, given: &BTreeMap<String, String>) -> Result<(), MarketError> {
        for (name, value) in given {
            let Some(spec) = self.settings.get(name) else {
                return Err(MarketError::Manifest(format!(
                    "setting `{name}` is not one of {:?}",
                    self.settings.keys().collect::<Vec<_>>()
                )));
            };
            match spec.kind {
                SettingKind::String => {}
                SettingKind::Boolean => {
                    if value != "true" && value != "false" {
                        return Err(MarketError::Manifest(format!(
                            "setting `{name}` must be true or false, not `{value}`"
                        )));
                    }
                }
                SettingKind::Integer => {
                    let number: i64 = value.parse().map_err(|_| {
                        MarketError::Manifest(format!(
                            "setting `{name}` must be a whole number, not `{value}`"
                        ))
                    })?;
                    if spec.min.is_some_and(|min| number < min)
                        || spec.max.is_some_and(|max| number > max)
                    {
                        return Err(MarketError::Manifest(format!(
                            "setting `{name}` = {number} is outside {:?}..={:?}",
                            spec.min, spec.max
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A manifest like the WeChat plugin's.
    pub(crate) const WECHAT: &str = r#"
name = "wechat"
version = "0.3.0"
publisher = "tongdao"
wit = "tongdao:channel@0.1.0"
platform = "wechat-official-account"
description = "微信公众号客服消息"
ingestion = ["push"]
egress_hosts = ["api.weixin.qq.com"]
content_kinds = ["text", "image"]
actions = ["send-message"]
max_text_bytes = 2048
reply_window = { window_seconds = 172800, max_messages = 5 }
reads = ["messages", "customer-identity"]
idempotent_delivery = false

[[credentials]]
name = "app_secret"
description = "公众号 AppSecret"

[[credentials]]
name = "token"
description = "服务器配置 Token"

[settings.timestamp_tolerance_secs]
kind = "integer"
description = "How old a push may be"
default = 300
min = 1
max = 3600
"#;

    #[test]
    fn a_manifest_reads_and_prompts_from_itself_alone() {
        let manifest = Manifest::parse(WECHAT).unwrap();
        assert_eq!(manifest.version, semver::Version::new(0, 3, 0));
        let prompt = manifest.permission_prompt();
        assert!(prompt.contains("api.weixin.qq.com"), "{prompt}");
        assert!(prompt.contains("公众号 AppSecret"), "{prompt}");
        assert!(
            prompt.contains("客户昵称") && prompt.contains("customers' messages"),
            "{prompt}"
        );
        let again = Manifest::parse(&manifest.to_toml()).unwrap();
        assert_eq!(again, manifest);
    }

    #[test]
    fn secret_credentials_need_0_2_0_and_are_prompted_as_kept_by_the_host() {
        let secret = WECHAT.replace(
            "description = \"公众号 AppSecret\"",
            "description = \"公众号 AppSecret\"\nsecret = true",
        );
        let refused = Manifest::parse(&secret).unwrap_err().to_string();
        assert!(
            refused.contains("`app_secret` is secret") && refused.contains("0.2.0"),
            "{refused}"
        );
        let manifest =
            Manifest::parse(&secret.replace("tongdao:channel@0.1.0", "tongdao:channel@0.2.0"))
                .unwrap();
        let prompt = manifest.permission_prompt();
        assert!(
            prompt.contains("never shown to the plugin: app_secret（公众号 AppSecret）"),
            "{prompt}"
        );
        let permissions = manifest.permissions();
        assert_eq!(
            permissions.signs_with,
            BTreeSet::from(["app_secret".into()])
        );
        assert_eq!(permissions.credentials, BTreeSet::from(["token".into()]));
        assert_eq!(Manifest::parse(&manifest.to_toml()).unwrap(), manifest);
    }

    #[test]
    fn reading_a_secret_the_host_signed_with_widens_and_the_reverse_does_not() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        let signs = Permissions {
            credentials: names(&["token"]),
            signs_with: names(&["app_secret"]),
            ..Permissions::default()
        };
        let reads = Permissions {
            credentials: names(&["token", "app_secret"]),
            ..Permissions::default()
        };
        assert_eq!(reads.beyond(&signs), vec!["needs credential app_secret"]);
        assert!(signs.beyond(&reads).is_empty());
        // A grant recorded before secrets existed reads as one that signs
        // with nothing.
        let old: Permissions = serde_json::from_str(
            r#"{"egress_hosts":[],"credentials":["token","app_secret"],"reads":[]}"#,
        )
        .unwrap();
        assert!(old.signs_with.is_empty());
        assert!(signs.beyond(&old).is_empty());
        let more = Permissions {
            signs_with: names(&["app_secret", "aes_key"]),
            ..signs.clone()
        };
        assert_eq!(more.beyond(&signs), vec!["signs with credential aes_key"]);
    }

    #[test]
    fn bad_manifests_say_what_is_wrong() {
        let wrong_name = WECHAT.replace("name = \"wechat\"", "name = \"WeChat\"");
        assert!(
            Manifest::parse(&wrong_name)
                .unwrap_err()
                .to_string()
                .contains("name `WeChat`")
        );
        let wrong_wit = WECHAT.replace("tongdao:channel@0.1.0", "other:thing@1");
        assert!(
            Manifest::parse(&wrong_wit)
                .unwrap_err()
                .to_string()
                .contains("wit")
        );
        let unknown = format!("{WECHAT}\nsurprise = 1\n");
        assert!(
            Manifest::parse(&unknown)
                .unwrap_err()
                .to_string()
                .contains("surprise")
        );
        let bad_default = WECHAT.replace("default = 300", "default = \"soon\"");
        assert!(
            Manifest::parse(&bad_default)
                .unwrap_err()
                .to_string()
                .contains("default")
        );
    }

    #[test]
    fn settings_are_checked_against_the_schema() {
        let manifest = Manifest::parse(WECHAT).unwrap();
        let given = |value: &str| {
            BTreeMap::from([("timestamp_tolerance_secs".to_owned(), value.to_owned())])
        };
        manifest.check_settings(&given("300")).unwrap();
        assert!(manifest.check_settings(&given("0")).is_err());
        assert!(manifest.check_settings(&given("soon")).is_err());
        let unknown = BTreeMap::from([("colour".to_owned(), "red".to_owned())]);
        assert!(manifest.check_settings(&unknown).is_err());
    }

    #[test]
    fn a_wider_version_is_told_apart() {
        let old = Manifest::parse(WECHAT).unwrap();
        let wider = Manifest::parse(&WECHAT.replace(
            "egress_hosts = [\"api.weixin.qq.com\"]",
            "egress_hosts = [\"api.weixin.qq.com\", \"sh.api.weixin.qq.com\"]",
        ))
        .unwrap();
        assert!(old.permissions().beyond(&old.permissions()).is_empty());
        assert_eq!(
            wider.permissions().beyond(&old.permissions()),
            ["calls sh.api.weixin.qq.com"]
        );
        assert!(
            old.permissions().beyond(&wider.permissions()).is_empty(),
            "narrower is fine"
        );
    }
}
