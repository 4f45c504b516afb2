//! Write stamps: every write of a conversation item stamps it with the writer's clock
//! (`changed`, and `messages_changed` when its messages change), taken just before the
//! request is sent, so that the dashboard's polls (`poll`) report what became visible
//! after their `last_check` whatever its legacy times say.
//!
//! A stamp is only as good as the time between it and the moment the change became
//! readable. That time is bounded here: a write whose answer came later than
//! [`RESTAMP_AFTER`] after its stamp (or was lost) is stamped again, now, by a small update,
//! so the polls' margins need only cover the clock skew between writers and functions and
//! the indexes' propagation, not a slow network, throttling or the SDK's retries.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use jiff::Timestamp;

use shared::error::{StoreError, classify};
use shared::item::{self, s};
use shared::model::write_stamp;
use shared::table;

use crate::Writer;

/// A write answered this long after its stamp is stamped again.
pub const RESTAMP_AFTER: Duration = Duration::from_millis(200);
/// Re-stamps of one write, each slow itself, before giving up (logged).
const MAX_RESTAMPS: u32 = 5;

/// The stamp of one write attempt: the time it carries and when it was taken (monotonic).
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    pub written: Timestamp,
    taken: Instant,
}

impl Stamp {
    pub fn now() -> Stamp {
        Stamp {
            written: write_stamp(),
            taken: Instant::now(),
        }
    }

    /// Whether the write it stamped answered too late for its stamp (see the module).
    fn late(&self) -> bool {
        self.taken.elapsed() > RESTAMP_AFTER
    }
}

impl Writer {
    /// Called once a write of conversation `id` stamped `stamp` has answered: when it took
    /// longer than `RESTAMP_AFTER`, the conversation is stamped again, now (its messages'
    /// stamp too, for `messages`). Best effort: the write itself is done, so a failure
    /// here is logged, not returned (a caller would otherwise retry a committed write).
    pub async fn settle_stamp(&self, id: u64, stamp: Stamp, messages: bool) {
        if stamp.late() {
            self.stamp_again(id, messages).await;
        }
    }

    /// Stamps conversation `id` now (its messages' stamp too, for `messages`), until a
    /// re-stamp answers in time. For a write whose answer was slow or lost (an earlier
    /// attempt that committed): a stamp later than the write only makes a poll report it
    /// once more. Unconditional but for the item's existence: any later write's stamp is
    /// older than now, so none is undone.
    pub async fn stamp_again(&self, id: u64, messages: bool) {
        for _ in 0..MAX_RESTAMPS {
            let fresh = Stamp::now();
            if let Err(e) = self.restamp(id, fresh.written, messages).await {
                tracing::warn!(conversation = id, error = %e, "a late write could not be stamped again: the dashboard's polls may report it late");
                return;
            }
            if !fresh.late() {
                return;
            }
        }
        tracing::warn!(
            conversation = id,
            "writes to DynamoDB answer more than {RESTAMP_AFTER:?} after they are sent: the \
             dashboard's polls may report this conversation's change late (never lost: its \
             next change is reported)"
        );
    }

    /// Sets conversation `id`'s stamp (and its messages') to `new`, if the item exists.
    async fn restamp(&self, id: u64, new: Timestamp, messages: bool) -> Result<(), StoreError> {
        let update = if messages {
            "SET #changed = :new, #messages = :stamp"
        } else {
            "SET #changed = :new"
        };
        let mut request = self
            .client()
            .update_item()
            .table_name(self.table_name())
            .set_key(Some(item::key(table::conversation_pk(id), table::META_SK)))
            .update_expression(update)
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", table::PK)
            .expression_attribute_names("#changed", table::CHANGED)
            .expression_attribute_values(":new", s(table::changed(new, id)));
        if messages {
            request = request
                .expression_attribute_names("#messages", table::MESSAGES_CHANGED)
                .expression_attribute_values(":stamp", s(table::stamp(new)));
        }
        match request.send().await {
            Ok(_) => Ok(()),
            // Gone since: nothing to stamp.
            Err(SdkError::ServiceError(se))
                if matches!(se.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(())
            }
            Err(e) => Err(classify(e)),
        }
    }
}
