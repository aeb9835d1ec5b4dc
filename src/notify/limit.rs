//! Routing (grade and unit) and the per-destination rate limit: a token
//! bucket whose excess is summarized in one digest message, never dropped
//! without a count.

use std::time::{Duration, Instant};

use super::message::Digest;
use super::IncidentEvent;
use crate::config::Route;
use crate::incident::Incident;
use crate::time::Timestamp;

/// Whether a destination with `route` gets this incident: its grade is
/// `min_grade` or more serious, and (when `units` is not empty) its
/// responsible unit or one of the units it touches is listed.
pub fn routed(route: &Route, i: &Incident) -> bool {
    if i.grade > route.min_grade {
        return false;
    }
    route.units.is_empty()
        || route
            .units
            .iter()
            .any(|u| i.unit.as_deref() == Some(u.as_str()) || i.units.iter().any(|x| x == u))
}

/// A token bucket: `per_min` tokens a minute, holding at most `per_min`.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    capacity: f64,
    tokens: f64,
    per_sec: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(per_min: u32, now: Instant) -> TokenBucket {
        let capacity = f64::from(per_min.max(1));
        TokenBucket {
            capacity,
            tokens: capacity,
            per_sec: capacity / 60.0,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.per_sec).min(self.capacity);
        self.last = now;
    }

    /// Takes a token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Time until a token is available (zero if one is).
    pub fn wait(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(((1.0 - self.tokens) / self.per_sec).max(0.001))
        }
    }
}

/// What the gate decided for one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Send it.
    Send,
    /// Over the rate: counted into the digest.
    Held,
}

/// Rate limit with the digest of what it held back.
#[derive(Debug)]
pub struct Gate {
    bucket: TokenBucket,
    digest: Digest,
}

impl Gate {
    /// A gate of `per_min` messages a minute.
    pub fn new(per_min: u32) -> Gate {
        Gate {
            bucket: TokenBucket::new(per_min, Instant::now()),
            digest: Digest::default(),
        }
    }

    /// Decides for one event. While a digest is pending, events are held
    /// too, so the digest goes out before anything newer.
    pub fn admit(&mut self, ev: &IncidentEvent, now: Instant, wall: Timestamp) -> Admit {
        if self.digest.is_empty() && self.bucket.try_take(now) {
            Admit::Send
        } else {
            self.digest.add(ev, wall);
            Admit::Held
        }
    }

    /// Whether a digest is waiting.
    pub fn pending(&self) -> bool {
        !self.digest.is_empty()
    }

    /// Time until the pending digest may go.
    pub fn digest_wait(&mut self, now: Instant) -> Duration {
        self.bucket.wait(now)
    }

    /// The pending digest, if a token is free to send it.
    pub fn take_digest(&mut self, now: Instant) -> Option<Digest> {
        if self.digest.is_empty() || !self.bucket.try_take(now) {
            return None;
        }
        Some(std::mem::take(&mut self.digest))
    }

    /// The pending digest regardless of the rate (shutdown).
    pub fn drain_digest(&mut self) -> Option<Digest> {
        (!self.digest.is_empty()).then(|| std::mem::take(&mut self.digest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::Grade;
    use crate::notify::message::tests::incident;
    use crate::notify::EventKind;

    #[test]
    fn routing_by_grade_and_unit() {
        let mut i = incident();
        let mut r = Route::default();
        assert!(routed(&r, &i));
        r.min_grade = Grade::II;
        assert!(!routed(&r, &i));
        i.grade = Grade::II;
        assert!(routed(&r, &i));
        r.units = vec!["芒市".into()];
        assert!(!routed(&r, &i));
        i.units.push("芒市".into());
        assert!(routed(&r, &i));
        i.units.clear();
        i.unit = Some("芒市".into());
        assert!(routed(&r, &i));
    }

    #[test]
    fn bucket_and_digest() {
        let t0 = Instant::now();
        let mut g = Gate::new(2);
        let ev = IncidentEvent {
            kind: EventKind::Opened,
            incident: incident(),
        };
        assert_eq!(g.admit(&ev, t0, Timestamp(0)), Admit::Send);
        assert_eq!(g.admit(&ev, t0, Timestamp(0)), Admit::Send);
        for _ in 0..5 {
            assert_eq!(g.admit(&ev, t0, Timestamp(0)), Admit::Held);
        }
        assert!(g.pending());
        assert!(g.take_digest(t0).is_none());
        let w = g.digest_wait(t0);
        assert!(
            w > Duration::from_secs(29) && w <= Duration::from_secs(30),
            "{w:?}"
        );
        // 30 s later one token is back: the digest goes, carrying all five.
        let t1 = t0 + Duration::from_secs(30);
        assert_eq!(g.admit(&ev, t1, Timestamp(0)), Admit::Held);
        let d = g.take_digest(t1).expect("digest");
        assert_eq!(d.suppressed, 6);
        assert!(!g.pending());
        let t2 = t1 + Duration::from_secs(30);
        assert_eq!(g.admit(&ev, t2, Timestamp(0)), Admit::Send);
    }
}
