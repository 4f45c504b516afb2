//! The dashboard's polls ("what changed after T?"), each at the cost of what it answers:
//! one item for one conversation, the conversations it returns plus one for the inbox.

use jiff::{SignedDuration, Timestamp};

use super::paging::query_items;
use super::read::{ReadError, metered};
use super::wire::Pairs;
use super::{ReadCost, Store};
use crate::item::{self, s};
use crate::model::Status;
use crate::table;

/// How far before `T` the per-conversation poll looks at the messages' write stamp. `T` is
/// an earlier answer's `server_time` (the functions' clock, whole seconds, taken before that
/// answer read), and a stamp is the writer's clock just before its write was sent, answered
/// within `RESTAMP_AFTER` (`stamp`). The margin covers that and a writer's clock running up
/// to `MESSAGE_POLL_MARGIN − RESTAMP_AFTER` behind the functions'. It is kept under half a
/// second so that, at the page's 1.5 s rhythm, a change is reported by two polls at most
/// (docs/DESIGN.md, "Live updates", works this out).
pub const MESSAGE_POLL_MARGIN: SignedDuration = SignedDuration::from_millis(400);

/// How far before `T` the inbox-wide polls look at the conversations' write stamps: what
/// `MESSAGE_POLL_MARGIN` covers, plus the propagation of `by_change` (DynamoDB's GSIs are
/// eventually consistent, typically well under a second). Under 1.9 s: at the page's 3 s
/// rhythm a change is reported by two polls at most.
pub const INDEX_POLL_MARGIN: SignedDuration = SignedDuration::from_millis(1700);

/// For conversation items written before write stamps existed, which the per-conversation
/// poll reads as before: the newest message's `created_at` (whole seconds) after `T − 1 s`.
/// A message written later in the second of `T` has `created_at` = `T`, which "after `T`"
/// would miss for good (the legacy PHP did). Such an item has no message written since
/// (any write stamps it), so this only keeps its answers as they were.
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
    /// Whether conversation `id` has messages written after `t` (whole seconds) less
    /// `MESSAGE_POLL_MARGIN`: one GetItem of the conversation, strongly consistent (1 RCU),
    /// so that a write answered before the poll is always seen. An unknown conversation
    /// has none. An item written before write stamps existed is read as before
    /// (`SAME_SECOND_MARGIN`).
    pub async fn has_message_after(&self, id: u64, t: Timestamp) -> Result<(bool, ReadCost), ReadError> {
        let t = second(t);
        metered(async |cost: &mut ReadCost| {
            let conversation = self.get_meta(id, true, cost).await?;
            Ok(conversation.is_some_and(|c| match c.messages_changed {
                Some(written) => written > t - MESSAGE_POLL_MARGIN,
                None => c
                    .last_message
                    .is_some_and(|m| m.created_at > t - SAME_SECOND_MARGIN),
            }))
        })
        .await
    }

    /// The conversations whose change (a new message, status, `ai_enabled`, name, a new
    /// conversation) was written after `t` (whole seconds) less `INDEX_POLL_MARGIN`: one
    /// query of `by_change` from there on, at most `bound` of them (the most recently
    /// written) plus whether more followed, answered newest `last_message_at` first (equal
    /// times by id, descending). Both inbox-wide polls answer from it: the index holds when
    /// a conversation changed, not what changed (it projects no more, so that its writes
    /// stay small), so `check-updates.php` lists a change of status, `ai_enabled` or name
    /// too, where the legacy one listed new messages only.
    pub async fn conversations_changed_after(
        &self,
        t: Timestamp,
        bound: usize,
    ) -> Result<Changes<ChangedConversation>, ReadError> {
        let after = second(t) - INDEX_POLL_MARGIN;
        let ((conversations, more), cost) = metered(async |cost: &mut ReadCost| {
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(table::INDEX_BY_CHANGE)
                .key_condition_expression("#p = :p AND #s > :after")
                .expression_attribute_names("#p", table::INBOX)
                .expression_attribute_names("#s", table::CHANGED)
                .expression_attribute_values(":p", s(table::INBOX_ALL))
                .expression_attribute_values(":after", s(table::changed_after(after)))
                .scan_index_forward(false);
            let mut found = query_items(query, None, bound + 1, cost, |it: Pairs<'_>| {
                item::changed_from_item(it)
            })
            .await?;
            let more = found.len() > bound;
            found.truncate(bound);
            // Newest `last_message_at` first, equal times by id, descending.
            found.sort_by_key(|c| std::cmp::Reverse((c.last_message_at, c.id)));
            Ok((found, more))
        })
        .await?;
        Ok(Changes {
            conversations,
            more,
            cost,
        })
    }
}

/// `t` in whole seconds, as the legacy `server_time` holds it.
fn second(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}
