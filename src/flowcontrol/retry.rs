//! `Retry-After` for rejected requests (upstream `dropped_requests_tracker.go`): per priority
//! level, starts at 1 s, doubles (up to 32 s) while rejections keep coming at three or more per
//! second of the current value, and shrinks back by one second at a time when they stop.

use std::collections::HashMap;
use std::sync::Mutex;

const MAX_RETRY_AFTER: i64 = 32;

#[derive(Debug)]
struct Stats {
    /// (unix second, rejections in it), oldest first.
    history: Vec<(i64, i64)>,
    current_unix: i64,
    current_count: i64,
    retry_after: i64,
    updated_unix: i64,
}

impl Stats {
    fn new() -> Stats {
        Stats {
            history: Vec::new(),
            current_unix: 0,
            current_count: 0,
            retry_after: 1,
            updated_unix: 0,
        }
    }

    fn record(&mut self, now: i64) {
        if self.current_unix == now {
            self.current_count += 1;
            return;
        }
        // A new second: file the last one, then reconsider the value.
        self.history.push((self.current_unix, self.current_count));
        let keep = (2 * self.retry_after).min(MAX_RETRY_AFTER);
        let first = self
            .history
            .iter()
            .position(|(t, _)| self.current_unix - t <= keep)
            .unwrap_or(self.history.len());
        self.history.drain(..first);
        self.current_unix = now;
        self.current_count = 1;
        let dropped: i64 = self
            .history
            .iter()
            .rev()
            .take_while(|(t, _)| now - t <= self.retry_after)
            .filter(|(t, _)| *t < now)
            .map(|(_, n)| n)
            .sum();
        if now - self.updated_unix >= self.retry_after && dropped >= 3 * self.retry_after {
            self.retry_after = (self.retry_after * 2).min(MAX_RETRY_AFTER);
            self.updated_unix = now;
        } else if dropped < self.retry_after && self.retry_after > 1 {
            self.retry_after -= 1;
        }
    }
}

/// Rejections per priority level and the `Retry-After` each earns.
#[derive(Debug, Default)]
pub struct DroppedRequests {
    levels: Mutex<HashMap<String, Stats>>,
}

impl DroppedRequests {
    pub fn record(&self, level: &str, unix_now: i64) {
        let mut l = self.levels.lock().unwrap_or_else(|e| e.into_inner());
        l.entry(level.to_string()).or_insert_with(Stats::new).record(unix_now);
    }

    /// Seconds a client rejected at `level` should wait.
    pub fn retry_after(&self, level: &str) -> i64 {
        let l = self.levels.lock().unwrap_or_else(|e| e.into_inner());
        l.get(level).map(|s| s.retry_after).unwrap_or(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_under_sustained_rejections_and_shrinks_after() {
        let d = DroppedRequests::default();
        assert_eq!(d.retry_after("pl"), 1);
        let mut t = 1000;
        for _ in 0..10 {
            for _ in 0..10 {
                d.record("pl", t);
            }
            t += 1;
        }
        let high = d.retry_after("pl");
        assert!(high >= 4, "retry-after grew to {high}");
        assert!(high <= MAX_RETRY_AFTER);
        // Rare rejections (one every third second): it comes back down.
        for _ in 0..200 {
            t += 3;
            d.record("pl", t);
        }
        assert_eq!(d.retry_after("pl"), 1);
        assert_eq!(d.retry_after("other"), 1);
    }
}
