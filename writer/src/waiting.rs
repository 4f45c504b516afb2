//! The backfill of the needs-reply queue: the waiting state (`shared::model::Waiting`) of
//! conversation items written before the queue existed, worked out from their messages.
//! Every writer of messages keeps it from then on (`Waiting::after`); a writer that meets
//! an unknown state and cannot settle it leaves it unknown, never wrong.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use shared::error::{StoreError, classify};
use shared::item::{self, Item, n, s};
use shared::model::{SenderType, Waiting};
use shared::table;

use crate::Writer;

/// A conversation item whose waiting state is not known yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsettled {
    pub id: u64,
    pub message_count: u64,
}

/// What the backfill did with one conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Its state, written now.
    Now(Waiting),
    /// Known already (a writer, or another run, got there first).
    AlreadyKnown,
    Gone,
    /// Left unknown: the item is at DynamoDB's size limit (written before the room for a
    /// waiting state was kept), so the state does not fit; the first answer written to it
    /// settles it.
    TooLarge,
}

/// Attempts of one conversation (each one that lost to an append reads again).
const MAX_SETTLE_ATTEMPTS: u32 = 20;
/// The state of a conversation's newest messages, newest first, read down to its newest
/// answer or its first message: `Waiting::after` over them in their order.
fn state_of_tail(newest_first: &[(u64, SenderType, jiff::Timestamp)]) -> Waiting {
    Waiting::No.after(0, 0, newest_first.iter().rev().copied())
}

impl Writer {
    /// The conversations of one page of the inbox index from `start` whose waiting state
    /// is unknown, and where the next page starts (`None`: this was the last).
    pub async fn unsettled_page(
        &self,
        start: Option<Item>,
    ) -> Result<(Vec<Unsettled>, Option<Item>), StoreError> {
        let (items, next) = self
            .inbox_page_without(table::WAITING_KNOWN, &[table::ID, table::MESSAGE_COUNT], start)
            .await?;
        let page = items
            .iter()
            .map(|it| {
                let (id, message_count) = crate::pages::id_and_count(it)?;
                Ok(Unsettled { id, message_count })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((page, next))
    }

    /// Works out one conversation's waiting state from its newest messages (down to the
    /// newest answer) and writes it, on condition that its count is the one read and its
    /// state still unknown: an append meanwhile makes it read again.
    pub async fn settle_waiting(&self, found: Unsettled) -> Result<Settled, StoreError> {
        let key = item::key(table::conversation_pk(found.id), table::META_SK);
        let mut count = found.message_count;
        for _ in 0..MAX_SETTLE_ATTEMPTS {
            let waiting = self.waiting_of_messages(found.id, count).await?;
            let mut update = self
                .client()
                .update_item()
                .table_name(self.table_name())
                .set_key(Some(key.clone()))
                .condition_expression("#count = :count AND attribute_not_exists(#known)")
                .expression_attribute_names("#count", table::MESSAGE_COUNT)
                .expression_attribute_names("#known", table::WAITING_KNOWN)
                .expression_attribute_values(":count", n(count))
                .expression_attribute_values(":true", AttributeValue::Bool(true))
                .return_values(ReturnValue::None)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
            update = match waiting {
                Waiting::Since { at, from } => update
                    .update_expression(
                        "SET #known = :true, #waiting = :waiting, #since = :since, #from = :from",
                    )
                    .expression_attribute_names("#waiting", table::WAITING)
                    .expression_attribute_names("#since", table::WAITING_SINCE)
                    .expression_attribute_names("#from", table::WAITING_FROM)
                    .expression_attribute_values(":waiting", s(table::activity(at, found.id)))
                    .expression_attribute_values(":since", s(at.to_string()))
                    .expression_attribute_values(":from", n(from)),
                _ => update.update_expression("SET #known = :true"),
            };
            match update.send().await {
                Ok(_) => return Ok(Settled::Now(waiting)),
                Err(SdkError::ServiceError(se)) => match se.err() {
                    UpdateItemError::ConditionalCheckFailedException(e) => match e.item() {
                        None => return Ok(Settled::Gone),
                        Some(now) if now.contains_key(table::WAITING_KNOWN) => {
                            return Ok(Settled::AlreadyKnown);
                        }
                        Some(now) => {
                            count =
                                item::number_of(now, table::MESSAGE_COUNT).ok_or(StoreError::BadItem {
                                    what: "conversation",
                                    reason: "message_count missing or malformed".into(),
                                })?;
                        }
                    },
                    other
                        if other.code() == Some("ValidationException")
                            && other.message().is_some_and(|m| m.contains("size")) =>
                    {
                        return Ok(Settled::TooLarge);
                    }
                    _ => return Err(classify(SdkError::ServiceError(se))),
                },
                Err(e) => return Err(classify(e)),
            }
        }
        Err(StoreError::Contention(MAX_SETTLE_ATTEMPTS))
    }

    /// The waiting state of a conversation's first `count` messages: read newest first,
    /// strongly consistent, only sender, time and position, until the newest answer.
    async fn waiting_of_messages(&self, id: u64, count: u64) -> Result<Waiting, StoreError> {
        let attributes = [table::POSITION, table::SENDER_TYPE, table::CREATED_AT];
        let mut newest_first = Vec::new();
        self.each_in_tail(id, count, &attributes, |it| {
            let m = item::waiting_key_from_item(it)?;
            let customer = m.1 == SenderType::Customer;
            newest_first.push(m);
            Ok(customer)
        })
        .await?;
        Ok(state_of_tail(&newest_first))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_starts_at_the_oldest_customer_message_after_the_newest_answer() {
        let t = |s| jiff::Timestamp::from_second(s).unwrap();
        use SenderType::{Ai, Customer, Human};
        assert_eq!(state_of_tail(&[]), Waiting::No);
        assert_eq!(
            state_of_tail(&[(3, Ai, t(30)), (2, Customer, t(20))]),
            Waiting::No
        );
        assert_eq!(
            state_of_tail(&[
                (3, Customer, t(30)),
                (2, Customer, t(20)),
                (1, Human, t(10)),
                (0, Customer, t(0))
            ]),
            Waiting::Since { at: t(20), from: 2 }
        );
        assert_eq!(
            state_of_tail(&[(1, Customer, t(30)), (0, Customer, t(20))]),
            Waiting::Since { at: t(20), from: 0 }
        );
    }
}
