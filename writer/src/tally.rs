//! The tally (`shared::table::TALLY_PK`): conversations per status and messages, kept by
//! every write of a conversation item in the same transaction, as the change from what the
//! item added before (`item::tally_share`, pinned by the write's condition) to what it adds
//! after. A shard at random takes each change, so concurrent writers rarely meet on one.

use aws_sdk_dynamodb::types::builders::PutBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use shared::error::StoreError;
use shared::item::{self, Item, n};
use shared::model::{Conversation, Status, Tally};
use shared::table;

use crate::transact::{TxOutcome, build_error};

/// What a counted conversation item of this status and count adds to the tally.
pub fn share(status: Status, message_count: u64) -> Tally {
    let mut share = Tally::default();
    *share.of(status) += 1;
    share.messages = i64::try_from(message_count).unwrap_or(i64::MAX);
    share
}

/// What the item of `c` adds to the tally.
pub fn share_of(c: &Conversation) -> Tally {
    share(c.status, c.message_count)
}

/// What a conversation item added to the tally before a write, as its condition pins it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prior {
    Absent,
    /// Written before the tally existed: it adds nothing yet.
    Uncounted,
    Counted(Status),
}

impl Prior {
    /// Its share of the tally with `count` messages.
    pub fn share(self, count: u64) -> Tally {
        match self {
            Prior::Absent | Prior::Uncounted => Tally::default(),
            Prior::Counted(status) => share(status, count),
        }
    }
}

/// `put`'s condition: the item holds `count` messages (`None`: it is absent) and adds
/// `prior` to the tally. The count pins the messages, the rest the tally's part.
pub fn pin(put: PutBuilder, count: Option<u64>, prior: Prior) -> PutBuilder {
    match (count, prior) {
        (Some(count), Prior::Counted(status)) => put
            .condition_expression("#count = :count AND #counted = :true AND #status = :status")
            .expression_attribute_names("#count", table::MESSAGE_COUNT)
            .expression_attribute_values(":count", n(count))
            .expression_attribute_names("#counted", table::COUNTED)
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_names("#status", table::STATUS)
            .expression_attribute_values(":status", item::s(status.as_str())),
        (Some(count), _) => put
            .condition_expression("#count = :count AND attribute_not_exists(#counted)")
            .expression_attribute_names("#count", table::MESSAGE_COUNT)
            .expression_attribute_values(":count", n(count))
            .expression_attribute_names("#counted", table::COUNTED),
        (None, _) => put
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", table::PK),
    }
}

/// `after` − `before`.
pub fn change(before: &Tally, after: &Tally) -> Tally {
    Tally {
        active: after.active - before.active,
        pending_human: after.pending_human - before.pending_human,
        closed: after.closed - before.closed,
        messages: after.messages - before.messages,
    }
}

/// The transaction's item that adds `delta` to one shard; none when nothing changes.
pub fn update(table_name: &str, delta: &Tally) -> Result<Option<TransactWriteItem>, StoreError> {
    let terms: Vec<(&str, i64)> = Status::ALL
        .iter()
        .map(|s| (s.as_str(), delta.get(*s)))
        .chain([(table::TALLY_MESSAGES, delta.messages)])
        .filter(|(_, v)| *v != 0)
        .collect();
    if terms.is_empty() {
        return Ok(None);
    }
    let shard = fastrand::u32(..table::TALLY_SHARDS);
    let expression = (0..terms.len())
        .map(|i| format!("#t{i} :t{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut update = Update::builder()
        .table_name(table_name)
        .set_key(Some(item::key(table::TALLY_PK.into(), table::tally_sk(shard))))
        .update_expression(format!("ADD {expression}"));
    for (i, (name, value)) in terms.into_iter().enumerate() {
        update = update
            .expression_attribute_names(format!("#t{i}"), name)
            .expression_attribute_values(format!(":t{i}"), n(value));
    }
    Ok(Some(
        TransactWriteItem::builder()
            .update(update.build().map_err(build_error)?)
            .build(),
    ))
}

/// What a conversation item as it stands (a failed condition's image) adds to the tally,
/// with the condition that holds while it stays so: `(share, status)`, the status `None`
/// for an item not counted yet.
pub fn standing(current: &Item) -> Result<(Tally, Option<Status>), StoreError> {
    let share = item::tally_share(current)?;
    let status = Status::ALL.into_iter().find(|s| share.get(*s) > 0);
    Ok((share, status))
}

/// A conversation item as the backfill finds it: not counted yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uncounted {
    pub id: u64,
    pub status: Status,
    pub message_count: u64,
}

impl Uncounted {
    /// Its id, status and count, from a conversation item (or its index projection).
    fn of(it: &Item) -> Result<Uncounted, StoreError> {
        let status = it
            .get(table::STATUS)
            .and_then(|v| v.as_s().ok())
            .and_then(|v| Status::parse(v));
        match (
            item::number_of(it, table::ID),
            status,
            item::number_of(it, table::MESSAGE_COUNT),
        ) {
            (Some(id), Some(status), Some(message_count)) => Ok(Uncounted {
                id,
                status,
                message_count,
            }),
            _ => Err(StoreError::BadItem {
                what: "conversation",
                reason: "id, status or message_count missing or malformed".into(),
            }),
        }
    }
}

/// What the backfill did with one conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backfilled {
    /// Added to the tally now.
    Counted,
    /// Already in it (a writer, or an earlier run, counted it first).
    AlreadyCounted,
    /// No longer there.
    Gone,
}

