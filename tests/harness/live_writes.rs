//! The bot's live writes, as the tests play them: create a conversation, append a
//! message, change its status or AI switch. In production the legacy PHP bot writes to
//! MySQL and `convo-admin sync` carries each change over (`writer::Writer::apply_change`);
//! these write the table directly, through the writer's primitives (transactions, id
//! counters, write stamps), so that tests can run writers against readers at the same
//! time.

use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use jiff::Timestamp;
use shared::error::{StoreError, classify};
use shared::item::{self, Item, n, s};
use shared::model::{Conversation, MediaType, Message, SenderType, Status, Tally, Waiting, now_seconds};
use shared::stats::StatsShare;
use shared::store::backoff;
use shared::{Store, table};
use writer::stats::{self, StatsStep};
use writer::{Stamp, TxOutcome, Writer, build_error, tally};

/// Attempts of one append or create that made no progress (transaction conflicts, with
/// back-off) before giving up with `StoreError::Contention`.
const MAX_WRITE_ATTEMPTS: u32 = 100;
/// All attempts of one append. An attempt that lost to another append retries at once
/// (someone made progress, so there is no livelock); this only bounds the loop.
const MAX_APPEND_ROUNDS: u32 = 10_000;

/// Appends (in this process) whose position another append took first (the count
/// condition failed): retried at once at the next position.
pub static LOST_RACES: AtomicU64 = AtomicU64::new(0);

/// What a caller supplies to create a conversation; `create_conversation` assigns the id.
#[derive(Debug, Clone)]
pub struct NewConversation {
    pub phone_number: String,
    pub contact_name: Option<String>,
    pub status: Status,
    pub ai_enabled: bool,
}

impl NewConversation {
    /// A new active conversation with AI answers on and no contact name yet: what the bot
    /// creates on a customer's first message.
    pub fn active(phone_number: impl Into<String>) -> NewConversation {
        NewConversation {
            phone_number: phone_number.into(),
            contact_name: None,
            status: Status::Active,
            ai_enabled: true,
        }
    }
}

/// What a caller supplies to append a message; `append_message` assigns id and position.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub sender_type: SenderType,
    pub message_text: String,
    pub audio_url: Option<String>,
    pub media_type: MediaType,
    pub context_used: Option<String>,
    pub confidence_score: Option<f64>,
    pub whatsapp_id: Option<String>,
    /// When the message was sent; `None` means now. A time older than the conversation's
    /// newest message is raised to it, so positions always follow the chronological order.
    pub created_at: Option<Timestamp>,
}

impl NewMessage {
    pub fn text(sender_type: SenderType, text: impl Into<String>) -> NewMessage {
        NewMessage {
            sender_type,
            message_text: text.into(),
            audio_url: None,
            media_type: MediaType::Text,
            context_used: None,
            confidence_score: None,
            whatsapp_id: None,
            created_at: None,
        }
    }
}

/// The live writes, on any writer.
#[allow(async_fn_in_trait)]
pub trait LiveWrites {
    /// Creates a conversation with a new id. The phone number is claimed in the same
    /// transaction, so two conversations can never share it.
    async fn create_conversation(&self, new: NewConversation) -> Result<Conversation, StoreError>;
    /// Appends a message: ONE transaction puts it at the next position and updates the
    /// conversation's count and last-message summary, on condition that the count is still
    /// the one read. Concurrent appends to one conversation therefore serialise: a loser
    /// re-reads and retries, and nothing is lost or reordered.
    async fn append_message(&self, conversation_id: u64, new: NewMessage) -> Result<Message, StoreError>;
    /// Moves a conversation to another status (and so to another `by_status` partition).
    async fn set_status(&self, conversation_id: u64, status: Status) -> Result<(), StoreError>;
    async fn set_ai_enabled(&self, conversation_id: u64, enabled: bool) -> Result<(), StoreError>;
}

