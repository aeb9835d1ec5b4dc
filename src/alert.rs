//! Alerts: what every detector produces.
