//! Checkpoints of the write-ahead log on a thread and connection of their own.
//!
//! SQLite copies the log back into the database file ("checkpoints") in the commit that makes
//! the log longer than a threshold, so whoever commits then waits for the copying. After a
//! large import that could be seconds of someone's click. This thread checkpoints passively
//! (never waiting for readers or writers) every [`INTERVAL`] and when asked, so the commits of
//! the pool and of the bulk writer find the log mostly copied already. While the log grows
//! (events arriving all the time) it checkpoints every [`BUSY_INTERVAL`], so that the commit
//! which bounds the log (the event writer's, `events.rs`) finds only the last moments left to
//! copy, and once writes pause the next commit starts the log again from its beginning.

use std::path::Path;
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::time::Duration;

/// How often the log is checkpointed when nobody asks.
pub(crate) const INTERVAL: Duration = Duration::from_secs(1);

/// How often while the log grows.
pub(crate) const BUSY_INTERVAL: Duration = Duration::from_millis(50);

/// The handle of the checkpointing thread; the thread ends when the last handle is dropped.
pub(crate) struct Checkpointer {
    wake: SyncSender<()>,
}

impl Checkpointer {
    pub(crate) fn start(path: &Path) -> Self {
        let (wake, receive) = sync_channel::<()>(1);
        let path = path.to_owned();
        let spawned = std::thread::Builder::new().name("hatake-checkpoint".into()).spawn(move || {
            let mut conn = None;
            // Frames in the log at the last checkpoint, and whether it is growing.
            let (mut last_frames, mut growing) = (0_i64, false);
            loop {
                match receive.recv_timeout(if growing { BUSY_INTERVAL } else { INTERVAL }) {
                    Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
                if conn.is_none() {
                    conn = crate::bulk::open(&path).ok();
                }
                if let Some(conn) = &conn {
                    // (busy, frames in the log, frames copied)
                    match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                        Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
                    }) {
                        Ok((frames, copied)) => {
                            growing = frames != last_frames || copied < frames;
                            last_frames = frames;
                        }
                        Err(e) => tracing::debug!(error = %e, "checkpoint skipped"),
                    }
                }
            }
        });
        if let Err(e) = spawned {
            // Without the thread, commits checkpoint as SQLite does by default.
            tracing::warn!(error = %e, "cannot start the checkpointing thread");
        }
        Self { wake }
    }

    /// Asks for a checkpoint now (after a large write).
    pub(crate) fn now(&self) {
        let _ = self.wake.try_send(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages a writer left in the log reach the database file without anyone committing again.
    #[test]
    fn the_log_is_copied_behind_the_writer() {
        let dir = std::env::temp_dir().join(format!("hatake-checkpoint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("test.db");
        let writer = rusqlite::Connection::open(&path).expect("open");
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (v TEXT); \
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
                 INSERT INTO t SELECT printf('%01000d', i) FROM n;",
            )
            .expect("write");
        let file_size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(file_size() < 100_000, "the rows are in the log only: {}", file_size());
        let checkpoints = Checkpointer::start(&path);
        checkpoints.now();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while file_size() < 2_000_000 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(file_size() >= 2_000_000, "checkpointed into the file: {}", file_size());
        drop(checkpoints);
        drop(writer);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
