//! One clock for all background work. In production it is the system's; tests use a manual one
//! and move it ("three days later" takes milliseconds): every worker waiting for a time on it
//! wakes as soon as the clock reaches that time.

use hatake_store::Millis;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The time background work reads and waits on. Cloning shares the clock.
#[derive(Clone, Default)]
pub struct Clock {
    manual: Option<Arc<watch::Sender<Millis>>>,
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.manual {
            None => f.write_str("Clock::system"),
            Some(now) => write!(f, "Clock::manual({})", *now.borrow()),
        }
    }
}

/// Milliseconds since the Unix epoch, by the system's clock.
pub fn system_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Clock {
    /// The system's clock.
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// A clock that stands at `start` until it is moved ([`Clock::advance`], [`Clock::set`]).
    pub fn manual(start: Millis) -> Self {
        Self { manual: Some(Arc::new(watch::Sender::new(start))) }
    }

    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    /// Now, in milliseconds since the Unix epoch.
    pub fn now(&self) -> Millis {
        match &self.manual {
            Some(now) => *now.borrow(),
            None => system_millis(),
        }
    }

    /// Moves a manual clock on by `by` and returns the new time; waiters whose time has come
    /// wake. The system's clock cannot be moved: `None`.
    pub fn advance(&self, by: Duration) -> Option<Millis> {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let now = self.manual.as_ref()?;
        now.send_modify(|now| *now = now.saturating_add(by));
        Some(*now.borrow())
    }

    /// Sets a manual clock to `at` (never backwards: an earlier time is ignored). `None` for the
    /// system's clock.
    pub fn set(&self, at: Millis) -> Option<Millis> {
        let now = self.manual.as_ref()?;
        now.send_if_modified(|now| {
            let later = at > *now;
            if later {
                *now = at;
            }
            later
        });
        Some(*now.borrow())
    }

    /// Waits until the clock reads `deadline` or later.
    pub async fn sleep_until(&self, deadline: Millis) {
        match &self.manual {
            Some(now) => {
                let mut reader = now.subscribe();
                // The sender lives as long as this clock, so the wait ends only by time.
                let _ = reader.wait_for(|now| *now >= deadline).await;
            }
            None => {
                let wait = deadline.saturating_sub(system_millis()).max(0);
                tokio::time::sleep(Duration::from_millis(u64::try_from(wait).unwrap_or(0))).await;
            }
        }
    }

    /// Waits for `by` on this clock.
    pub async fn sleep(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.sleep_until(self.now().saturating_add(by)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_wakes_its_sleepers_when_moved() {
        let clock = Clock::manual(1_000);
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move {
                clock.sleep(Duration::from_secs(3 * 24 * 3_600)).await;
                clock.now()
            }
        });
        tokio::task::yield_now().await;
        assert_eq!(clock.advance(Duration::from_secs(24 * 3_600)), Some(1_000 + 86_400_000));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished(), "one day of three");
        clock.set(1_000 + 3 * 86_400_000);
        let woke = tokio::time::timeout(Duration::from_secs(1), sleeper).await.expect("woke at once").unwrap();
        assert_eq!(woke, 1_000 + 3 * 86_400_000);
        assert_eq!(clock.set(5), Some(woke), "never backwards");
        assert_eq!(Clock::system().advance(Duration::from_secs(1)), None);
    }
}
