//! # tongdao
//!
//! A host that runs sandboxed WebAssembly channel plugins so a brand serves its
//! customers on every platform through one interface. See `DESIGN.md` in the
//! repository for the architecture.

pub mod config;
pub mod runtime;
