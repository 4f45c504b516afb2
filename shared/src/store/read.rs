//! Read access patterns. Each reads at most the items its page returns plus one, in one
//! round trip per started MB of the page (`paging`).

use std::collections::HashMap;
use std::time::Instant;

use aws_sdk_dynamodb::types::{KeysAndAttributes, ReturnConsumedCapacity};

use super::paging::query_items;
use super::{ReadCost, Store, backoff};
use crate::cursor::{BeforeCursor, ListCursor};
use crate::error::{StoreError, classify};
use crate::item::{self, Item, TallyItem, s};
use crate::model::{Conversation, InboxEntry, Message, Status, Tally};
use crate::stats::HourCounts;
use crate::table;

/// A page request of the conversation list.
#[derive(Debug, Clone, Copy)]
pub struct ListQuery {
    pub status: Option<Status>,
    /// The needs-reply queue (waiting conversations, longest-waiting first) instead of the
    /// inbox.
    pub waiting: bool,
    /// 1 ..= 1000 (the HTTP layer clamps).
    pub limit: u32,
    pub after: Option<ListCursor>,
}

#[derive(Debug)]
pub struct ConversationPage {
    /// `last_message_at` descending, equal times by `id` descending; in the queue,
    /// `waiting_since` ascending, equal times by `id` ascending.
    pub conversations: Vec<InboxEntry>,
    /// Set when more conversations follow.
    pub next: Option<ListCursor>,
    pub cost: ReadCost,
}

#[derive(Debug)]
pub struct MessagePage {
    /// Oldest first.
    pub messages: Vec<Message>,
    /// How many messages the conversation has.
    pub total: u64,
    pub has_more: bool,
    /// Set when older messages than this page exist.
    pub before: Option<BeforeCursor>,
    pub cost: ReadCost,
}

/// A page read that failed, with what it had cost DynamoDB until then (the access log
/// reports it: a failed request is not free).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct ReadError {
    pub error: StoreError,
    pub cost: ReadCost,
}

impl From<ReadError> for StoreError {
    fn from(e: ReadError) -> StoreError {
        e.error
    }
}

/// Runs a page read with a cost meter of its own, keeping the cost on failure too.
pub(super) async fn metered<T>(
    read: impl AsyncFnOnce(&mut ReadCost) -> Result<T, StoreError>,
) -> Result<(T, ReadCost), ReadError> {
    let mut cost = ReadCost::default();
    match read(&mut cost).await {
        Ok(value) => Ok((value, cost)),
        Err(error) => Err(ReadError { error, cost }),
    }
}

impl MessagePage {
    fn new(mut messages: Vec<Message>, total: u64, has_more: bool, cost: ReadCost) -> MessagePage {
        messages.sort_by_key(|m| m.position);
        let before = messages
            .first()
            .filter(|m| m.position > 0)
            .map(|m| BeforeCursor { position: m.position });
        MessagePage {
            messages,
            total,
            has_more,
            before,
            cost,
        }
    }
}

/// Positions `first ..= last` of the page at `offset` (counted from the newest message)
/// of a conversation with `total` messages; `None` when the offset is past the end.
pub fn page_positions(total: u64, offset: u64, limit: u64) -> Option<(u64, u64)> {
    if offset >= total || limit == 0 {
        return None;
    }
    let last = total - 1 - offset;
    let first = (last + 1).saturating_sub(limit);
    Some((first, last))
}

/// `limit + 1` as a count of items to ask for.
fn plus_one(limit: u64) -> usize {
    usize::try_from(limit.saturating_add(1)).unwrap_or(usize::MAX)
}

