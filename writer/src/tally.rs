//! The tally (`shared::table::TALLY_PK`): conversations per status and messages, kept by
//! every write of a conversation item in the same transaction, as the change from what the
//! item added before (`item::tally_share`, pinned by the write's condition) to what it adds
//! after. A shard at random takes each change, so concurrent writers rarely meet on one.

use aws_sdk_dynamodb::types::builders::PutBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use shared::error::StoreError;
use shared::item::{self, Item, n};
use shared::model::{Conversation, Status, Tally};
use shared::table;

use crate::transact::build_error;

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
        .set_key(Some(item::key(table::TALLY_PK.into(), &table::tally_sk(shard))))
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
