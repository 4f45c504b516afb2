//! Bulk writes for imports: BatchWriteItem, 25 items a request, unprocessed items
//! retried with back-off. Plain puts of complete items, so re-running an import with the
//! same data writes the same items and changes nothing but their write stamps
//! (`stamp`): each request stamps the conversations it writes as it is sent.

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};

use shared::error::{StoreError, classify};
use shared::item::{self, Item};
use shared::model::{Conversation, Message};
use shared::store::backoff;

use crate::Writer;
use crate::stamp::Stamp;

/// BatchWriteItem's limit.
const BATCH_SIZE: usize = 25;
const MAX_BATCH_RETRIES: u32 = 10;

/// One thing an import writes.
#[derive(Debug, Clone)]
pub enum Record {
    /// The conversation with its summary and count, and its phone claim.
    Conversation(Conversation),
    Message(Message),
}

impl Record {
    /// Its items, a conversation's stamped `written`, with its messages if it has any (an
    /// import writes them before it).
    fn items(&self, written: jiff::Timestamp) -> Result<Vec<Item>, StoreError> {
        Ok(match self {
            Record::Conversation(c) => vec![
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
                )?,
                item::phone_item(&c.phone_number, c.id),
            ],
            Record::Message(m) => vec![crate::message_item(m)?],
        })
    }
}

impl Writer {
    /// Writes the records; returns how many BatchWriteItem requests it took.
    pub async fn put_records(&self, records: &[Record]) -> Result<u32, StoreError> {
        // Every item is built (and its size checked) before anything is written; each
        // request then stamps its conversations anew as it is sent.
        let mut items: Vec<Item> = Vec::with_capacity(records.len());
        let built = shared::model::write_stamp();
        for r in records {
            items.extend(r.items(built)?);
        }
        let mut requests = 0;
        for chunk in items.chunks_mut(BATCH_SIZE) {
            let stamp = Stamp::now();
            let stamped: Vec<(u64, bool)> = chunk
                .iter_mut()
                .filter_map(|it| item::stamp_written(it, stamp.written))
                .collect();
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
            for (id, messages) in stamped {
                self.settle_stamp(id, stamp, messages).await;
            }
        }
        Ok(requests)
    }
}
