//! Bringing one conversation up to date with a source that is the truth for it (the legacy
//! MySQL for `convo-admin sync`, a newer dump for a catch-up import): the messages the
//! table has at its end (`message_tail`), then the change written so that a reader always
//! sees a consistent conversation (`apply_change`), and the sync's checkpoint.
//!
//! A change is a run of positions from the first one that differs to the new end: new
//! messages after the newest, and — when a message is older than messages already in the
//! table — the newer ones moved up one place each. It is written in transactions, each
//! with the conversation item on the condition that its count is still the one the
//! previous step left: a reader sees the conversation before, after, or at a step boundary,
//! where every position below the count holds the right message. A writer that got there
//! first makes the change a `Conflict`, and nothing of it is lost: the caller re-reads.

use aws_sdk_dynamodb::operation::get_item::GetItemError;
use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};

use shared::error::{StoreError, classify};
use shared::item::{self, Item, n, s};
use shared::model::{Conversation, Message, Placed, SyncCheckpoint, Waiting};
use shared::stats::StatsShare;
use shared::store::backoff;
use shared::table;

use crate::stamp::Stamp;
use crate::stats::{self, StatsPending, StatsStep};
use crate::tally::{self, Prior};
use crate::transact::{TxOutcome, build_error};
use crate::{Record, Writer};

/// TransactWriteItems' limits: 100 actions and 4 MB in one request. The byte budget keeps
/// room for the request's own names and expressions.
const MAX_TRANSACTION_ITEMS: usize = 100;
const MAX_TRANSACTION_BYTES: usize = 3_500_000;
/// Messages read a page when following a conversation's tail downwards.
const TAIL_PAGE: i32 = 100;
/// Attempts of one step that met a transaction conflict (nobody's condition failed).
const MAX_STEP_ATTEMPTS: u32 = 100;

/// What a conversation must become.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Its final state: the source's fields, the final count and newest-message summary.
    pub conversation: Conversation,
    /// Its count in the table when the change was planned; `None`: it is not in the table
    /// yet, and is created with its phone claim.
    pub expected_count: Option<u64>,
    /// The messages to write, at consecutive positions ending at the final count − 1.
    /// Those below `expected_count` replace what is there (they moved up).
    pub messages: Vec<Message>,
    /// Its waiting state in the table when the change was planned (`No` when it is not
    /// there): a change written in several steps leaves each step's own.
    pub waiting_before: Waiting,
    /// The `created_at` of the table's messages at the positions below `expected_count`
    /// that this change rewrites, as it was planned from them: what the conversation's
    /// statistics share (`conversation.stats`, the table's when planned) loses first.
    pub replaced: Vec<jiff::Timestamp>,
}

impl Change {
    /// Positions below the current count that this change rewrites.
    pub fn moved(&self) -> u64 {
        let below = self.expected_count.unwrap_or(0);
        self.messages.iter().filter(|m| m.position < below).count() as u64
    }
}

/// How applying a change ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOutcome {
    Applied(ChangeCost),
    /// Another writer changed the conversation since it was read (its count, or it was
    /// created): nothing more was written; plan again from what the table holds now.
    Conflict,
}

/// The requests a change took.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ChangeCost {
    pub transactions: u32,
    pub batch_requests: u32,
}

impl Writer {
    /// The messages at the end of a conversation of `count` messages, newest first, as long
    /// as `keep` accepts them (the first it refuses is not returned). Strongly consistent,
    /// only the attributes of `Placed`.
    pub async fn message_tail(
        &self,
        conversation_id: u64,
        count: u64,
        mut keep: impl FnMut(&Placed) -> bool,
    ) -> Result<Vec<Placed>, StoreError> {
        let mut tail = Vec::new();
        self.each_in_tail(conversation_id, count, &item::PLACED_ATTRIBUTES, |it| {
            let placed = item::placed_from_item(it)?;
            let kept = keep(&placed);
            if kept {
                tail.push(placed);
            }
            Ok(kept)
        })
        .await?;
        Ok(tail)
    }

