//! Flows: the bidirectional flow table, TCP state and flow timeouts.
//!
//! A worker owns one [`FlowTable`] (its shard); nothing here is shared
//! between threads, so the per-packet path takes no lock.

pub mod key;
pub mod stream;
pub mod table;
pub mod tcp;

pub use key::{Addr, FlowKey};
pub use table::{
    EndReason, Flow, FlowStats, FlowTable, FlowTableConfig, FlowTimeouts, Lookup, TimeoutClass,
};
pub use tcp::{TcpState, TcpTracker};