impl LiveWrites for Writer {
    async fn create_conversation(&self, new: NewConversation) -> Result<Conversation, StoreError> {
        let now = now_seconds();
        let conversation = Conversation {
            id: self.allocate_id(table::CONVERSATION_COUNTER_SK).await?,
            phone_number: new.phone_number,
            contact_name: new.contact_name,
            status: new.status,
            ai_enabled: new.ai_enabled,
            last_message_at: now,
            created_at: now,
            updated_at: now,
            last_message: None,
            message_count: 0,
            messages_changed: None,
            waiting: Waiting::No,
            // Counted in the statistics from the start, with nothing yet.
            stats: Some(StatsShare::default()),
        };
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            let stamp = Stamp::now();
            let put = |it| {
                Put::builder()
                    .table_name(self.table_name())
                    .set_item(Some(it))
                    .condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", table::PK)
                    .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                    .build()
                    .map(|p| TransactWriteItem::builder().put(p).build())
                    .map_err(build_error)
            };
            let mut items = vec![
                put(writer::conversation_item(&conversation, stamp.written)?)?,
                put(item::phone_item(&conversation.phone_number, conversation.id))?,
            ];
            items.extend(tally::update(self.table_name(), &tally::share_of(&conversation))?);
            let outcome = self.transact(items).await?;
            // Our own earlier try committed (its answer was lost on the way back).
            let ours = |it: Option<&Item>| it.is_some_and(|it| item::has_id(it, conversation.id));
            if let TxOutcome::Done = outcome {
                self.settle_stamp(conversation.id, stamp, false).await;
                return Ok(conversation);
            } else if let Some(existing) = outcome.failed(0) {
                if ours(existing) {
                    // Committed by an attempt whose answer was lost, at a stamp unknown.
                    self.stamp_again(conversation.id, false).await;
                    return Ok(conversation);
                }
                return Err(StoreError::Dynamo(format!(
                    "conversation id {} already exists: raise the id counter",
                    conversation.id
                )));
            } else if let Some(claim) = outcome.failed(1) {
                let phone = conversation.phone_number;
                return Err(match claim.map(|c| item::phone_owner(c.clone())).transpose()? {
                    Some((_, owner)) => StoreError::PhoneTaken(phone, owner),
                    None => StoreError::PhoneTakenUnknownOwner(phone),
                });
            }
            backoff(attempt).await;
        }
        Err(StoreError::Contention(MAX_WRITE_ATTEMPTS))
    }

    async fn append_message(&self, conversation_id: u64, new: NewMessage) -> Result<Message, StoreError> {
        // Allocated up front, so the window between reading the conversation and
        // committing holds no other request; re-allocated only when a concurrent winner
        // took a higher id (see below).
        let mut message_id = self.allocate_id(table::MESSAGE_COUNTER_SK).await?;
        // The conversation as a failed attempt found it, saving a read on retries.
        let mut known: Option<Conversation> = None;
        // Whether the conversation's item is in the tally (one written before the tally
        // existed is not: this append then adds it whole).
        let mut counted = true;
        let mut conflicts = 0;
        for _ in 0..MAX_APPEND_ROUNDS {
            let conversation = match known.take() {
                Some(c) => c,
                None => Store::new(self.client().clone(), self.table_name())
                    .get_conversation(conversation_id)
                    .await?
                    .ok_or(StoreError::ConversationNotFound(conversation_id))?,
            };
            let last = conversation.last_message.as_ref();
            // Positions follow (created_at, id): never older than the newest message, and
            // an id above the newest one's (an id allocated before a concurrent winner's is
            // dropped and a fresh one taken; ids stay unique, with gaps).
            let requested = new.created_at.unwrap_or_else(now_seconds);
            let created_at = last.map_or(requested, |m| requested.max(m.created_at));
            if last.is_some_and(|m| message_id <= m.id) {
                message_id = self.allocate_id(table::MESSAGE_COUNTER_SK).await?;
            }
            let message = Message {
                id: message_id,
                conversation_id,
                position: conversation.message_count,
                sender_type: new.sender_type,
                message_text: new.message_text.clone(),
                audio_url: new.audio_url.clone(),
                media_type: new.media_type,
                context_used: new.context_used.clone(),
                confidence_score: new.confidence_score,
                created_at,
                whatsapp_id: new.whatsapp_id.clone(),
            };
            let last_message_at = created_at.max(conversation.last_message_at);
            // A new message is a change of the conversation (as MySQL's ON UPDATE kept it).
            let updated_at = now_seconds();
            let stamp = Stamp::now();
            // Both items must stay within DynamoDB's 400 KB: the message, and the
            // conversation, which carries the newest message's text.
            let message_item = writer::message_item(&message)?;
            let waiting = conversation.waiting.after(
                conversation.message_count,
                conversation.message_count,
                [message.waiting_key()],
            );
            let waiting_update = WaitingUpdate::new(waiting, conversation_id);
            let now = now_seconds();
            let share = StatsStep {
                frozen: false,
                added: vec![created_at],
                removed: Vec::new(),
                newest: Some(created_at),
            }
            .after(conversation.stats.as_ref(), now);
            writer::conversation_item(
                &Conversation {
                    last_message: Some(message.summary()),
                    message_count: conversation.message_count + 1,
                    last_message_at,
                    updated_at,
                    messages_changed: Some(stamp.written),
                    waiting,
                    stats: share.clone(),
                    ..conversation.clone()
                },
                stamp.written,
            )?;
            let put = Put::builder()
                .table_name(self.table_name())
                .set_item(Some(message_item))
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", table::PK)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .build()
                .map_err(build_error)?;
            let update = Update::builder()
                .table_name(self.table_name())
                .set_key(Some(item::key(
                    table::conversation_pk(conversation_id),
                    table::META_SK,
                )))
                .update_expression(format!(
                    "SET #count = :next, #last_id = :id, #last = :text, #last_sender = :sender, \
                     #last_created = :created, #last_at = :last_at, #activity = :activity, \
                     #updated = :updated, #changed = :changed, #messages_changed = :written, \
                     #counted = :true{}{}",
                    // Before the waiting state's part, which may end in a REMOVE clause.
                    if share.is_some() { ", #stats = :stats" } else { "" },
                    waiting_update.expression,
                ))
                .condition_expression(format!(
                    "{}{}",
                    if counted {
                        "#count = :count AND #counted = :true"
                    } else {
                        "#count = :count AND attribute_not_exists(#counted)"
                    },
                    waiting_update.condition
                ))
                .expression_attribute_names("#counted", table::COUNTED)
                .expression_attribute_values(":true", aws_sdk_dynamodb::types::AttributeValue::Bool(true))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .expression_attribute_names("#count", table::MESSAGE_COUNT)
                .expression_attribute_names("#last_id", table::LAST_MESSAGE_ID)
                .expression_attribute_names("#last", table::LAST_MESSAGE)
                .expression_attribute_names("#last_sender", table::LAST_SENDER_TYPE)
                .expression_attribute_names("#last_created", table::LAST_MESSAGE_CREATED_AT)
                .expression_attribute_names("#last_at", table::LAST_MESSAGE_AT)
                .expression_attribute_names("#activity", table::ACTIVITY)
                .expression_attribute_names("#updated", table::UPDATED_AT)
                .expression_attribute_names("#changed", table::CHANGED)
                .expression_attribute_names("#messages_changed", table::MESSAGES_CHANGED)
                .expression_attribute_values(":updated", s(updated_at.to_string()))
                .expression_attribute_values(":changed", s(table::changed(stamp.written, conversation_id)))
                .expression_attribute_values(":written", s(table::stamp(stamp.written)))
                .expression_attribute_values(":next", n(conversation.message_count + 1))
                .expression_attribute_values(":count", n(conversation.message_count))
                .expression_attribute_values(":id", n(message_id))
                .expression_attribute_values(":text", s(message.message_text.clone()))
                .expression_attribute_values(":sender", s(message.sender_type.as_str()))
                .expression_attribute_values(":created", s(created_at.to_string()))
                .expression_attribute_values(":last_at", s(last_message_at.to_string()))
                .expression_attribute_values(
                    ":activity",
                    s(table::activity(last_message_at, conversation_id)),
                );
            let update = match &share {
                Some(share) => update.expression_attribute_values(":stats", s(share.encode())),
                None => update,
            };
            let update = stats::pin_update(waiting_update.apply(update), conversation.stats.as_ref())
                .build()
                .map_err(build_error)?;
            let mut items = vec![
                TransactWriteItem::builder().put(put).build(),
                TransactWriteItem::builder().update(update).build(),
            ];
            let before = if counted {
                tally::share(conversation.status, conversation.message_count)
            } else {
                Tally::default()
            };
            let after = tally::share(conversation.status, conversation.message_count + 1);
            items.extend(writer::derived_updates(
                self.table_name(),
                &tally::change(&before, &after),
                conversation.stats.as_ref(),
                share.as_ref(),
                now,
            )?);
            let outcome = self.transact(items).await?;
            if let TxOutcome::Done = outcome {
                self.settle_stamp(conversation_id, stamp, true).await;
                return Ok(message);
            }
            // The position is taken — by this very message if an earlier try of this request
            // committed and its answer was lost: then it is done, not to be written twice.
            if let Some(Some(existing)) = outcome.failed(0)
                && item::has_id(existing, message_id)
            {
                self.stamp_again(conversation_id, true).await;
                return Ok(message);
            }
            if let Some(Some(current)) = outcome.failed(1) {
                // Another append took the position (or the item is not counted as
                // thought): retry at once with the conversation as it is now. Backing off
                // here would hand the next position to fresher writers and starve this one.
                LOST_RACES.fetch_add(1, Ordering::Relaxed);
                counted = tally::standing(current)?.1.is_some();
                known = Some(item::conversation_from_item(current.clone())?);
                continue;
            }
            conflicts += 1;
            if conflicts >= MAX_WRITE_ATTEMPTS {
                break;
            }
            backoff(conflicts).await;
        }
        Err(StoreError::Contention(conflicts))
    }

    async fn set_status(&self, conversation_id: u64, status: Status) -> Result<(), StoreError> {
        set_status_counted(self, conversation_id, status).await
    }

    async fn set_ai_enabled(&self, conversation_id: u64, enabled: bool) -> Result<(), StoreError> {
        update_conversation(
            self,
            conversation_id,
            table::AI_ENABLED,
            aws_sdk_dynamodb::types::AttributeValue::Bool(enabled),
        )
        .await
    }
}

