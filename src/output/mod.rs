//! output stage (see lib.rs).