impl Store {
    /// The inbox, newest activity first: one query on `by_activity` (no filter) or
    /// `by_status`, reading `limit + 1` items at most (the extra one tells whether
    /// another page follows), followed past 1 MB when the items are large. The needs-reply
    /// queue likewise, longest-waiting first, on the sparse `by_waiting` or
    /// `by_waiting_status`, which hold waiting conversations only.
    pub async fn list_conversations(&self, q: ListQuery) -> Result<ConversationPage, ReadError> {
        let ((conversations, next), cost) = metered(async |cost: &mut ReadCost| {
            let limit = q.limit.max(1) as usize;
            let (partition_attr, partition) = match q.status {
                None => (table::INBOX, table::INBOX_ALL),
                Some(st) => (table::STATUS, st.as_str()),
            };
            let (index, sort_attr) = match (q.waiting, q.status) {
                (false, None) => (table::INDEX_BY_ACTIVITY, table::ACTIVITY),
                (false, Some(_)) => (table::INDEX_BY_STATUS, table::ACTIVITY),
                (true, None) => (table::INDEX_BY_WAITING, table::WAITING),
                (true, Some(_)) => (table::INDEX_BY_WAITING_STATUS, table::WAITING),
            };
            let start_key = q.after.map(|c| {
                let mut key = item::key(table::conversation_pk(c.id), table::META_SK);
                key.insert(partition_attr.to_string(), s(partition));
                // Both sort keys have the same form: `<time>#<id:016>`.
                key.insert(sort_attr.to_string(), s(table::activity(c.at, c.id)));
                key
            });
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#p = :p")
                .expression_attribute_names("#p", partition_attr)
                .expression_attribute_values(":p", s(partition))
                .scan_index_forward(q.waiting);
            // The queue's entries say since when, too.
            let (projection, names) = if q.waiting {
                item::projection(&[&item::INBOX_ATTRIBUTES[..], &[table::WAITING_SINCE]].concat())
            } else {
                item::projection(&item::INBOX_ATTRIBUTES)
            };
            let query = names
                .into_iter()
                .fold(query, |q, (placeholder, name)| {
                    q.expression_attribute_names(placeholder, name)
                })
                .projection_expression(projection);
            let mut conversations = query_items(query, start_key, limit + 1, cost, |it| {
                item::inbox_entry_from_item(it)
            })
            .await?;
            let next = if conversations.len() > limit {
                conversations.truncate(limit);
                conversations.last().map(|c| ListCursor {
                    at: if q.waiting {
                        c.waiting_since.unwrap_or(c.last_message_at)
                    } else {
                        c.last_message_at
                    },
                    id: c.id,
                })
            } else {
                None
            };
            Ok((conversations, next))
        })
        .await?;
        Ok(ConversationPage {
            conversations,
            next,
            cost,
        })
    }

    /// One conversation: a single GetItem.
    pub async fn get_conversation(&self, id: u64) -> Result<Option<Conversation>, StoreError> {
        self.get_meta(id, false, &mut ReadCost::default()).await
    }

    pub(crate) async fn get_meta(
        &self,
        id: u64,
        consistent: bool,
        cost: &mut ReadCost,
    ) -> Result<Option<Conversation>, StoreError> {
        let key = item::key(table::conversation_pk(id), table::META_SK);
        self.get_one(key, None, consistent, cost)
            .await?
            .map(item::conversation_from_item)
            .transpose()
    }