/// A status change moves the conversation from one status's count to the other's, in the
/// same transaction, on condition that the item is still what the move was computed from.
async fn set_status_counted(writer: &Writer, conversation_id: u64, status: Status) -> Result<(), StoreError> {
    let key = item::key(table::conversation_pk(conversation_id), table::META_SK);
    let mut current = writer
        .client()
        .get_item()
        .table_name(writer.table_name())
        .set_key(Some(key.clone()))
        .consistent_read(true)
        .send()
        .await
        .map_err(classify)?
        .item
        .ok_or(StoreError::ConversationNotFound(conversation_id))?;
    for attempt in 0..MAX_WRITE_ATTEMPTS {
        let (before, old) = tally::standing(&current)?;
        let count = item::number_of(&current, table::MESSAGE_COUNT).unwrap_or(0);
        let now = now_seconds();
        let stamp = Stamp::now();
        let update = Update::builder()
            .table_name(writer.table_name())
            .set_key(Some(key.clone()))
            .update_expression(
                "SET #status = :status, #updated = :now, #changed = :changed, #counted = :true",
            )
            .condition_expression(match old {
                Some(_) => "#count = :count AND #counted = :true AND #status = :old",
                None => "#count = :count AND attribute_not_exists(#counted)",
            })
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .expression_attribute_names("#status", table::STATUS)
            .expression_attribute_names("#updated", table::UPDATED_AT)
            .expression_attribute_names("#changed", table::CHANGED)
            .expression_attribute_names("#counted", table::COUNTED)
            .expression_attribute_names("#count", table::MESSAGE_COUNT)
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":changed", s(table::changed(stamp.written, conversation_id)))
            .expression_attribute_values(":true", aws_sdk_dynamodb::types::AttributeValue::Bool(true))
            .expression_attribute_values(":count", n(count));
        let update = match old {
            Some(old) => update.expression_attribute_values(":old", s(old.as_str())),
            None => update,
        };
        let mut items = vec![
            TransactWriteItem::builder()
                .update(update.build().map_err(build_error)?)
                .build(),
        ];
        let delta = tally::change(&before, &tally::share(status, count));
        items.extend(tally::update(writer.table_name(), &delta)?);
        let outcome = writer.transact(items).await?;
        match outcome {
            TxOutcome::Done => {
                writer.settle_stamp(conversation_id, stamp, false).await;
                return Ok(());
            }
            outcome => match outcome.failed(0) {
                Some(Some(now)) => current = now.clone(),
                Some(None) => return Err(StoreError::ConversationNotFound(conversation_id)),
                None => backoff(attempt).await,
            },
        }
    }
    Err(StoreError::Contention(MAX_WRITE_ATTEMPTS))
}

