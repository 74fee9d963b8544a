//! Proactive care's settings per shop (`[shops.care]`): the shops whose
//! channels may carry care messages, the limits every rule obeys (quiet
//! hours, a cap per customer) and the rules themselves, each firing on a
//! commerce event with a text and, for WeChat, a template or subscription
//! message.

use super::Builder;
use crate::config::raw::{RawCare, RawCareRule, Spanned};
use std::collections::BTreeMap;
use std::time::Duration;

/// The placeholders a care message may use, filled from the order event.
pub const PLACEHOLDERS: &[&str] = &["order_id", "refund_id", "amount", "status", "waybill"];

/// A shop's proactive care.
#[derive(Debug, Clone, PartialEq)]
pub struct CareConfig {
    /// Shops whose channels may carry the messages, tried in order for
    /// each customer (a linked WeChat Official Account identity, a WeCom
    /// conversation with its window open, …).
    pub via: Vec<String>,
    /// Beijing-time hours no message goes out in: one due then waits for
    /// their end.
    pub quiet_hours: Option<QuietHours>,
    /// The most care messages one customer identity receives within
    /// [`CareConfig::cap_window`]; a rule over the cap is skipped.
    pub most_per_customer: u32,
    /// The window of the cap.
    pub cap_window: Duration,
    /// The rules.
    pub rules: Vec<CareRule>,
    pub(super) via_line: usize,
}

/// Quiet hours: from one second of the Beijing day to another; wraps past
/// midnight when `from` is later than `to` (22:00–08:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    /// Start, seconds after Beijing midnight.
    pub from_secs: u32,
    /// End (exclusive), seconds after Beijing midnight.
    pub to_secs: u32,
}

/// What a care rule fires on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CareTrigger {
    /// The order was paid: a thank-you.
    Paid,
    /// The order was shipped: the waybill.
    Shipped,
    /// The parcel was signed for (or the trade completed): how did it go.
    SignedFor,
    /// A refund was approved or paid: a confirmation.
    RefundApproved,
    /// A shipped order with no logistics update for the rule's
    /// `stuck_after`: an apology.
    Stuck,
}

impl CareTrigger {
    /// The name written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            CareTrigger::Paid => "paid",
            CareTrigger::Shipped => "shipped",
            CareTrigger::SignedFor => "signed-for",
            CareTrigger::RefundApproved => "refund-approved",
            CareTrigger::Stuck => "stuck",
        }
    }

    const ALL: [CareTrigger; 5] = [
        CareTrigger::Paid,
        CareTrigger::Shipped,
        CareTrigger::SignedFor,
        CareTrigger::RefundApproved,
        CareTrigger::Stuck,
    ];
}

/// The WeChat Official Account message API a rule's message uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WechatNoticeKind {
    /// 模板消息 (`message/template/send`).
    Template,
    /// 订阅通知 (`message/subscribe/bizsend`): only to customers who
    /// subscribed to the template.
    Subscription,
}

/// A rule's WeChat notification: the template and its fields.
#[derive(Debug, Clone, PartialEq)]
pub struct WechatNotice {
    /// Which API.
    pub kind: WechatNoticeKind,
    /// The template id from the account's back office.
    pub template_id: String,
    /// Where tapping the message leads.
    pub url: Option<String>,
    /// The template's fields (`keyword1`, `thing2`, …) with placeholders.
    pub fields: BTreeMap<String, String>,
}

/// One care rule.
#[derive(Debug, Clone, PartialEq)]
pub struct CareRule {
    /// The rule's name, unique in the shop: with the order, the key that
    /// lets it fire once.
    pub name: String,
    /// What it fires on.
    pub on: CareTrigger,
    /// The message, with `{order_id}`-style placeholders: sent as text in
    /// a chat window, and as the fallback of a notification.
    pub text: String,
    /// For [`CareTrigger::Stuck`]: how long without a logistics update.
    pub stuck_after: Option<Duration>,
    /// The WeChat notification, for customers reached on an Official
    /// Account outside its chat window.
    pub wechat: Option<WechatNotice>,
}

