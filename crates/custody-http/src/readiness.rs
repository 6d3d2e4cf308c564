//! Worker liveness behind `/readyz` (issue 16).
//!
//! Every background loop of `custody serve` (withdrawal dispatch and webhook delivery per
//! environment, the purge per environment, the replay-cache purge, deposit reconciliation, the
//! instance heartbeat) registers here when it starts and [ticks](Ticker::tick) once per pass.
//! A loop is *stalled* when it has not ticked for its own interval plus
//! `readiness.stall_after_secs` (default 300 s, the worker lease): it hangs, died, or a pass
//! takes longer than a claim's lease. `/readyz` then answers 503 naming it; the
//! `custody_worker_last_tick_age_seconds` gauge shows the same ages to Prometheus.
//!
//! Ticks are process memory (an [`Instant`] per loop), so `/readyz` stays a map read plus the
//! store's `SELECT 1`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// `[readiness]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadinessSettings {
    /// A worker that has not ticked for its interval plus this many seconds makes `/readyz`
    /// answer 503.
    pub stall_after_secs: u64,
}

impl Default for ReadinessSettings {
    fn default() -> ReadinessSettings {
        ReadinessSettings {
            stall_after_secs: 300,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Beat {
    last: Instant,
    every: Duration,
}

/// The registry of worker ticks. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Liveness {
    beats: Arc<Mutex<BTreeMap<String, Beat>>>,
    stall_after: Duration,
}

impl Default for Liveness {
    fn default() -> Liveness {
        Liveness::new(&ReadinessSettings::default())
    }
}

/// One worker's state, as `/readyz` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerState {
    /// `withdrawal_dispatch.sandbox`, `webhook_delivery.live`, `heartbeat`, …
    pub name: String,
    /// Seconds since its last tick.
    pub last_tick_age: Duration,
    /// It is stalled past this.
    pub bound: Duration,
}

impl WorkerState {
    /// Whether it ticked within its bound.
    pub fn alive(&self) -> bool {
        self.last_tick_age <= self.bound
    }
}

impl Liveness {
    /// An empty registry.
    pub fn new(settings: &ReadinessSettings) -> Liveness {
        Liveness {
            beats: Arc::new(Mutex::new(BTreeMap::new())),
            stall_after: Duration::from_secs(settings.stall_after_secs),
        }
    }

    fn beats(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Beat>> {
        self.beats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a worker that ticks about every `every`, as having ticked now.
    pub fn register(&self, name: impl Into<String>, every: Duration) -> Ticker {
        let name = name.into();
        self.beats().insert(
            name.clone(),
            Beat {
                last: Instant::now(),
                every,
            },
        );
        Ticker {
            liveness: self.clone(),
            name,
        }
    }

    /// Every registered worker, by name.
    pub fn report(&self) -> Vec<WorkerState> {
        let now = Instant::now();
        self.beats()
            .iter()
            .map(|(name, beat)| WorkerState {
                name: name.clone(),
                last_tick_age: now.saturating_duration_since(beat.last),
                bound: beat.every + self.stall_after,
            })
            .collect()
    }

    /// Moves a worker's last tick `ago` into the past, as if it had stalled since (tests and
    /// drills inject a stall with it). Unknown names are ignored.
    pub fn backdate(&self, name: &str, ago: Duration) {
        if let Some(beat) = self.beats().get_mut(name) {
            beat.last = Instant::now().checked_sub(ago).unwrap_or(beat.last);
        }
    }
}

/// What a worker ticks with.
#[derive(Debug, Clone)]
pub struct Ticker {
    liveness: Liveness,
    name: String,
}

impl Ticker {
    /// Records a pass now.
    pub fn tick(&self) {
        if let Some(beat) = self.liveness.beats().get_mut(&self.name) {
            beat.last = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_is_stalled_past_its_interval_plus_the_bound() {
        let liveness = Liveness::new(&ReadinessSettings {
            stall_after_secs: 10,
        });
        let ticker = liveness.register("purge.sandbox", Duration::from_secs(5));
        let report = liveness.report();
        assert_eq!(report.len(), 1);
        assert_eq!(report[0].bound, Duration::from_secs(15));
        assert!(report[0].alive());
        liveness.backdate("purge.sandbox", Duration::from_secs(16));
        assert!(!liveness.report()[0].alive());
        ticker.tick();
        assert!(liveness.report()[0].alive());
    }
}