async fn update_conversation(
    writer: &Writer,
    conversation_id: u64,
    attribute: &str,
    value: aws_sdk_dynamodb::types::AttributeValue,
) -> Result<(), StoreError> {
    let now = now_seconds();
    let stamp = Stamp::now();
    let result = writer
        .client()
        .update_item()
        .table_name(writer.table_name())
        .set_key(Some(item::key(
            table::conversation_pk(conversation_id),
            table::META_SK,
        )))
        // Every change moves the conversation in `by_change`, to this write's stamp.
        .update_expression("SET #a = :v, #updated = :now, #changed = :changed")
        .condition_expression("attribute_exists(#pk)")
        .expression_attribute_names("#a", attribute)
        .expression_attribute_names("#updated", table::UPDATED_AT)
        .expression_attribute_names("#pk", table::PK)
        .expression_attribute_names("#changed", table::CHANGED)
        .expression_attribute_values(":v", value)
        .expression_attribute_values(":now", s(now.to_string()))
        .expression_attribute_values(":changed", s(table::changed(stamp.written, conversation_id)))
        .send()
        .await;
    match result {
        Ok(_) => {
            writer.settle_stamp(conversation_id, stamp, false).await;
            Ok(())
        }
        Err(SdkError::ServiceError(se))
            if matches!(se.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
        {
            Err(StoreError::ConversationNotFound(conversation_id))
        }
        Err(e) => Err(classify(e)),
    }
}

/// On a store: through a writer of the table it reads.
impl LiveWrites for Store {
    async fn create_conversation(&self, new: NewConversation) -> Result<Conversation, StoreError> {
        Writer::of(self).create_conversation(new).await
    }
    async fn append_message(&self, conversation_id: u64, new: NewMessage) -> Result<Message, StoreError> {
        Writer::of(self).append_message(conversation_id, new).await
    }
    async fn set_status(&self, conversation_id: u64, status: Status) -> Result<(), StoreError> {
        Writer::of(self).set_status(conversation_id, status).await
    }
    async fn set_ai_enabled(&self, conversation_id: u64, enabled: bool) -> Result<(), StoreError> {
        Writer::of(self).set_ai_enabled(conversation_id, enabled).await
    }
}

/// What an append changes of the conversation's waiting state (`Waiting::after`): set it
/// when it is known, else leave it on condition that it is still unknown (the backfill may
/// have worked it out meanwhile: the append then tries again from it).
struct WaitingUpdate {
    expression: String,
    condition: &'static str,
    values: Vec<(&'static str, aws_sdk_dynamodb::types::AttributeValue)>,
}

impl WaitingUpdate {
    fn new(waiting: Waiting, conversation_id: u64) -> WaitingUpdate {
        match waiting {
            Waiting::Unknown => WaitingUpdate {
                expression: String::new(),
                condition: " AND attribute_not_exists(#waiting_known)",
                values: vec![],
            },
            Waiting::No => WaitingUpdate {
                expression: ", #waiting_known = :true REMOVE #waiting, #waiting_since, #waiting_from".into(),
                condition: "",
                values: vec![],
            },
            Waiting::Since { at, from } => WaitingUpdate {
                expression:
                    ", #waiting_known = :true, #waiting = :waiting, #waiting_since = :waiting_since, \
                             #waiting_from = :waiting_from"
                        .into(),
                condition: "",
                values: vec![
                    (":waiting", s(table::activity(at, conversation_id))),
                    (":waiting_since", s(at.to_string())),
                    (":waiting_from", n(from)),
                ],
            },
        }
    }

    fn apply(
        self,
        update: aws_sdk_dynamodb::types::builders::UpdateBuilder,
    ) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        let names: &[(&str, &str)] = match self.expression.is_empty() {
            true => &[("#waiting_known", table::WAITING_KNOWN)],
            _ => &[
                ("#waiting_known", table::WAITING_KNOWN),
                ("#waiting", table::WAITING),
                ("#waiting_since", table::WAITING_SINCE),
                ("#waiting_from", table::WAITING_FROM),
            ],
        };
        let update = names
            .iter()
            .fold(update, |u, (k, v)| u.expression_attribute_names(*k, *v));
        self.values
            .into_iter()
            .fold(update, |u, (k, v)| u.expression_attribute_values(k, v))
    }
}
