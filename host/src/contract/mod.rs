//! The contract versions the host speaks, each in its own module with the
//! conversions between its generated types and the host's own records
//! ([`crate::model`]), as Zed's extension host keeps one module per WIT
//! version. A new version is linked beside the old ones without touching
//! stored data.

pub mod v0_1;

/// The contract version plugins built against this host's SDK target.
pub const CURRENT_WIT: &str = "tongdao:channel@0.1.0";

/// The contract versions this host links.
pub const LINKED_WITS: [&str; 1] = [CURRENT_WIT];
