//! Output: the EVE JSON writer (Suricata-compatible records).

pub mod eve;
pub mod json;
pub mod rotate;

pub use eve::{EveBuf, EveWriter, EventType, EventTypes, FlowRecord};
