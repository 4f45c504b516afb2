//! `convo-admin sync --rebuild ID`: MySQL is the truth while the bot writes there, so a
//! conversation the sync set aside is brought back by replacing the table's whole copy of
//! it with MySQL's (`Writer::replace_conversation`): its conversation item, its phone claim
//! and every message item — MySQL's messages at positions 0… by (`created_at`, `id`), the
//! table's messages MySQL lacks gone. Then its quarantine record is deleted; the next round
//! of a running sync sees that and compares the conversation whole with MySQL, which brings
//! over any message committed while this ran. Refused, with nothing written, while MySQL
//! lacks the conversation.

use std::fmt;

use anyhow::bail;
use shared::error::StoreError;
use shared::model::{Conversation, Message, Waiting, mask_phone};
use writer::{Claim, Quarantine, ReplaceOutcome, Replaced, Writer};

use super::MAX_CONFLICTS;
use super::legacy_db::LegacyDb;

/// Messages dropped that a report names; it counts the rest.
const NAMED_IDS: usize = 10;

/// What a rebuild replaced.
#[derive(Debug, Clone)]
pub struct Rebuilt {
    /// MySQL's conversation, as written.
    pub conversation: Conversation,
    pub replaced: Replaced,
    /// The quarantine record it deleted, if there was one.
    pub cleared: Option<Quarantine>,
}

/// Rebuilds conversation `id` from MySQL (see the module's comment).
pub async fn rebuild(writer: &Writer, legacy: &LegacyDb, id: u64) -> anyhow::Result<Rebuilt> {
    for _ in 0..MAX_CONFLICTS {
        let Some(row) = legacy.conversations(&[id]).await?.into_iter().next() else {
            bail!(
                "MySQL {} has no conversation {id}: nothing to rebuild it from; the table's copy is \
                 left as it is",
                legacy.name()
            );
        };
        let mut messages = legacy.messages_from(id, None).await?;
        messages.sort_unstable_by_key(Message::chronological_key);
        for (position, m) in messages.iter_mut().enumerate() {
            m.position = position as u64;
        }
        // The ids are MySQL's: the table's counters stay above them, as the sync keeps them.
        let newest_id = messages.iter().map(|m| m.id).max().unwrap_or(0);
        writer.raise_id_counters(id, newest_id).await?;
        let conversation = Conversation {
            message_count: messages.len() as u64,
            last_message: messages.last().map(Message::summary),
            waiting: Waiting::of(&messages),
            ..row
        };
        match writer.replace_conversation(conversation.clone(), messages).await {
            Ok(ReplaceOutcome::Replaced(replaced)) => {
                let cleared = writer.clear_quarantine(id).await?;
                return Ok(Rebuilt {
                    conversation,
                    replaced: *replaced,
                    cleared,
                });
            }
            // Written meanwhile (a sync round, if it was not set aside): read both again.
            Ok(ReplaceOutcome::Conflict) => {}
            Err(StoreError::PhoneTaken(phone, owner)) => bail!(
                "conversation {id}: its phone number in MySQL, {}, belongs to conversation {owner} in \
                 the table; nothing was written (rebuild conversation {owner} first if MySQL gave it \
                 another number)",
                mask_phone(&phone)
            ),
            Err(e) => return Err(e.into()),
        }
    }
    bail!(
        "conversation {id} changed in the table {MAX_CONFLICTS} times while it was rebuilt: \
         something else writes to it"
    )
}

impl fmt::Display for Rebuilt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (c, r) = (&self.conversation, &self.replaced);
        write!(f, "conversation {} rebuilt from MySQL: ", c.id)?;
        match r.written {
            0 => write!(f, "no messages written")?,
            1 => write!(f, "1 message written (position 0)")?,
            n => write!(f, "{n} messages written (positions 0-{})", n - 1)?,
        }
        let named: Vec<String> = r
            .dropped
            .iter()
            .take(NAMED_IDS)
            .map(|p| format!("id {}, created {}", p.id, p.created_at))
            .collect();
        let more = r
            .dropped
            .len()
            .checked_sub(NAMED_IDS)
            .filter(|n| *n > 0)
            .map_or(String::new(), |n| format!("; and {n} more"));
        match r.dropped.len() {
            0 => write!(f, ", no message removed")?,
            1 => write!(f, ", 1 message removed (only in the table: {})", named.concat())?,
            n => write!(
                f,
                ", {n} messages removed (only in the table: {}{more})",
                named.join("; ")
            )?,
        }
        if r.deleted_items > 0 {
            write!(
                f,
                " ({} message items past the new count deleted)",
                r.deleted_items
            )?;
        }
        match &r.previous {
            Some(p) => write!(
                f,
                ", conversation item replaced ({} messages -> {})",
                p.message_count, c.message_count
            )?,
            None => write!(f, ", conversation item written (the table had none)")?,
        }
        let phone = mask_phone(&c.phone_number);
        match &r.claim {
            Claim::Kept => write!(f, ", phone claim kept ({phone})")?,
            Claim::Written => write!(f, ", phone claim written ({phone}; the table had none)")?,
            Claim::Moved { from, released } => {
                write!(f, ", phone claim moved from {} to {phone}", mask_phone(from))?;
                if !released {
                    write!(f, " (the old number's claim was not this conversation's: left)")?;
                }
            }
        }
        match &self.cleared {
            Some(q) => write!(f, "; quarantine cleared ([{}] since {})", q.code, q.since),
            None => write!(f, "; it was not quarantined"),
        }
    }
}
