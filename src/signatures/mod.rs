//! signatures stage (see lib.rs).
