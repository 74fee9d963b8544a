//! The contract versions the host speaks, each in its own module with the
//! conversions between its generated types and the host's own records
//! ([`crate::model`]), as Zed's extension host keeps one module per WIT
//! version. A new version is linked beside the old ones (one linker each)
//! without touching stored data.

pub mod v0_1;
pub mod v0_2;

use wasmtime::component::Component;

/// A contract version this host links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Contract {
    /// `tongdao:channel@0.1.0`: the first; credentials reach the plugin.
    V0_1,
    /// `tongdao:channel@0.2.0`: typed secrets the host signs with.
    V0_2,
}

impl Contract {
    /// Every version this host links, oldest first.
    pub const ALL: [Contract; 2] = [Contract::V0_1, Contract::V0_2];

    /// The version's package name, as manifests and the index write it.
    pub fn wit(self) -> &'static str {
        match self {
            Contract::V0_1 => "tongdao:channel@0.1.0",
            Contract::V0_2 => "tongdao:channel@0.2.0",
        }
    }

    /// The channel interface a component of this version exports.
    pub fn interface(self) -> &'static str {
        match self {
            Contract::V0_1 => "tongdao:channel/channel@0.1.0",
            Contract::V0_2 => "tongdao:channel/channel@0.2.0",
        }
    }

    /// The version a manifest names, if this host links it.
    pub fn from_wit(wit: &str) -> Option<Contract> {
        Contract::ALL.into_iter().find(|c| c.wit() == wit)
    }

    /// The version whose channel interface the component exports, or why
    /// none is.
    pub fn of(component: &Component) -> Result<Contract, String> {
        let found: Vec<Contract> = Contract::ALL
            .into_iter()
            .filter(|c| component.get_export_index(None, c.interface()).is_some())
            .collect();
        match found.as_slice() {
            [one] => Ok(*one),
            [] => Err(format!(
                "the component exports no channel interface this host links ({})",
                LINKED_WITS.join(", ")
            )),
            _ => Err("the component exports more than one contract version".into()),
        }
    }
}

impl std::fmt::Display for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.wit())
    }
}

/// The contract version plugins built against this host's SDK target.
pub const CURRENT_WIT: &str = "tongdao:channel@0.1.0";

/// The contract versions this host links.
pub const LINKED_WITS: [&str; 2] = ["tongdao:channel@0.1.0", "tongdao:channel@0.2.0"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linked_wits_name_every_contract() {
        assert_eq!(
            LINKED_WITS.to_vec(),
            Contract::ALL.map(Contract::wit).to_vec()
        );
        assert_eq!(
            Contract::from_wit("tongdao:channel@0.2.0"),
            Some(Contract::V0_2)
        );
        assert_eq!(Contract::from_wit("tongdao:channel@0.3.0"), None);
    }
}
