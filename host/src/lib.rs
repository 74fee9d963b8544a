//! # tongdao
//!
//! A host that runs sandboxed WebAssembly channel plugins so a brand serves
//! its customers on every platform through one interface: platforms push,
//! stream or are polled; plugins translate; the host commits events before
//! acknowledging, answers through the bot, and delivers actions through the
//! plugins under hard limits.
//!
//! The modules follow the data flow: [`gateway`] → [`ingest`] → [`store`] →
//! [`pipeline`] → [`delivery`], with [`runtime`] running the plugins and
//! [`server`] assembling the whole from a [`config::Config`].

pub mod answers;
pub mod auth;
pub mod backoff;
pub mod breaker;
pub mod care;
pub mod clock;
pub mod config;
pub mod console;
pub mod contract;
pub mod csat;
pub mod declared;
pub mod delivery;
pub mod desk;
pub mod gateway;
pub mod identity;
pub mod ingest;
pub mod installs;
pub mod kb;
pub mod learning;
pub mod marketplace;
pub mod model;
pub mod outbound;
pub mod pipeline;
pub mod poll;
pub mod replay;
pub mod report;
pub mod responder;
pub mod risk;
pub mod runtime;
pub mod server;
pub mod shops;
pub mod store;
pub mod stream;
pub mod tasks;
pub mod telemetry;
pub mod voc;
