//! The admin API's plugin routes: what serves each shop, and install,
//! upgrade and rollback from the configured marketplace while the host
//! serves. A change is recorded (`installed.json`) before the shop's plugin
//! is swapped, calls under way finish on the plugin they started with, and
//! every change is audited.
//!
//! | method | path | body | role |
//! |---|---|---|---|
//! | GET | `/admin/plugins` | | supervisor |
//! | POST | `/admin/plugins/{shop}/install` | `{"name", "version"?: "^0.1", "grant": bool}` | admin |
//! | POST | `/admin/plugins/{shop}/upgrade` | `{"grant"?: bool}` | admin |
//! | POST | `/admin/plugins/{shop}/rollback` | `{"version"}` | admin |

use super::admin::{Admin, record};
use crate::auth::Principal;
use crate::desk::DeskError;
use crate::installs::{InstallError, Operation};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstallRequest {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    grant: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpgradeRequest {
    #[serde(default)]
    grant: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackRequest {
    version: String,
}

/// What serves every shop, and what each has installed.
pub fn list(host: &Admin) -> Result<Value, DeskError> {
    let state = match &host.market {
        Some(market) => Some(
            market
                .state()
                .map_err(|err| DeskError::Store(format!("{err:#}")))?,
        ),
        None => None,
    };
    let shops: serde_json::Map<String, Value> = host
        .shops
        .iter()
        .map(|shop| {
            let plugin = shop.plugin();
            let installed = state
                .as_ref()
                .and_then(|s| s.shops.get(shop.id()))
                .map(|releases| serde_json::to_value(releases).unwrap_or(Value::Null));
            (
                shop.id().to_owned(),
                json!({
                    "serving": {
                        "source": *shop.source(),
                        "name": plugin.name,
                        "version": plugin.manifest.version,
                        "contract": plugin.contract.wit(),
                        "component_sha256": plugin.digest,
                    },
                    "egress": *shop.egress(),
                    "installed": installed,
                }),
            )
        })
        .collect();
    Ok(json!({ "shops": shops }))
}

/// Install, upgrade or rollback on `shop`, then swap its plugin.
pub async fn change(
    host: &Admin,
    who: &Principal,
    shop_id: &str,
    verb: &str,
    body: &[u8],
) -> Result<Value, DeskError> {
    let Some(market) = &host.market else {
        return Err(DeskError::NotFound(
            "no marketplace is configured ([market] in the config)".into(),
        ));
    };
    let Some(shop) = host.shops.get(shop_id) else {
        return Err(DeskError::NotFound(format!("no shop `{shop_id}`")));
    };
    let invalid =
        |err: serde_json::Error| DeskError::Invalid(format!("the body is not valid: {err}"));
    let version = |text: &str| {
        semver::Version::parse(text).map_err(|err| DeskError::Invalid(format!("`{text}`: {err}")))
    };
    let operation = match verb {
        "install" => {
            let request: InstallRequest = serde_json::from_slice(body).map_err(invalid)?;
            let requirement = request.version.as_deref().unwrap_or("*");
            Operation::Install {
                name: request.name,
                version: crate::installs::Wanted::parse(requirement).map_err(DeskError::Invalid)?,
                grant: request.grant,
            }
        }
        "upgrade" => {
            let request: UpgradeRequest = if body.is_empty() {
                UpgradeRequest { grant: false }
            } else {
                serde_json::from_slice(body).map_err(invalid)?
            };
            Operation::Upgrade {
                grant: request.grant,
            }
        }
        "rollback" => {
            let request: RollbackRequest = serde_json::from_slice(body).map_err(invalid)?;
            Operation::Rollback {
                version: version(&request.version)?,
            }
        }
        other => return Err(DeskError::NotFound(format!("no plugin action `{other}`"))),
    };
    let applied = market.apply(&host.runtime, &shop.config, operation).await;
    let (installed, plugin) = match applied {
        Ok(done) => done,
        Err(InstallError::Other(err)) => return Err(DeskError::Invalid(format!("{err:#}"))),
        Err(err) => return Err(DeskError::Conflict(err.to_string())),
    };
    let egress = crate::installs::effective_egress(&shop.config, &installed);
    let replaced = shop.swap_plugin(plugin, egress, crate::installs::source_label(&installed));
    tracing::info!(shop = shop_id, plugin = %installed.name, version = %installed.version, replaced = %replaced.manifest.version, verb, "the shop's plugin changed");
    record(
        host,
        who,
        &format!("plugin-{verb}"),
        Some(shop_id),
        None,
        Some(format!(
            "{} {} → {} {}",
            replaced.name, replaced.manifest.version, installed.name, installed.version
        )),
    )?;
    Ok(json!({ "shop": shop_id, "installed": installed }))
}
