//! Bulk writes for imports: messages by BatchWriteItem, 25 items a request, unprocessed
//! items retried with back-off; each conversation after them in a transaction of its own
//! with its phone claim and what it changes in the tally (`tally`), on condition that the
//! item is still what the tally's change was computed from, and what it adds to the daily
//! statistics (`stats`) with it. Puts of complete items, so
//! re-running an import with the same data writes the same items and changes nothing but
//! their write stamps (`stamp`) and no count.

use aws_sdk_dynamodb::types::{
    Put, PutRequest, ReturnValuesOnConditionCheckFailure, TransactWriteItem, WriteRequest,
};

use shared::error::{StoreError, classify};
use shared::item::{self, Item};
use shared::model::{Conversation, Message};
use shared::stats::StatsShare;
use shared::store::backoff;
use shared::table;

use crate::Writer;
use crate::stamp::Stamp;
use crate::stats;
use crate::tally::{self, Prior};
use crate::transact::{TxOutcome, build_error};

/// BatchWriteItem's limit.
const BATCH_SIZE: usize = 25;
const MAX_BATCH_RETRIES: u32 = 10;
/// Attempts of one conversation's transaction (each failed condition re-pins it, each part
/// of a large statistics share takes one).
const MAX_CONVERSATION_ATTEMPTS: u32 = 100;
/// Hour items of the statistics one conversation's transaction may change: 100 less the
/// conversation, its phone claim and the tally's shard.
const MAX_HOURS_BESIDE_CONVERSATION: usize = 97;

/// One thing an import writes.
#[derive(Debug, Clone)]
pub enum Record {
    /// The conversation with its summary and count, and its phone claim.
    Conversation(Conversation),
    Message(Message),
}

/// The item of an imported conversation stamped `written`, its messages' stamp too when it
/// has messages (an import writes them before it).
fn conversation_item(c: &Conversation, written: jiff::Timestamp) -> Result<Item, StoreError> {
    crate::conversation_item(
        &Conversation {
            messages_changed: if c.message_count > 0 {
                Some(written)
            } else {
                c.messages_changed
            },
            ..c.clone()
        },
        written,
    )
}

impl Writer {
    /// Writes the records, the messages first; returns how many requests it took.
    pub async fn put_records(&self, records: &[Record]) -> Result<u32, StoreError> {
        // Every item is built (and its size checked) before anything is written.
        let mut items: Vec<Item> = Vec::with_capacity(records.len());
        let mut conversations = Vec::new();
        let built = shared::model::write_stamp();
        for r in records {
            match r {
                Record::Message(m) => items.push(crate::message_item(m)?),
                Record::Conversation(c) => {
                    conversation_item(c, built)?;
                    conversations.push(c);
                }
            }
        }
        let mut requests = self.put_items(&items).await?;
        for c in conversations {
            requests += self.put_conversation(c).await?;
        }
        Ok(requests)
    }

    /// Puts a conversation with its phone claim and its change to the tally: first as a
    /// new one, then, if it exists, pinned to the item as its failed condition showed it.
    /// Stamped anew at each attempt. Returns the transactions it took.
    async fn put_conversation(&self, c: &Conversation) -> Result<u32, StoreError> {
        let claim = Put::builder()
            .table_name(self.table_name())
            .set_item(Some(item::phone_item(&c.phone_number, c.id)))
            .build()
            .map_err(build_error)?;
        let after = tally::share_of(c);
        let (mut count, mut prior) = (None, Prior::Absent);
        // What the item adds to the statistics before: nothing while it is thought new.
        let mut share_before: Option<StatsShare> = None;
        for attempt in 0..MAX_CONVERSATION_ATTEMPTS {
            let stamp = Stamp::now();
            let now = shared::model::now_seconds();
            // The import counted every message of it (its plan): it adds that, whatever it
            // added before; in parts when that is too many hours for one transaction.
            let share_after = c.stats.as_ref().map(|target| {
                share_before
                    .clone()
                    .unwrap_or_default()
                    .toward(target, MAX_HOURS_BESIDE_CONVERSATION, now)
            });
            let put = Put::builder()
                .table_name(self.table_name())
                .set_item(Some(conversation_item(
                    &Conversation {
                        stats: share_after.clone(),
                        ..c.clone()
                    },
                    stamp.written,
                )?))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
            let put = tally::pin(put, count, prior);
            let put = match count {
                Some(_) => stats::pin(put, share_before.as_ref()),
                None => put,
            };
            let put = put.build().map_err(build_error)?;
            let mut items = vec![
                TransactWriteItem::builder().put(put).build(),
                TransactWriteItem::builder().put(claim.clone()).build(),
            ];
            items.extend(crate::derived_updates(
                self.table_name(),
                &tally::change(&prior.share(count.unwrap_or(0)), &after),
                share_before.as_ref(),
                share_after.as_ref(),
                now,
            )?);
            match self.transact(items).await? {
                TxOutcome::Done if share_after.as_ref().is_some_and(|share| share.partial) => {
                    // The item now is `c` with part of its share: on with the rest.
                    count = Some(c.message_count);
                    prior = Prior::Counted(c.status);
                    share_before = share_after;
                }
                TxOutcome::Done => {
                    self.settle_stamp(c.id, stamp, c.message_count > 0).await;
                    return Ok(attempt + 1);
                }
                outcome => {
                    if let Some(Some(current)) = outcome.failed(0) {
                        count = item::number_of(current, table::MESSAGE_COUNT);
                        prior = tally::standing(current)?
                            .1
                            .map_or(Prior::Uncounted, Prior::Counted);
                        share_before = stats::standing(current)?;
                        continue;
                    }
                    backoff(attempt).await;
                }
            }
        }
        Err(StoreError::Contention(MAX_CONVERSATION_ATTEMPTS))
    }

    /// Puts message items by BatchWriteItem; returns the requests it took. (Conversation
    /// items go by `put_conversation`: the tally changes with them.)
    async fn put_items(&self, items: &[Item]) -> Result<u32, StoreError> {
        let mut requests = 0;
        for chunk in items.chunks(BATCH_SIZE) {
            let mut pending = chunk
                .iter()
                .map(|it| {
                    PutRequest::builder()
                        .set_item(Some(it.clone()))
                        .build()
                        .map(|p| WriteRequest::builder().put_request(p).build())
                        .map_err(|e| StoreError::Dynamo(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            for attempt in 0.. {
                requests += 1;
                let out = self
                    .client()
                    .batch_write_item()
                    .request_items(self.table_name(), pending)
                    .send()
                    .await
                    .map_err(classify)?;
                match out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(self.table_name()))
                {
                    Some(rest) if !rest.is_empty() => {
                        if attempt >= MAX_BATCH_RETRIES {
                            return Err(StoreError::Throttled(format!(
                                "{} items still unprocessed after {MAX_BATCH_RETRIES} retries",
                                rest.len()
                            )));
                        }
                        pending = rest;
                        backoff(attempt).await;
                    }
                    _ => break,
                }
            }
        }
        Ok(requests)
    }
}
