//! applayer stage (see lib.rs).
