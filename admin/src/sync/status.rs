//! `convo-admin sync --status`: where the sync stands, from the table alone (no MySQL): its
//! checkpoint, when its last round ended and how long ago that is, and the conversations
//! it set aside.

use std::fmt;

use anyhow::Context;
use jiff::Timestamp;
use shared::model::{SyncCheckpoint, mask_phone};
use writer::{Quarantine, Writer};

use super::CHECKPOINT;

/// The sync's state as the table holds it.
#[derive(Debug, Clone)]
pub struct SyncStatus {
    pub table: String,
    /// `None`: no sync has run on this table.
    pub checkpoint: Option<SyncCheckpoint>,
    /// By conversation id.
    pub quarantined: Vec<Quarantine>,
    /// When this was read.
    pub now: Timestamp,
}

impl SyncStatus {
    /// When the last round ended: every round saves the checkpoint at its end (a failed
    /// round does not), so this is its `saved_at`.
    pub fn last_round(&self) -> Option<Timestamp> {
        self.checkpoint.map(|c| c.saved_at)
    }

    /// How long ago the last round ended, in whole seconds: how stale the table may be.
    pub fn lag_seconds(&self) -> Option<i64> {
        self.last_round()
            .map(|t| self.now.duration_since(t).as_secs().max(0))
    }
}

/// Reads the sync's state from the table.
pub async fn status(writer: &Writer) -> anyhow::Result<SyncStatus> {
    let checkpoint = writer
        .sync_checkpoint(CHECKPOINT)
        .await
        .context("reading the sync checkpoint")?;
    let quarantined = writer
        .quarantined()
        .await
        .context("reading the conversations the sync set aside")?;
    Ok(SyncStatus {
        table: writer.table_name().to_string(),
        checkpoint,
        quarantined,
        now: shared::model::now_seconds(),
    })
}

/// `42 s`, `7 min 3 s`, `2 h 5 min`, `3 d 4 h`.
fn ago(seconds: i64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3_600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, _) => format!("{m} min {s} s"),
        (0, _, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

impl fmt::Display for SyncStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "sync into {}", self.table)?;
        match (self.checkpoint, self.lag_seconds()) {
            (Some(c), Some(lag)) => {
                writeln!(
                    f,
                    "checkpoint: messages settled through id {}, conversations changed since {}, saved {}",
                    c.settled_message_id, c.conversations_since, c.saved_at
                )?;
                writeln!(
                    f,
                    "last round: ended {}, lag {} (now {})",
                    c.saved_at,
                    ago(lag),
                    self.now
                )?;
            }
            _ => {
                writeln!(f, "checkpoint: none (no sync has run on this table)")?;
                writeln!(f, "last round: never")?;
            }
        }
        write!(f, "quarantined: {}", self.quarantined.len())?;
        if !self.quarantined.is_empty() {
            write!(
                f,
                " (skipped by every round until `convo-admin sync --rebuild ID`)"
            )?;
        }
        for q in &self.quarantined {
            write!(
                f,
                "\n  conversation {}, phone {}, since {}: [{}] {}\n    MySQL's row then: updated_at {}",
                q.conversation_id,
                mask_phone(&q.phone_number),
                q.since,
                q.code,
                q.reason,
                q.legacy_updated_at
            )?;
            if let Some(id) = q.newest_message_id {
                write!(f, ", newest message {id}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lag_reads_in_the_largest_units() {
        assert_eq!(ago(0), "0 s");
        assert_eq!(ago(59), "59 s");
        assert_eq!(ago(423), "7 min 3 s");
        assert_eq!(ago(7_500), "2 h 5 min");
        assert_eq!(ago(3 * 86_400 + 4 * 3_600 + 59), "3 d 4 h");
    }

    #[test]
    fn the_status_lists_the_checkpoint_the_lag_and_each_quarantined_conversation() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let status = SyncStatus {
            table: "conversations".into(),
            checkpoint: Some(SyncCheckpoint {
                settled_message_id: 48_117,
                conversations_since: t("2026-12-04T17:38:22Z"),
                saved_at: t("2026-12-04T17:40:01Z"),
            }),
            quarantined: vec![Quarantine {
                conversation_id: 7,
                phone_number: "573001234567".into(),
                code: "message_not_in_source".into(),
                reason: "conversation 7: the table holds message 9001".into(),
                since: t("2026-12-04T17:39:00Z"),
                legacy_updated_at: t("2026-12-04T17:38:59Z"),
                newest_message_id: Some(48_115),
            }],
            now: t("2026-12-04T17:40:04Z"),
        };
        assert_eq!(status.lag_seconds(), Some(3));
        assert_eq!(
            status.to_string(),
            "sync into conversations\n\
             checkpoint: messages settled through id 48117, conversations changed since \
             2026-12-04T17:38:22Z, saved 2026-12-04T17:40:01Z\n\
             last round: ended 2026-12-04T17:40:01Z, lag 3 s (now 2026-12-04T17:40:04Z)\n\
             quarantined: 1 (skipped by every round until `convo-admin sync --rebuild ID`)\n  \
             conversation 7, phone 5730•••4567, since 2026-12-04T17:39:00Z: [message_not_in_source] \
             conversation 7: the table holds message 9001\n    \
             MySQL's row then: updated_at 2026-12-04T17:38:59Z, newest message 48115"
        );
        let never = SyncStatus {
            checkpoint: None,
            quarantined: Vec::new(),
            ..status
        };
        assert_eq!(
            never.to_string(),
            "sync into conversations\ncheckpoint: none (no sync has run on this table)\n\
             last round: never\nquarantined: 0"
        );
    }
}
