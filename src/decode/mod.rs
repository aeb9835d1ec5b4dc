//! decode stage (see lib.rs).
