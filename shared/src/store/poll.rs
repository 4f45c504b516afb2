//! The dashboard's polls ("what changed after T?"), each at the cost of what it answers:
//! one item for one conversation, the conversations it returns plus one for the inbox.

use jiff::{SignedDuration, Timestamp};

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;

use super::paging::query_items;
use super::read::{ReadError, metered};
use super::wire::Pairs;
use super::{ReadCost, Store};
use crate::error::StoreError;
use crate::item::{self, s};
use crate::model::Status;
use crate::table;

/// How far before `T` the inbox-wide polls look. Their indexes are updated a moment after
/// the table (DynamoDB's GSIs are eventually consistent, typically well under a second),
/// and the dashboard's next `T` is this poll's `server_time` in whole seconds: a change
/// written in the second before a poll, not yet in the index when it read, would otherwise
/// never be reported. With the margin it is reported by the next poll (and a change can be
/// reported by two polls: one more reload of the inbox, nothing lost).
pub const INDEX_LAG_MARGIN: SignedDuration = SignedDuration::from_secs(2);

/// How far before `T` the per-conversation poll looks. `T` is the previous answer's
/// `server_time`, in whole seconds, taken before that poll read: a message written later in
/// that same second has `created_at` = `T`, which "after `T`" would miss for good (the legacy
/// PHP did: about one message in three at the page's 1.5 s polls, found by running the
/// original page). One second back reports it; it can be reported by two polls at most.
pub const SAME_SECOND_MARGIN: SignedDuration = SignedDuration::from_secs(1);

/// One conversation of a `check-conversation-updates` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedConversation {
    pub id: u64,
    pub last_message_at: Timestamp,
    pub status: Status,
}

/// An inbox-wide poll's answer: at most `bound` conversations; `more` when others changed
/// too (the dashboard reloads the whole inbox anyway).
#[derive(Debug)]
pub struct Changes<T> {
    pub conversations: Vec<T>,
    pub more: bool,
    pub cost: ReadCost,
}

impl Store {
    /// The newest-first query of the whole inbox partition of `index` after `t` (its sort
    /// key `sort_key` past every key of second `t`), and at most `bound` of its items plus
    /// whether more followed.
    async fn changed_since<T>(
        &self,
        index: &str,
        sort_key: &str,
        t: Timestamp,
        bound: usize,
        filter: impl FnOnce(QueryFluentBuilder) -> QueryFluentBuilder,
        map: impl Fn(Pairs<'_>) -> Result<T, StoreError>,
    ) -> Result<Changes<T>, ReadError> {
        let ((conversations, more), cost) = metered(async |cost: &mut ReadCost| {
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#p = :p AND #s > :after")
                .expression_attribute_names("#p", table::INBOX)
                .expression_attribute_names("#s", sort_key)
                .expression_attribute_values(":p", s(table::INBOX_ALL))
                .expression_attribute_values(":after", s(table::after(t)))
                .scan_index_forward(false);
            let mut found = query_items(filter(query), None, bound + 1, cost, &map).await?;
            let more = found.len() > bound;
            found.truncate(bound);
            Ok((found, more))
        })
        .await?;
        Ok(Changes {
            conversations,
            more,
            cost,
        })
    }

    /// Whether conversation `id` has a message created after `t` (whole seconds, less
    /// `SAME_SECOND_MARGIN`): one GetItem of the conversation, whose summary is its newest
    /// message, strongly consistent (1 RCU) so that a message committed before the poll is
    /// always seen, as MySQL saw it. An unknown conversation has none.
    pub async fn has_message_after(&self, id: u64, t: Timestamp) -> Result<(bool, ReadCost), ReadError> {
        let after = second(t) - SAME_SECOND_MARGIN;
        metered(async |cost: &mut ReadCost| {
            let conversation = self.get_meta(id, true, cost).await?;
            Ok(conversation
                .and_then(|c| c.last_message)
                .is_some_and(|m| m.created_at.as_second() > after.as_second()))
        })
        .await
    }

    /// The ids of the conversations with a message created after `t` (less
    /// `INDEX_LAG_MARGIN`), newest activity first: a query of `by_activity` from there on
    /// (`last_message_at` ≥ the newest message's time), keeping those whose newest message is after `t` — a conversation without
    /// messages, or whose legacy `last_message_at` ran ahead of its messages, is read but
    /// not returned.
    pub async fn conversations_with_messages_after(
        &self,
        t: Timestamp,
        bound: usize,
    ) -> Result<Changes<u64>, ReadError> {
        let t = second(t) - INDEX_LAG_MARGIN;
        let newest_after = |q: QueryFluentBuilder| {
            q.filter_expression("#newest > :t")
                .expression_attribute_names("#newest", table::LAST_MESSAGE_CREATED_AT)
                .expression_attribute_values(":t", s(t.to_string()))
        };
        self.changed_since(
            table::INDEX_BY_ACTIVITY,
            table::ACTIVITY,
            t,
            bound,
            newest_after,
            |it: Pairs<'_>| item::conversation_from_item(it).map(|c| c.id),
        )
        .await
    }

    /// The conversations changed after `t` (less `INDEX_LAG_MARGIN`) in any way (a new
    /// message, status, `ai_enabled`, name): one query of `by_change` from there on, at most
    /// `bound` (the most recently changed), answered newest `last_message_at` first (equal
    /// times by id, descending).
    pub async fn conversations_changed_after(
        &self,
        t: Timestamp,
        bound: usize,
    ) -> Result<Changes<ChangedConversation>, ReadError> {
        let t = second(t) - INDEX_LAG_MARGIN;
        let mut changes = self
            .changed_since(
                table::INDEX_BY_CHANGE,
                table::CHANGED,
                t,
                bound,
                |q| q,
                |it: Pairs<'_>| item::changed_from_item(it),
            )
            .await?;
        changes
            .conversations
            .sort_by_key(|c| std::cmp::Reverse((c.last_message_at, c.id)));
        Ok(changes)
    }
}

/// `t` in whole seconds, as MySQL compared TIMESTAMPs.
fn second(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}
