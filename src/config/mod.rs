//! config stage (see lib.rs).
