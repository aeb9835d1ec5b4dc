//! flow stage (see lib.rs).
