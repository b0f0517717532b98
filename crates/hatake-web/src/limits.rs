//! Rate limits for public endpoints: at most `max` events per key within a fixed window (per
//! process; several servers each apply it, which still bounds a flood).

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug)]
pub struct RateLimiter {
    max: u32,
    window_millis: i64,
    seen: Mutex<HashMap<String, (u32, i64)>>,
}

impl RateLimiter {
    pub fn new(max: u32, window_millis: i64) -> Self {
        Self { max, window_millis, seen: Mutex::new(HashMap::new()) }
    }

    /// Counts one event for `key`; false when the key is over its limit (the event is then not
    /// counted).
    pub fn allow(&self, key: &str, now: i64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.len() > 100_000 {
            seen.retain(|_, (_, since)| now - *since <= self.window_millis);
        }
        let entry = seen.entry(key.to_owned()).or_insert((0, now));
        if now - entry.1 > self.window_millis {
            *entry = (0, now);
        }
        if entry.0 >= self.max {
            return false;
        }
        entry.0 += 1;
        true
    }

    /// Milliseconds until `key` may go again (0 when it may now).
    pub fn retry_after(&self, key: &str, now: i64) -> i64 {
        let seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.get(key).map_or(
            0,
            |(count, since)| {
                if *count >= self.max {
                    (since + self.window_millis - now).max(0)
                } else {
                    0
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_limited_within_its_window_only() {
        let limiter = RateLimiter::new(3, 1_000);
        assert!((0..3).all(|i| limiter.allow("a", i)));
        assert!(!limiter.allow("a", 10));
        assert_eq!(limiter.retry_after("a", 10), 990);
        assert!(limiter.allow("b", 10), "another key has its own count");
        assert!(limiter.allow("a", 1_001), "a new window starts");
        assert_eq!(limiter.retry_after("a", 1_001), 0);
    }
}
