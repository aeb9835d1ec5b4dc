//! pipeline stage (see lib.rs).
