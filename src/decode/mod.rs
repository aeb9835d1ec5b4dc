//! decode stage placeholder (merged from wip/decode).

/// A MAC address.
pub type Mac = [u8; 6];
