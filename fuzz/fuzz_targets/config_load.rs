//! Fuzz target `config_load`: arbitrary bytes as a config file.
//!
//! Loading must never panic: every input gives a `Config` or a list of
//! located errors. The same path is covered in-crate by the proptests in
//! `src/config/tests.rs`.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use zoneguard::config::{check_errors_json, check_report, Config};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let result = Config::from_yaml_str(text, "fuzz.yaml", Path::new("/etc/zoneguard"));
    // Rendering must not panic either.
    let _ = check_report(&result);
    if let Err(errs) = &result {
        assert!(!errs.errors.is_empty());
        let _ = check_errors_json(errs);
    }
});
