//! syslog stage (see lib.rs).
