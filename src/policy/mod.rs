//! policy stage (see lib.rs).