    /// The message items of a conversation of `count` messages from the newest down, with
    /// `attributes` only, strongly consistent, 100 a page, handed to `each` until it answers
    /// `false` or the first message is reached.
    pub(crate) async fn each_in_tail(
        &self,
        conversation_id: u64,
        count: u64,
        attributes: &[&'static str],
        each: impl FnMut(Item) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let Some(last) = count.checked_sub(1) else {
            return Ok(());
        };
        let (projection, names) = item::projection(attributes);
        let query = self
            .client()
            .query()
            .table_name(self.table_name())
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :first AND :last")
            .set_expression_attribute_names(Some(
                names
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_string()))
                    .chain([("#pk".into(), table::PK.into()), ("#sk".into(), table::SK.into())])
                    .collect(),
            ))
            .projection_expression(&projection)
            .expression_attribute_values(":pk", s(table::conversation_pk(conversation_id)))
            .expression_attribute_values(":first", s(table::message_sk(0)))
            .expression_attribute_values(":last", s(table::message_sk(last)))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(TAIL_PAGE);
        crate::pages::each_item(query, each).await
    }

    /// Writes a change: see the module's comment. Positions below the current count that
    /// do not fit in one transaction with the conversation (over 97 messages, or ~3.5 MB)
    /// are first written on their own, so readers may then briefly see a message twice or
    /// miss one; an interruption there is mended by planning and applying again.
    pub async fn apply_change(&self, change: &Change) -> Result<ChangeOutcome, StoreError> {
        let final_count = change.conversation.message_count;
        let first = change.messages.first().map_or(final_count, |m| m.position);
        let consecutive = change
            .messages
            .iter()
            .enumerate()
            .all(|(i, m)| m.position == first + i as u64 && m.conversation_id == change.conversation.id);
        if !consecutive || first + change.messages.len() as u64 != final_count {
            return Err(StoreError::Dynamo(format!(
                "change of conversation {} is not a run of positions ending at its count {final_count}",
                change.conversation.id
            )));
        }
        let mut cost = ChangeCost::default();
        let mut sized: Vec<(&Message, Item, usize)> = Vec::with_capacity(change.messages.len());
        for m in &change.messages {
            let it = crate::message_item(m)?;
            let size = item::size(&it);
            sized.push((m, it, size));
        }
        // The stamps it gets add under 100 bytes: within the byte budget's headroom.
        let meta_bytes = item::size(&crate::conversation_item(
            &change.conversation,
            jiff::Timestamp::UNIX_EPOCH,
        )?);
        let now = shared::model::now_seconds();
        // What a step ending at `end` (an index of `change.messages`) does to the statistics
        // share: the first step also takes out what the rewritten positions held; `frozen`,
        // nothing but mark it partial (see below).
        let stats_step = |frozen: bool, from: usize, end: usize| StatsStep {
            frozen,
            added: change
                .messages
                .get(from..end)
                .unwrap_or_default()
                .iter()
                .map(|m| m.created_at)
                .collect(),
            removed: if from == 0 {
                change.replaced.clone()
            } else {
                Vec::new()
            },
            newest: match end.checked_sub(1).and_then(|i| change.messages.get(i)) {
                Some(newest) => Some(newest.created_at),
                None => change.conversation.last_message.as_ref().map(|m| m.created_at),
            },
        };
        // Whether the item exists before a step starting at `from` (it then had a newest
        // message whose hour the step may change).
        let expected_at_start = |from: usize| from > 0 || change.expected_count.is_some();
        let fits = |frozen: bool, from: usize, run: &[(&Message, Item, usize)], end: usize| {
            // Beside the messages: the conversation item, the tally's shard, a new
            // conversation's phone claim and the hour items of the statistics.
            run.len() + 3 + stats_step(frozen, from, end).max_hours(now, expected_at_start(from))
                <= MAX_TRANSACTION_ITEMS
                && run.iter().map(|(_, _, size)| size).sum::<usize>() + meta_bytes <= MAX_TRANSACTION_BYTES
        };
        // A share left partial by an earlier write that stopped half-way is first made whole
        // from the messages (the first step then finds it so and goes on from it).
        if let (Some(count), Some(share)) = (change.expected_count, &change.conversation.stats)
            && share.partial
        {
            self.count_stats(StatsPending {
                id: change.conversation.id,
                message_count: count,
                share: Some(share.clone()),
            })
            .await?;
        }
        // Moved positions are consistent only all together: in the first step when they
        // fit in it, else written first on their own. The first step must also take out
        // what they held from the statistics; when that does not fit, or the moved run is
        // written on its own (the positions then hold neither the old messages nor all the
        // new ones for a moment), the change does not follow the statistics step by step:
        // the share is marked partial first, kept as it is by every step, and made whole
        // from the messages at the end (`count_stats`), or by the next change or backfill
        // if this one stops.
        let moved = (change.moved() as usize).min(sized.len());
        let (moved_run, after_moved) = sized.split_at(moved);
        let frozen = !fits(false, 0, moved_run, moved);
        let fits = |from: usize, run: &[(&Message, Item, usize)], end: usize| fits(frozen, from, run, end);
        let stats_step = |from: usize, end: usize| stats_step(frozen, from, end);
        let mut share = change.conversation.stats.clone();
        if let (true, Some(count), Some(recorded)) = (frozen, change.expected_count, &share)
            && !recorded.partial
        {
            if !self.mark_partial(change.conversation.id, count, recorded).await? {
                return Ok(ChangeOutcome::Conflict);
            }
            share = Some(StatsShare {
                partial: true,
                ..recorded.clone()
            });
        }
        let mut rest: &[(&Message, Item, usize)] = &sized;
        // Whether messages were written before the next step (the moved run on its own):
        // that step stamps the messages' change even if it writes none itself.
        let mut written_before = false;
        if moved > 0 && !fits(0, moved_run, moved) {
            let records: Vec<Record> = moved_run
                .iter()
                .map(|(m, _, _)| Record::Message((*m).clone()))
                .collect();
            cost.batch_requests += self.put_records(&records).await?;
            rest = after_moved;
            written_before = true;
        }
        let mut expected = change.expected_count;
        // Where the next step's messages start in `change.messages`, and where the ones it
        // makes count start (the first step's include a moved run written before it).
        let mut rest_at = sized.len() - rest.len();
        let mut counted_from = 0;
        loop {
            // As many messages as fit, the conversation item with them (one message always
            // fits: items are at most 400 KB).
            let mut take = 0;
            while take < rest.len()
                && rest
                    .get(..=take)
                    .is_some_and(|run| fits(counted_from, run, rest_at + take + 1))
            {
                take += 1;
            }
            let (step, after) = rest.split_at(take);
            let conversation = match step.last() {
                Some((newest, _, _)) if !after.is_empty() => Conversation {
                    message_count: newest.position + 1,
                    last_message: Some(newest.summary()),
                    waiting: change.waiting_before.after(
                        change.expected_count.unwrap_or(0),
                        first,
                        change
                            .messages
                            .iter()
                            .take_while(|m| m.position <= newest.position)
                            .map(Message::waiting_key),
                    ),
                    ..change.conversation.clone()
                },
                None if !after.is_empty() => {
                    return Err(StoreError::Dynamo(format!(
                        "a message of conversation {} does not fit in a transaction",
                        change.conversation.id
                    )));
                }
                _ => change.conversation.clone(),
            };
            let items: Vec<Item> = step.iter().map(|(_, it, _)| it.clone()).collect();
            let stamps_messages = written_before || !items.is_empty();
            let end = rest_at + take;
            let step_stats = stats_step(counted_from, end);
            let conversation = Conversation {
                stats: share.clone(),
                ..conversation
            };
            match self
                .change_step(items, &conversation, expected, stamps_messages, &step_stats)
                .await?
            {
                Some(written) => share = written,
                None => return Ok(ChangeOutcome::Conflict),
            }
            written_before = false;
            cost.transactions += 1;
            expected = Some(conversation.message_count);
            rest = after;
            rest_at = end;
            counted_from = end;
            if rest.is_empty() {
                if frozen && share.is_some() {
                    self.count_stats(StatsPending {
                        id: change.conversation.id,
                        message_count: final_count,
                        share,
                    })
                    .await?;
                }
                return Ok(ChangeOutcome::Applied(cost));
            }
        }
    }

    /// One transaction: the messages, and the conversation as they leave it, on condition
    /// that its count is `expected` (or, for `None`, that it does not exist, its phone
    /// claim written with it) and that it records the statistics share `conversation.stats`
    /// (the share after is `step`'s change to it). `None` when the condition failed, else
    /// the share it wrote. The conversation is stamped anew at each attempt, its messages'
    /// stamp too for `stamps_messages`.
    async fn change_step(
        &self,
        messages: Vec<Item>,
        conversation: &Conversation,
        expected: Option<u64>,
        stamps_messages: bool,
        step: &StatsStep,
    ) -> Result<Option<Option<StatsShare>>, StoreError> {
        let meta_at = messages.len();
        let puts: Vec<TransactWriteItem> = messages
            .into_iter()
            .map(|it| {
                Put::builder()
                    .table_name(self.table_name())
                    .set_item(Some(it))
                    .build()
                    .map(|p| TransactWriteItem::builder().put(p).build())
                    .map_err(build_error)
            })
            .collect::<Result<_, _>>()?;
        let meta = |stamp: &Stamp,
                    prior: Prior,
                    shares: (Option<&StatsShare>, Option<&StatsShare>)|
         -> Result<TransactWriteItem, StoreError> {
            let stamped = Conversation {
                messages_changed: if stamps_messages {
                    Some(stamp.written)
                } else {
                    conversation.messages_changed
                },
                stats: shares.1.cloned(),
                ..conversation.clone()
            };
            let meta = Put::builder()
                .table_name(self.table_name())
                .set_item(Some(crate::conversation_item(&stamped, stamp.written)?))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
            let meta = tally::pin(meta, expected, prior);
            let meta = match expected {
                Some(_) => stats::pin(meta, shares.0),
                None => meta,
            };
            // A state it cannot settle is written only over one still unknown: the backfill
            // may have settled it since the change was planned (the change is then planned
            // again, from it).
            let meta = match (
                conversation.waiting,
                expected,
                meta.get_condition_expression().clone(),
            ) {
                (Waiting::Unknown, Some(_), Some(condition)) => meta
                    .condition_expression(format!("({condition}) AND attribute_not_exists(#known)"))
                    .expression_attribute_names("#known", table::WAITING_KNOWN),
                _ => meta,
            };
            Ok(TransactWriteItem::builder()
                .put(meta.build().map_err(build_error)?)
                .build())
        };
        let mut claim = None;
        if expected.is_none() {
            let put = Put::builder()
                .table_name(self.table_name())
                .set_item(Some(item::phone_item(
                    &conversation.phone_number,
                    conversation.id,
                )))
                .condition_expression("attribute_not_exists(#pk) OR #cid = :cid")
                .expression_attribute_names("#pk", table::PK)
                .expression_attribute_names("#cid", table::CONVERSATION_ID)
                .expression_attribute_values(":cid", n(conversation.id))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .build()
                .map_err(build_error)?;
            claim = Some(TransactWriteItem::builder().put(put).build());
        }
        // What the item adds to the tally before this step: first assumed counted under the
        // status it is written with (a change rarely moves one); a failed condition's image
        // of the item corrects it.
        let mut prior = match expected {
            Some(_) => Prior::Counted(conversation.status),
            None => Prior::Absent,
        };
        let after = tally::share_of(conversation);
        // The statistics share it records before: first the one planned with (a new item's
        // is empty), then as a failed condition's image shows it.
        let mut share_before = match expected {
            Some(_) => conversation.stats.clone(),
            None => Some(StatsShare::default()),
        };
        // An attempt DynamoDB answered "in progress" may yet commit: if the next one then
        // finds the count moved, it may be this step's own, at an unknown stamp.
        let mut maybe_committed = false;
        for attempt in 0..MAX_STEP_ATTEMPTS {
            let stamp = Stamp::now();
            let now = shared::model::now_seconds();
            let share_after = step.after(share_before.as_ref(), now);
            // The shares of this attempt, as of any earlier one: before, and after.
            let attempted = (share_before.clone(), share_after.clone());
            let mut items = puts.clone();
            items.push(meta(
                &stamp,
                prior,
                (share_before.as_ref(), share_after.as_ref()),
            )?);
            items.extend(claim.clone());
            items.extend(crate::derived_updates(
                self.table_name(),
                &tally::change(&prior.share(expected.unwrap_or(0)), &after),
                share_before.as_ref(),
                share_after.as_ref(),
                now,
            )?);
            let outcome = self.transact(items).await?;
            if let TxOutcome::Done = outcome {
                self.settle_stamp(conversation.id, stamp, stamps_messages).await;
                return Ok(Some(share_after));
            }
            maybe_committed |= outcome.in_progress();
            if let Some(claim) = outcome.failed(meta_at + 1) {
                let phone = conversation.phone_number.clone();
                return Err(match claim.map(|c| item::phone_owner(c.clone())).transpose()? {
                    Some((_, owner)) => StoreError::PhoneTaken(phone, owner),
                    None => StoreError::PhoneTakenUnknownOwner(phone),
                });
            }
            if let Some(current) = outcome.failed(meta_at) {
                // The count as expected but not the rest: the tally's part was wrong.
                if let (Some(current), Some(count)) = (current, expected)
                    && item::number_of(current, table::MESSAGE_COUNT) == Some(count)
                {
                    let (_, status) = tally::standing(current)?;
                    let standing = status.map_or(Prior::Uncounted, Prior::Counted);
                    let share = stats::standing(current)?;
                    // An attempt answered "in progress" that committed after all: the item
                    // records its share (a step that keeps the count shows it only so).
                    if maybe_committed && attempted.0 != attempted.1 && share == attempted.1 {
                        self.stamp_again(conversation.id, stamps_messages).await;
                        return Ok(Some(share));
                    }
                    if standing != prior || share != share_before {
                        prior = standing;
                        share_before = share;
                        continue;
                    }
                }
                if maybe_committed {
                    self.stamp_again(conversation.id, stamps_messages).await;
                }
                return Ok(None);
            }
            backoff(attempt).await;
        }
        Err(StoreError::Contention(MAX_STEP_ATTEMPTS))
    }

    /// The sync checkpoint kept under `SYNC / sk`, if a sync saved one.
    pub async fn sync_checkpoint(&self, sk: &str) -> Result<Option<SyncCheckpoint>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table_name())
            .set_key(Some(item::key(table::SYNC_PK.into(), sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify::<GetItemError>)?;
        out.item.map(item::checkpoint_from_item).transpose()
    }

    pub async fn save_sync_checkpoint(
        &self,
        sk: &str,
        checkpoint: &SyncCheckpoint,
    ) -> Result<(), StoreError> {
        self.client()
            .put_item()
            .table_name(self.table_name())
            .set_item(Some(item::checkpoint_to_item(sk, checkpoint)))
            .send()
            .await
            .map(drop)
            .map_err(classify)
    }
}
