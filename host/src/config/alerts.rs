//! Risk alerts' settings: how many negative messages within how long make
//! a customer's anger sustained, and the shop whose plugin carries alerts
//! to a group (a WeCom shop posts them to its group robot).

use super::Builder;
use crate::config::raw::{RawAlerts, Spanned};
use std::collections::BTreeMap;
use std::time::Duration;

/// Risk alerts' settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertsConfig {
    /// Negative messages in one conversation, within [`Self::anger_window`],
    /// that raise a sustained-anger alert.
    pub anger_messages: u32,
    /// The window those messages fall in.
    pub anger_window: Duration,
    /// The shop whose plugin posts alerts to a group (its group robot);
    /// none keeps them to the console.
    pub via_shop: Option<String>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            anger_messages: 3,
            anger_window: Duration::from_secs(600),
            via_shop: None,
        }
    }
}

impl Builder {
    pub(super) fn alerts(
        &self,
        raw: Option<Spanned<RawAlerts>>,
        shops: &BTreeMap<String, super::ShopConfig>,
    ) -> Result<AlertsConfig, super::ConfigError> {
        let mut config = AlertsConfig::default();
        let Some(raw) = raw else {
            return Ok(config);
        };
        let section = raw.get_ref();
        if let Some(count) =
            self.bounded(&section.anger_messages, "alerts.anger_messages", 2, 100)?
        {
            config.anger_messages = count as u32;
        }
        if let Some(secs) = self.bounded(
            &section.anger_window_secs,
            "alerts.anger_window_secs",
            10,
            86_400,
        )? {
            config.anger_window = Duration::from_secs(secs);
        }
        if let Some(shop) = &section.via_shop {
            let Some(via) = shops.get(shop.get_ref()) else {
                return Err(self.error(
                    shop,
                    "alerts.via_shop",
                    format!("no shop `{}` is configured", shop.get_ref()),
                ));
            };
            if !via.credentials.contains_key("robot_key") {
                return Err(self.error(
                    shop,
                    "alerts.via_shop",
                    format!(
                        "shop `{}` has no `robot_key` credential (the key of the WeCom group robot alerts are posted to)",
                        shop.get_ref()
                    ),
                ));
            }
            config.via_shop = Some(shop.get_ref().clone());
        }
        Ok(config)
    }
}
