//! Replacing a conversation's whole copy in the table with its source's (`convo-admin sync
//! --rebuild`, for a conversation the sync set aside): its conversation item, its phone
//! claim and every message item, whatever the table held.
//!
//! The messages and the conversation item are written by `apply_change`, as one change from
//! position 0 to the source's count, on condition that the conversation's count is still
//! the one read: a conversation of up to 98 messages (3.5 MB) in one transaction, so a
//! reader sees it before or after, never between; a larger one has its positions below the
//! table's count written first (BatchWriteItem) while the conversation item still shows
//! the table's copy, so for that moment a reader may see a message twice or miss one, as
//! with a large sync change. Message items past the new count, invisible once the count is
//! written, are deleted afterwards, each on condition that it still holds the message read.
//! The phone claim is put first (this conversation's, or refused as `PhoneTaken`), and the
//! old number's claim released last when the number changed. The table's copy is read
//! first (strongly consistent), to say what was replaced.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};

use shared::error::{StoreError, classify};
use shared::item::{self, n, s};
use shared::model::{Conversation, MAX_ID, Message, Placed, write_stamp};
use shared::table;

use crate::{Change, ChangeCost, ChangeOutcome, Writer};

/// How replacing a conversation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplaceOutcome {
    Replaced(Box<Replaced>),
    /// Another writer changed the conversation's count since it was read: nothing but the
    /// phone claim was written; read the source again and retry.
    Conflict,
}

/// What a replacement replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct Replaced {
    /// The table's conversation item before (`None`: there was none).
    pub previous: Option<Conversation>,
    /// Messages written, at positions 0 to this − 1: all the source's.
    pub written: u64,
    /// The table's messages the source does not have as they are (in all but their
    /// position), by position: only the table had them, and now nobody does. Compared
    /// whole, not by id: something that writes the table draws ids from the table's
    /// counter, which MySQL's auto-increment may have given another message since.
    pub dropped: Vec<Placed>,
    /// Message items past the new count deleted (those dropped there, and any copy an
    /// interrupted write left beyond the count).
    pub deleted_items: u64,
    pub claim: Claim,
    pub cost: ChangeCost,
}

/// What became of the phone claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This conversation's claim of its number was there.
    Kept,
    /// The number had no claim: written.
    Written,
    /// The number changed: the new one claimed, the old one's claim deleted (`released`)
    /// or left, as it was not this conversation's.
    Moved { from: String, released: bool },
}

impl Writer {
    /// Every message item of a conversation, whatever its count says (items an interrupted
    /// write left beyond it too), by position. Strongly consistent, a page per MB.
    pub async fn all_messages(&self, conversation_id: u64) -> Result<Vec<Message>, StoreError> {
        let query = self
            .client()
            .query()
            .table_name(self.table_name())
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :first AND :last")
            .expression_attribute_names("#pk", table::PK)
            .expression_attribute_names("#sk", table::SK)
            .expression_attribute_values(":pk", s(table::conversation_pk(conversation_id)))
            .expression_attribute_values(":first", s(table::message_sk(0)))
            .expression_attribute_values(":last", s(table::message_sk(MAX_ID)))
            .consistent_read(true);
        let mut messages = Vec::new();
        crate::pages::each_item(query, |it| {
            messages.push(item::message_from_item(it)?);
            Ok(true)
        })
        .await?;
        Ok(messages)
    }