impl Builder {
    /// Validates `[shops.care]` of shop `id` (its `via` shops are checked
    /// once every shop is known, by [`Builder::check_care_via`]).
    pub(super) fn care(
        &self,
        id: &str,
        raw: Spanned<RawCare>,
    ) -> Result<CareConfig, super::ConfigError> {
        let section = raw.into_inner();
        let field = |name: &str| format!("shops.{id}.care.{name}");
        let via_line = self.source.line_of_span(&section.via);
        if section.via.get_ref().is_empty() {
            return Err(self.error(
                &section.via,
                &field("via"),
                "names no shop; list the shops whose channels may carry care messages".into(),
            ));
        }
        let via = section
            .via
            .into_inner()
            .into_iter()
            .map(Spanned::into_inner)
            .collect();
        let quiet_hours = match &section.quiet_hours {
            Some(text) => Some(
                QuietHours::parse(text.get_ref())
                    .map_err(|why| self.error(text, &field("quiet_hours"), why))?,
            ),
            None => None,
        };
        let most_per_customer = self
            .bounded(
                &section.most_per_customer,
                &field("most_per_customer"),
                1,
                100,
            )?
            .unwrap_or(2) as u32;
        let cap_window = Duration::from_secs(
            self.bounded(
                &section.cap_window_secs,
                &field("cap_window_secs"),
                1,
                90 * 86_400,
            )?
            .unwrap_or(86_400),
        );
        let mut rules: Vec<CareRule> = Vec::new();
        for raw_rule in section.rules {
            let rule = self.care_rule(id, raw_rule, &rules)?;
            rules.push(rule);
        }
        Ok(CareConfig {
            via,
            quiet_hours,
            most_per_customer,
            cap_window,
            rules,
            via_line,
        })
    }

    fn care_rule(
        &self,
        id: &str,
        raw: Spanned<RawCareRule>,
        earlier: &[CareRule],
    ) -> Result<CareRule, super::ConfigError> {
        let rule = raw.into_inner();
        let name = rule.name.get_ref().clone();
        let field = |key: &str| format!("shops.{id}.care.rules.{name}.{key}");
        if !super::is_identifier(&name) || earlier.iter().any(|r| r.name == name) {
            return Err(self.error(
                &rule.name,
                &format!("shops.{id}.care.rules.name"),
                format!("`{name}` must be a unique name of lower-case letters, digits, `-` or `_`"),
            ));
        }
        let Some(on) = CareTrigger::ALL
            .into_iter()
            .find(|t| t.as_str() == rule.on.get_ref())
        else {
            return Err(self.error(
                &rule.on,
                &field("on"),
                format!(
                    "`{}` is no trigger; use one of {:?}",
                    rule.on.get_ref(),
                    CareTrigger::ALL.map(CareTrigger::as_str)
                ),
            ));
        };
        let stuck_after = self.bounded(
            &rule.stuck_after_secs,
            &field("stuck_after_secs"),
            1,
            90 * 86_400,
        )?;
        match (on, stuck_after) {
            (CareTrigger::Stuck, None) => {
                return Err(self.error(
                    &rule.on,
                    &field("stuck_after_secs"),
                    "a `stuck` rule needs `stuck_after_secs`, how long without a logistics update"
                        .into(),
                ));
            }
            (CareTrigger::Stuck, Some(_)) if earlier.iter().any(|r| r.on == CareTrigger::Stuck) => {
                return Err(self.error(
                    &rule.on,
                    &field("on"),
                    "a shop has at most one `stuck` rule".into(),
                ));
            }
            _ => {}
        }
        if let (false, Some(at)) = (on == CareTrigger::Stuck, &rule.stuck_after_secs) {
            return Err(self.error(
                at,
                &field("stuck_after_secs"),
                "only a `stuck` rule waits".into(),
            ));
        }
        let text = rule.text.get_ref().trim().to_owned();
        if text.is_empty() {
            return Err(self.error(&rule.text, &field("text"), "is empty".into()));
        }
        self.placeholders(&rule.text, &field("text"))?;
        let wechat = match (rule.wechat_template, rule.wechat_subscription) {
            (Some(a), Some(_)) => {
                return Err(self.error(
                    &a,
                    &field("wechat_template"),
                    "give a template or a subscription template, not both".into(),
                ));
            }
            (Some(template), None) => Some((WechatNoticeKind::Template, template)),
            (None, Some(template)) => Some((WechatNoticeKind::Subscription, template)),
            (None, None) => None,
        };
        let wechat = match wechat {
            Some((kind, template)) => {
                let Some(raw_fields) = rule.fields else {
                    return Err(self.error(
                        &template,
                        &field("fields"),
                        "a WeChat template needs its `fields` (e.g. { keyword1 = \"{order_id}\" })"
                            .into(),
                    ));
                };
                let mut fields = BTreeMap::new();
                for (key, value) in raw_fields.into_inner() {
                    self.placeholders(&value, &field(&format!("fields.{key}")))?;
                    fields.insert(key, value.into_inner());
                }
                Some(WechatNotice {
                    kind,
                    template_id: template.into_inner(),
                    url: rule.url.map(Spanned::into_inner),
                    fields,
                })
            }
            None => None,
        };
        Ok(CareRule {
            name,
            on,
            text,
            stuck_after: stuck_after.map(Duration::from_secs),
            wechat,
        })
    }