/// Attempts of one conversation's count (each failed condition re-reads the item).
const MAX_COUNT_ATTEMPTS: u32 = 20;

impl crate::Writer {
    /// The conversation items not counted yet (written before the tally existed) of one
    /// page of the inbox index from `start`, and where the next page starts (`None`: this
    /// was the last). Following the pages reads every conversation once.
    pub async fn uncounted_page(
        &self,
        start: Option<Item>,
    ) -> Result<(Vec<Uncounted>, Option<Item>), StoreError> {
        let (items, next) = self
            .inbox_page_without(
                table::COUNTED,
                &[table::ID, table::STATUS, table::MESSAGE_COUNT],
                start,
            )
            .await?;
        let page = items.iter().map(Uncounted::of).collect::<Result<Vec<_>, _>>()?;
        Ok((page, next))
    }

    /// Adds one conversation to the tally and marks it counted, in one transaction, on
    /// condition that it is still uncounted with that status and count; a writer that
    /// changed it meanwhile is met by re-reading it. Safe beside live writers and other
    /// runs: each conversation is counted once.
    pub async fn count_conversation(&self, found: Uncounted) -> Result<Backfilled, StoreError> {
        let key = item::key(table::conversation_pk(found.id), table::META_SK);
        let mut current = found;
        for attempt in 0..MAX_COUNT_ATTEMPTS {
            let mark = Update::builder()
                .table_name(self.table_name())
                .set_key(Some(key.clone()))
                .update_expression("SET #counted = :true")
                .condition_expression(
                    "attribute_exists(#pk) AND attribute_not_exists(#counted) AND #status = :status AND #count = :count",
                )
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .expression_attribute_names("#pk", table::PK)
                .expression_attribute_names("#counted", table::COUNTED)
                .expression_attribute_names("#status", table::STATUS)
                .expression_attribute_names("#count", table::MESSAGE_COUNT)
                .expression_attribute_values(":true", AttributeValue::Bool(true))
                .expression_attribute_values(":status", item::s(current.status.as_str()))
                .expression_attribute_values(":count", n(current.message_count))
                .build()
                .map_err(build_error)?;
            let mut items = vec![TransactWriteItem::builder().update(mark).build()];
            items.extend(update(
                self.table_name(),
                &share(current.status, current.message_count),
            )?);
            match self.transact(items).await? {
                TxOutcome::Done => return Ok(Backfilled::Counted),
                outcome => match outcome.failed(0) {
                    Some(None) => return Ok(Backfilled::Gone),
                    Some(Some(now)) => {
                        let (_, status) = standing(now)?;
                        if status.is_some() {
                            return Ok(Backfilled::AlreadyCounted);
                        }
                        current = Uncounted::of(now)?;
                    }
                    None => shared::store::backoff(attempt).await,
                },
            }
        }
        Err(StoreError::Contention(MAX_COUNT_ATTEMPTS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_moves_one_status_to_another_and_adds_messages() {
        let before = Tally {
            active: 1,
            messages: 3,
            ..Tally::default()
        };
        let after = Tally {
            closed: 1,
            messages: 5,
            ..Tally::default()
        };
        assert_eq!(
            change(&before, &after),
            Tally {
                active: -1,
                pending_human: 0,
                closed: 1,
                messages: 2
            }
        );
        assert!(update("t", &Tally::default()).unwrap().is_none());
        let add = update("t", &change(&before, &after)).unwrap().unwrap();
        let add = add.update().unwrap();
        assert_eq!(add.update_expression(), "ADD #t0 :t0, #t1 :t1, #t2 :t2");
        assert_eq!(add.key().get(table::PK), Some(&item::s(table::TALLY_PK)));
    }
}