    /// One item by its key (only `attributes` of it when given): a single GetItem.
    async fn get_one(
        &self,
        key: Item,
        attributes: Option<&[&'static str]>,
        consistent: bool,
        cost: &mut ReadCost,
    ) -> Result<Option<Item>, StoreError> {
        let mut get = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(consistent)
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        if let Some(attributes) = attributes {
            let (projection, names) = item::projection(attributes);
            get = names
                .into_iter()
                .fold(get, |g, (placeholder, name)| {
                    g.expression_attribute_names(placeholder, name)
                })
                .projection_expression(projection);
        }
        let started = Instant::now();
        let out = cost.answered(get.send().await, started)?;
        cost.add(usize::from(out.item.is_some()), out.consumed_capacity(), started);
        Ok(out.item)
    }

    /// The tally (conversations per status, messages): one Query of its shards, at most
    /// `TALLY_SHARDS` small items, their sum.
    pub async fn tally(&self) -> Result<(Tally, ReadCost), ReadError> {
        metered(async |cost: &mut ReadCost| {
            let (tally, _) = self
                .tally_items(table::TALLY_SHARD_PREFIX, "begins_with(#s, :s)", cost)
                .await?;
            Ok(tally)
        })
        .await
    }

    /// The tally and the hour items of the daily statistics from the hour starting at
    /// `from_hour` (Unix seconds) on: one Query of the tally's partition from that hour's
    /// item (the hour items sort before the shards), at most the hours since then, any
    /// later ones a message from the future made, and the shards.
    pub async fn stats(&self, from_hour: i64) -> Result<((Tally, Vec<HourCounts>), ReadCost), ReadError> {
        metered(async |cost: &mut ReadCost| {
            self.tally_items(&table::stats_hour_sk(from_hour), "#s >= :s", cost)
                .await
        })
        .await
    }

    /// The items of the tally's partition whose sort key meets `condition` on `:s`
    /// (`bound`): the shards summed, and the hour items.
    async fn tally_items(
        &self,
        bound: &str,
        condition: &str,
        cost: &mut ReadCost,
    ) -> Result<(Tally, Vec<HourCounts>), StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression(format!("#p = :p AND {condition}"))
            .expression_attribute_names("#p", table::PK)
            .expression_attribute_names("#s", table::SK)
            .expression_attribute_values(":p", s(table::TALLY_PK))
            .expression_attribute_values(":s", s(bound));
        let items = query_items(query, None, usize::MAX, cost, |it| item::tally_item_from_item(it)).await?;
        let mut tally = Tally::default();
        let mut hours = Vec::new();
        for it in items {
            match it {
                TallyItem::Shard(shard) => tally.add(&shard),
                TallyItem::Hour(hour) => hours.push(hour),
            }
        }
        Ok((tally, hours))
    }

    /// The conversation of a phone number, as the inbox lists it: its claim
    /// (`PHONE#<number>`), then the conversation the claim names; two GetItems, one after
    /// the other, at most 2 items. `None` when no conversation has that number (or, for a
    /// moment, when the claim is newer than the conversation a read sees).
    pub async fn conversation_by_phone(
        &self,
        phone_number: &str,
    ) -> Result<(Option<InboxEntry>, ReadCost), ReadError> {
        metered(async |cost: &mut ReadCost| {
            let claim = item::key(table::phone_pk(phone_number), table::PHONE_SK);
            let Some(claim) = self
                .get_one(claim, Some(&item::PHONE_CLAIM_ATTRIBUTES), false, cost)
                .await?
            else {
                return Ok(None);
            };
            let (_, id) = item::phone_owner(claim)?;
            let key = item::key(table::conversation_pk(id), table::META_SK);
            let Some(found) = self
                .get_one(key, Some(&item::INBOX_ATTRIBUTES), false, cost)
                .await?
            else {
                return Ok(None);
            };
            // A claim moved since (the number changed hands) names a conversation whose
            // number is no longer this one.
            let entry = item::inbox_entry_from_item(found)?;
            Ok((entry.phone_number == phone_number).then_some(entry))
        })
        .await
    }