    /// Every `{name}` in `text` must be a known placeholder.
    fn placeholders(&self, text: &Spanned<String>, field: &str) -> Result<(), super::ConfigError> {
        for name in placeholder_names(text.get_ref()) {
            if !PLACEHOLDERS.contains(&name) {
                return Err(self.error(
                    text,
                    field,
                    format!("`{{{name}}}` is no placeholder; use {PLACEHOLDERS:?}"),
                ));
            }
        }
        Ok(())
    }

    /// Each shop's care `via` names configured shops.
    pub(super) fn check_care_via(
        &self,
        shops: &BTreeMap<String, super::ShopConfig>,
    ) -> Result<(), super::ConfigError> {
        for shop in shops.values() {
            let Some(care) = &shop.care else { continue };
            for via in &care.via {
                if !shops.contains_key(via) {
                    return Err(self.source.error(
                        care.via_line,
                        &format!("shops.{}.care.via", shop.id),
                        format!("no shop `{via}` is configured"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The names between braces in `text`.
pub fn placeholder_names(text: &str) -> impl Iterator<Item = &str> {
    text.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
}

impl QuietHours {
    /// Parses `HH:MM-HH:MM` (seconds allowed: `HH:MM:SS`).
    pub fn parse(text: &str) -> Result<QuietHours, String> {
        let bad = || format!("`{text}` is not a span of Beijing time like \"22:00-08:00\"");
        let (from, to) = text.split_once('-').ok_or_else(bad)?;
        let time = |part: &str| -> Option<u32> {
            let mut pieces = part.trim().split(':');
            let hours: u32 = pieces.next()?.parse().ok()?;
            let minutes: u32 = pieces.next()?.parse().ok()?;
            let seconds: u32 = match pieces.next() {
                Some(s) => s.parse().ok()?,
                None => 0,
            };
            (pieces.next().is_none() && hours < 24 && minutes < 60 && seconds < 60)
                .then_some(hours * 3600 + minutes * 60 + seconds)
        };
        let (from_secs, to_secs) = (time(from).ok_or_else(bad)?, time(to).ok_or_else(bad)?);
        if from_secs == to_secs {
            return Err(format!("`{text}` starts and ends at the same time"));
        }
        Ok(QuietHours { from_secs, to_secs })
    }
}
