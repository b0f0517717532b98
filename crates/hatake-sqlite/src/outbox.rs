//! The outbox's writes on SQLite on a connection of their own: a sender's group commit (the
//! outcomes of messages sent and the hand-overs of the next) is one call to a blocking thread
//! with prepared statements, instead of a round trip through the pool's worker thread for each
//! statement. The mail sender waits for this commit before each message's end goes out, so its
//! time is the sender's pace.

use crate::bulk::error;
use hatake_store::{
    Millis, OutboxOutcome, OutboxWritten, StoreError, OUTBOX_ATTEMPT_SQL, OUTBOX_FAILED_SQL, OUTBOX_RETRY_SQL,
    OUTBOX_SENT_SQL, OUTBOX_UNCONFIRMED_SQL,
};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

/// [`hatake_store::OutboxStore::write_outbox`]: outcomes, then hand-overs, in one transaction.
pub(crate) fn write(
    conn: &mut Connection,
    holder: &str,
    hand_overs: &[(i64, String)],
    outcomes: &[(i64, OutboxOutcome)],
    now: Millis,
) -> Result<OutboxWritten, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(error)?;
    let mut written = OutboxWritten::default();
    {
        let mut attempt = tx.prepare_cached(OUTBOX_ATTEMPT_SQL).map_err(error)?;
        for (id, outcome) in outcomes {
            let (name, code, detail, changed) = match outcome {
                OutboxOutcome::Sent { code, detail } => {
                    let changed = tx
                        .prepare_cached(OUTBOX_SENT_SQL)
                        .map_err(error)?
                        .execute(params![now, code, id])
                        .map_err(error)?;
                    ("sent", *code, detail.as_deref(), changed)
                }
                OutboxOutcome::Retry { at, code, detail } => {
                    let changed = tx
                        .prepare_cached(OUTBOX_RETRY_SQL)
                        .map_err(error)?
                        .execute(params![at, code, detail, now, id])
                        .map_err(error)?;
                    ("retry", *code, Some(detail.as_str()), changed)
                }
                OutboxOutcome::Failed { code, detail } => {
                    let changed = tx
                        .prepare_cached(OUTBOX_FAILED_SQL)
                        .map_err(error)?
                        .execute(params![code, detail, now, id])
                        .map_err(error)?;
                    ("failed", *code, Some(detail.as_str()), changed)
                }
                OutboxOutcome::Unconfirmed { detail } => {
                    let changed = tx
                        .prepare_cached(OUTBOX_UNCONFIRMED_SQL)
                        .map_err(error)?
                        .execute(params![detail, now, id])
                        .map_err(error)?;
                    ("unconfirmed", None, Some(detail.as_str()), changed)
                }
            };
            if changed == 0 {
                continue;
            }
            written.finished += changed as u64;
            attempt.execute(params![id, now, name, code, detail]).map_err(error)?;
        }
        let mut hand = tx.prepare_cached(hatake_store::outbox_hand_sql()).map_err(error)?;
        for (id, message_id) in hand_overs {
            let status: Option<String> =
                hand.query_row(params![now, message_id, id, holder], |row| row.get(0)).optional().map_err(error)?;
            match status.as_deref() {
                Some("handed") => written.handed.push(*id),
                Some("cancelled") => written.cancelled.push(*id),
                _ => {}
            }
        }
    }
    tx.commit().map_err(error)?;
    Ok(written)
}