    /// Messages `first ..= last` of a conversation, by key range (`paging` follows the
    /// range past 1 MB).
    async fn message_range(
        &self,
        conversation_id: u64,
        first: u64,
        last: u64,
        consistent: bool,
        cost: &mut ReadCost,
    ) -> Result<Vec<Message>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :first AND :last")
            .expression_attribute_names("#pk", table::PK)
            .expression_attribute_names("#sk", table::SK)
            .expression_attribute_values(":pk", s(table::conversation_pk(conversation_id)))
            .expression_attribute_values(":first", s(table::message_sk(first)))
            .expression_attribute_values(":last", s(table::message_sk(last)))
            .consistent_read(consistent);
        let want = usize::try_from(last.saturating_sub(first).saturating_add(1)).unwrap_or(usize::MAX);
        query_items(query, None, want, cost, |it| item::message_from_item(it)).await
    }

    /// The page at `offset` (counted from the newest message), oldest first.
    ///
    /// Offset 0: ONE descending query from the conversation item (`META` sorts after
    /// every `M#…`), `Limit = limit + 1`: the conversation (for `total`) and its newest
    /// `limit` messages. Other offsets: GetItem of the conversation (for `total`), then a
    /// query of exactly the page's positions, `limit + 1` items in all whatever the offset.
    pub async fn message_page(
        &self,
        conversation_id: u64,
        offset: u64,
        limit: u32,
    ) -> Result<MessagePage, ReadError> {
        let limit = u64::from(limit.max(1));
        let ((messages, total, has_more), cost) = metered(async |cost: &mut ReadCost| {
            if offset == 0 {
                return self.newest_messages(conversation_id, limit, cost).await;
            }
            let conversation = self
                .get_meta(conversation_id, false, cost)
                .await?
                .ok_or(StoreError::ConversationNotFound(conversation_id))?;
            let total = conversation.message_count;
            let Some((first, last)) = page_positions(total, offset, limit) else {
                return Ok((Vec::new(), total, false));
            };
            // Consistent: every position below the count just read is committed, and a
            // strongly consistent read is guaranteed to see it.
            let messages = self
                .message_range(conversation_id, first, last, true, cost)
                .await?;
            Ok((messages, total, offset + limit < total))
        })
        .await?;
        Ok(MessagePage::new(messages, total, has_more, cost))
    }

    async fn newest_messages(
        &self,
        conversation_id: u64,
        limit: u64,
        cost: &mut ReadCost,
    ) -> Result<(Vec<Message>, u64, bool), StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND #sk <= :meta")
            .expression_attribute_names("#pk", table::PK)
            .expression_attribute_names("#sk", table::SK)
            .expression_attribute_values(":pk", s(table::conversation_pk(conversation_id)))
            .expression_attribute_values(":meta", s(table::META_SK))
            .scan_index_forward(false)
            // Strongly consistent: the page reloads this page when its poll (a strongly
            // consistent read) reports new messages, and takes this answer's `server_time`
            // as its next `last_check`; a replica behind by then would hide a message that
            // no later poll reports (docs/DESIGN.md, "Live updates").
            .consistent_read(true);
        // The first item is the conversation (`META` sorts after every message), or it
        // does not exist; the rest are its newest messages.
        let mut conversation = None;
        let messages = query_items(query, None, plus_one(limit), cost, |item| {
            if conversation.is_some() {
                item::message_from_item(item).map(Some)
            } else if item::is_conversation(&item) {
                conversation = Some(item::conversation_from_item(item)?);
                Ok(None)
            } else {
                Err(StoreError::ConversationNotFound(conversation_id))
            }
        })
        .await?;
        let conversation = conversation.ok_or(StoreError::ConversationNotFound(conversation_id))?;
        let messages: Vec<Message> = messages.into_iter().flatten().collect();
        let total = conversation.message_count;
        Ok((messages, total, limit < total))
    }

    /// The `limit` messages just older than `cursor`: a GetItem of the conversation (for
    /// `total`) and a query of the page's exact key range, sent at the same time (one
    /// round trip of latency), so messages that arrived since the cursor was issued do not
    /// shift the page. Both read eventually consistent: the cursor's positions were already
    /// shown by an earlier answer. A cursor past the conversation's count was not issued by
    /// this API: `CursorPastEnd`.
    pub async fn messages_before(
        &self,
        conversation_id: u64,
        cursor: BeforeCursor,
        limit: u32,
    ) -> Result<MessagePage, ReadError> {
        let last = cursor.position.checked_sub(1);
        let first = cursor.position.saturating_sub(u64::from(limit.max(1)));
        let mut meta_cost = ReadCost::default();
        let mut range_cost = ReadCost::default();
        let meta = self.get_meta(conversation_id, false, &mut meta_cost);
        let range = async {
            match last {
                Some(last) => {
                    self.message_range(conversation_id, first, last, false, &mut range_cost)
                        .await
                }
                None => Ok(Vec::new()),
            }
        };
        let (conversation, messages) = tokio::join!(meta, range);
        let cost = meta_cost.alongside(range_cost);
        let fail = |error| ReadError { error, cost };
        let conversation = conversation
            .map_err(fail)?
            .ok_or(StoreError::ConversationNotFound(conversation_id))
            .map_err(fail)?;
        if cursor.position > conversation.message_count {
            return Err(fail(StoreError::CursorPastEnd {
                position: cursor.position,
                total: conversation.message_count,
            }));
        }
        let messages = messages.map_err(fail)?;
        Ok(MessagePage::new(
            messages,
            conversation.message_count,
            first > 0,
            cost,
        ))
    }

    /// BatchGetItem (at most 100 keys), retrying unprocessed keys with back-off. Strongly
    /// consistent: its readers (imports, the sync) plan writes on what it returns.
    async fn batch_get(&self, keys: Vec<Item>, cost: &mut ReadCost) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        let mut pending = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(|e| StoreError::Dynamo(e.to_string()))?;
        for attempt in 0.. {
            let started = Instant::now();
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, pending)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(classify)?;
            let mut items = out
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default();
            cost.add(
                items.len(),
                out.consumed_capacity.as_deref().and_then(|c| c.first()),
                started,
            );
            found.append(&mut items);
            match out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                Some(rest) if !rest.keys().is_empty() => {
                    if attempt >= 8 {
                        return Err(StoreError::Throttled("unprocessed keys after 8 retries".into()));
                    }
                    pending = rest;
                    backoff(attempt).await;
                }
                _ => break,
            }
        }
        Ok(found)
    }

    /// BatchGetItem over any number of keys, 100 a request.
    async fn batch_get_all(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut cost = ReadCost::default();
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(100) {
            found.extend(self.batch_get(chunk.to_vec(), &mut cost).await?);
        }
        Ok(found)
    }

    /// The conversations of these ids that exist.
    pub async fn get_conversations(&self, ids: &[u64]) -> Result<HashMap<u64, Conversation>, StoreError> {
        let keys = ids
            .iter()
            .map(|id| item::key(table::conversation_pk(*id), table::META_SK))
            .collect();
        self.batch_get_all(keys)
            .await?
            .into_iter()
            .map(|it| item::conversation_from_item(it).map(|c| (c.id, c)))
            .collect()
    }

    /// Which conversation owns each of these phone numbers, for those that are taken.
    pub async fn phone_owners(&self, phones: &[String]) -> Result<HashMap<String, u64>, StoreError> {
        let keys = phones
            .iter()
            .map(|p| item::key(table::phone_pk(p), table::PHONE_SK))
            .collect();
        self.batch_get_all(keys)
            .await?
            .into_iter()
            .map(item::phone_owner)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::page_positions;

    #[test]
    fn page_positions_count_from_the_newest_message() {
        // 10 messages, positions 0 (oldest) ..= 9 (newest).
        assert_eq!(page_positions(10, 0, 3), Some((7, 9)));
        assert_eq!(page_positions(10, 3, 3), Some((4, 6)));
        assert_eq!(page_positions(10, 8, 3), Some((0, 1)));
        assert_eq!(page_positions(10, 9, 20), Some((0, 0)));
        assert_eq!(page_positions(10, 10, 3), None);
        assert_eq!(page_positions(0, 0, 20), None);
        assert_eq!(page_positions(u64::MAX, u64::MAX - 1, 20), Some((0, 0)));
    }
}