    /// Replaces conversation `conversation`'s copy in the table with it and `messages`, its
    /// every message at positions 0… in chronological order (see the module's comment).
    pub async fn replace_conversation(
        &self,
        conversation: Conversation,
        messages: Vec<Message>,
    ) -> Result<ReplaceOutcome, StoreError> {
        let id = conversation.id;
        if messages.first().is_some_and(|m| m.position != 0)
            || conversation.message_count != messages.len() as u64
        {
            return Err(StoreError::Dynamo(format!(
                "the replacement of conversation {id} is not its messages from position 0 to its count"
            )));
        }
        let previous = self.store().get_conversations(&[id]).await?.remove(&id);
        let before = self.all_messages(id).await?;
        let claim = self.claim_phone(&conversation.phone_number, id).await?;
        let change = Change {
            conversation: Conversation {
                // The write stamps it anew when it writes messages; this covers one that
                // leaves none (every message was only the table's).
                messages_changed: Some(write_stamp()),
                // What the table's copy added to the statistics, its messages taking it out.
                stats: previous.as_ref().and_then(|c| c.stats.clone()),
                ..conversation
            },
            expected_count: previous.as_ref().map(|c| c.message_count),
            messages,
            // From position 0: whatever it was does not count.
            waiting_before: shared::model::Waiting::No,
            replaced: before
                .iter()
                .filter(|m| previous.as_ref().is_some_and(|c| m.position < c.message_count))
                .map(|m| m.created_at)
                .collect(),
        };
        let cost = match self.apply_change(&change).await? {
            ChangeOutcome::Applied(cost) => cost,
            ChangeOutcome::Conflict => return Ok(ReplaceOutcome::Conflict),
        };
        let count = change.conversation.message_count;
        let source: HashMap<u64, &Message> = change.messages.iter().map(|m| (m.id, m)).collect();
        let dropped: Vec<Placed> = before
            .iter()
            .filter(|m| {
                source.get(&m.id).is_none_or(|kept| {
                    **kept
                        != Message {
                            position: kept.position,
                            ..(*m).clone()
                        }
                })
            })
            .map(|m| Placed {
                id: m.id,
                position: m.position,
                created_at: m.created_at,
            })
            .collect();
        let mut deleted_items = 0;
        for m in before.iter().filter(|m| m.position >= count) {
            if self.delete_message_if(id, m).await? {
                deleted_items += 1;
            }
        }
        let claim = match &previous {
            Some(before) if before.phone_number != change.conversation.phone_number => Claim::Moved {
                from: before.phone_number.clone(),
                released: self.release_phone(&before.phone_number, id).await?,
            },
            _ => claim,
        };
        Ok(ReplaceOutcome::Replaced(Box::new(Replaced {
            previous,
            written: count,
            dropped,
            deleted_items,
            claim,
            cost,
        })))
    }

    /// Claims `phone` for conversation `id` unless another conversation holds it.
    async fn claim_phone(&self, phone: &str, id: u64) -> Result<Claim, StoreError> {
        let result = self
            .client()
            .put_item()
            .table_name(self.table_name())
            .set_item(Some(item::phone_item(phone, id)))
            .condition_expression("attribute_not_exists(#pk) OR #cid = :cid")
            .expression_attribute_names("#pk", table::PK)
            .expression_attribute_names("#cid", table::CONVERSATION_ID)
            .expression_attribute_values(":cid", n(id))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) if out.attributes.is_some() => Ok(Claim::Kept),
            Ok(_) => Ok(Claim::Written),
            Err(SdkError::ServiceError(se)) => match se.err() {
                PutItemError::ConditionalCheckFailedException(e) => Err(match e.item() {
                    Some(owner) => StoreError::PhoneTaken(phone.into(), item::phone_owner(owner.clone())?.1),
                    None => StoreError::PhoneTakenUnknownOwner(phone.into()),
                }),
                _ => Err(classify(SdkError::ServiceError(se))),
            },
            Err(e) => Err(classify(e)),
        }
    }

    /// Deletes conversation `id`'s claim of `phone`, if it is its; whether it was.
    async fn release_phone(&self, phone: &str, id: u64) -> Result<bool, StoreError> {
        self.delete_if(
            item::key(table::phone_pk(phone), table::PHONE_SK),
            table::CONVERSATION_ID,
            id,
        )
        .await
    }

    /// Deletes the message item at `m`'s position if it still holds `m`; whether it did.
    async fn delete_message_if(&self, conversation_id: u64, m: &Message) -> Result<bool, StoreError> {
        self.delete_if(
            item::key(
                table::conversation_pk(conversation_id),
                table::message_sk(m.position),
            ),
            table::ID,
            m.id,
        )
        .await
    }

    /// Deletes the item at `key` if its `attribute` is `value`; whether it did.
    async fn delete_if(&self, key: item::Item, attribute: &str, value: u64) -> Result<bool, StoreError> {
        let result = self
            .client()
            .delete_item()
            .table_name(self.table_name())
            .set_key(Some(key))
            .condition_expression("#a = :v")
            .expression_attribute_names("#a", attribute)
            .expression_attribute_values(":v", n(value))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(se))
                if matches!(se.err(), DeleteItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(false)
            }
            Err(e) => Err(classify(e)),
        }
    }
}
