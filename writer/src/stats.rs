//! The daily statistics' hour items (`shared::stats`), kept by every write of a conversation
//! item's messages in the same transaction: the change from what the item added before
//! (its `stats` attribute, pinned by the write's condition) to what it adds after.

use aws_sdk_dynamodb::types::builders::{PutBuilder, UpdateBuilder};
use aws_sdk_dynamodb::types::{ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use jiff::Timestamp;

use shared::error::StoreError;
use shared::item::{self, Item, n, s};
use shared::stats::{self, StatsShare};
use shared::table;

use crate::transact::{TxOutcome, build_error};

/// What one write does to a conversation's messages, for its share: the messages it makes
/// count (`added`) and those it takes out (`removed`, e.g. rewritten a place up), by
/// `created_at`, and when its newest message was sent after it.
#[derive(Debug, Clone, Default)]
pub struct StatsStep {
    /// The step leaves the share as it is, marked partial, and changes no hour item: a
    /// change that cannot follow the statistics step by step (`Writer::apply_change`).
    pub frozen: bool,
    pub added: Vec<Timestamp>,
    pub removed: Vec<Timestamp>,
    pub newest: Option<Timestamp>,
}

impl StatsStep {
    /// The item's share after this step, from its share before (`None`: not counted, and it
    /// stays so until the backfill counts it whole).
    pub fn after(&self, before: Option<&StatsShare>, now: Timestamp) -> Option<StatsShare> {
        let mut share = before?.kept(now);
        if self.frozen {
            share.partial = true;
            return Some(share);
        }
        for t in &self.added {
            share.count(*t, 1, now);
        }
        for t in &self.removed {
            share.count(*t, -1, now);
        }
        share.set_newest(self.newest, now);
        Some(share)
    }

    /// At most how many hour items it changes, whatever the share before: the hours where
    /// its messages change the count (a message rewritten a place up is taken out and added
    /// in the same bucket), the hour of the newest message after, and one for the newest
    /// before unless the item is new (`existing` false: it had none).
    pub fn max_hours(&self, now: Timestamp, existing: bool) -> usize {
        if self.frozen {
            return 0;
        }
        let mut net = StatsShare::default();
        for t in &self.added {
            net.count(*t, 1, now);
        }
        for t in &self.removed {
            net.count(*t, -1, now);
        }
        net.set_newest(self.newest, now);
        let mut hours: Vec<i64> = net.messages.keys().chain(&net.newest).map(|b| b.hour()).collect();
        hours.sort_unstable();
        hours.dedup();
        hours.len() + usize::from(existing)
    }
}

/// The share a conversation item records (`None`: none).
pub fn standing(current: &Item) -> Result<Option<StatsShare>, StoreError> {
    match current.get(table::STATS_SHARE) {
        None => Ok(None),
        Some(v) => v
            .as_s()
            .ok()
            .and_then(|text| StatsShare::parse(text))
            .map(Some)
            .ok_or_else(|| StoreError::BadItem {
                what: "conversation",
                reason: format!("{}: not a statistics share", table::STATS_SHARE),
            }),
    }
}

/// `put`'s condition (already pinning the item's count) extended to pin its share too:
/// the one it records, or none.
pub fn pin(put: PutBuilder, before: Option<&StatsShare>) -> PutBuilder {
    let condition = put.get_condition_expression().clone().unwrap_or_default();
    let put = put.expression_attribute_names("#stats", table::STATS_SHARE);
    match before {
        Some(share) => put
            .condition_expression(format!("({condition}) AND #stats = :stats"))
            .expression_attribute_values(":stats", s(share.encode())),
        None => put.condition_expression(format!("({condition}) AND attribute_not_exists(#stats)")),
    }
}

/// The condition and values that pin a share in an update (`pin`'s, for `UpdateItem`).
pub fn pin_update(update: UpdateBuilder, before: Option<&StatsShare>) -> UpdateBuilder {
    let condition = update.get_condition_expression().clone().unwrap_or_default();
    let update = update.expression_attribute_names("#stats", table::STATS_SHARE);
    match before {
        Some(share) => update
            .condition_expression(format!("({condition}) AND #stats = :stats_before"))
            .expression_attribute_values(":stats_before", s(share.encode())),
        None => update.condition_expression(format!("({condition}) AND attribute_not_exists(#stats)")),
    }
}

/// The transaction's items that change the hour items as a share goes from `before` to
/// `after` (`None`: an item that is new or not counted, and adds nothing; one that goes
/// from a share to none takes it out).
pub fn updates(
    table_name: &str,
    before: Option<&StatsShare>,
    after: Option<&StatsShare>,
    now: Timestamp,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let none = StatsShare::default();
    stats::change(before.unwrap_or(&none), after.unwrap_or(&none), now)
        .into_iter()
        .map(|hour| {
            let mut terms = Vec::new();
            for (q, (messages, newest)) in hour.messages.iter().zip(&hour.newest).enumerate() {
                terms.push((table::stats_messages(q), *messages));
                terms.push((table::stats_newest(q), *newest));
            }
            terms.retain(|(_, v)| *v != 0);
            let adds = (0..terms.len())
                .map(|i| format!("#t{i} :t{i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let mut update = Update::builder()
                .table_name(table_name)
                .set_key(Some(item::key(
                    table::TALLY_PK.into(),
                    table::stats_hour_sk(hour.hour),
                )))
                .update_expression(format!("SET #hour = :hour ADD {adds}"))
                .expression_attribute_names("#hour", table::STATS_HOUR)
                .expression_attribute_values(":hour", n(hour.hour));
            for (i, (name, value)) in terms.into_iter().enumerate() {
                update = update
                    .expression_attribute_names(format!("#t{i}"), name)
                    .expression_attribute_values(format!(":t{i}"), n(value));
            }
            Ok(TransactWriteItem::builder()
                .update(update.build().map_err(build_error)?)
                .build())
        })
        .collect()
}

/// A conversation item the statistics' backfill has still to count: written before the
/// statistics existed (`share` none), or with a share still partial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsPending {
    pub id: u64,
    pub message_count: u64,
    pub share: Option<StatsShare>,
}

/// What the backfill did with one conversation's statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsCounted {
    /// Counted now, in this many transactions.
    Now(u32),
    /// Counted already (a writer, or another run, finished it first).
    Already,
    Gone,
    /// Left out: the item is at DynamoDB's size limit, with no room for its share.
    TooLarge,
}

/// Attempts of one conversation (each part of its share takes one, each append meanwhile
/// one more).
const MAX_STATS_ATTEMPTS: u32 = 100;
/// Hour items the backfill changes in one transaction beside the conversation item.
const MAX_HOURS_BESIDE_ITEM: usize = 99;

impl crate::Writer {
    /// The conversations of one page of the inbox index from `start` that the statistics'
    /// backfill has still to count, and where the next page starts (`None`: the last).
    pub async fn stats_pending_page(
        &self,
        start: Option<Item>,
    ) -> Result<(Vec<StatsPending>, Option<Item>), StoreError> {
        let (items, next) = self
            .inbox_page_unfinished(
                table::STATS_SHARE,
                Some("~"),
                &[table::ID, table::MESSAGE_COUNT, table::STATS_SHARE],
                start,
            )
            .await?;
        let page = items
            .iter()
            .map(|it| {
                let (id, message_count) = crate::pages::id_and_count(it)?;
                Ok(StatsPending {
                    id,
                    message_count,
                    share: standing(it)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((page, next))
    }

    /// Counts one conversation in the statistics: its messages in the window (read newest
    /// first, strongly consistent, down to the window's start), added to the hour items
    /// with the share the item records, in one transaction or, for many hours, several,
    /// each on condition that its count and share are the ones read: an append meanwhile
    /// makes it read again. Safe beside live writers and other runs.
    pub async fn count_stats(&self, found: StatsPending) -> Result<StatsCounted, StoreError> {
        let key = item::key(table::conversation_pk(found.id), table::META_SK);
        let (mut count, mut recorded) = (found.message_count, found.share);
        let mut target: Option<(u64, StatsShare)> = None;
        let mut transactions = 0;
        for attempt in 0..MAX_STATS_ATTEMPTS {
            let now = shared::model::now_seconds();
            let goal = match &target {
                Some((of, share)) if *of == count => share.clone(),
                _ => {
                    let share = self.share_of_messages(found.id, count, now).await?;
                    target = Some((count, share.clone()));
                    share
                }
            };
            let next = recorded
                .clone()
                .unwrap_or_default()
                .toward(&goal, MAX_HOURS_BESIDE_ITEM, now);
            let update = Update::builder()
                .table_name(self.table_name())
                .set_key(Some(key.clone()))
                .update_expression("SET #stats = :stats")
                .condition_expression("#count = :count")
                .expression_attribute_names("#count", table::MESSAGE_COUNT)
                .expression_attribute_values(":count", n(count))
                .expression_attribute_values(":stats", s(next.encode()))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
            let update = pin_update(update, recorded.as_ref())
                .build()
                .map_err(build_error)?;
            let mut items = vec![TransactWriteItem::builder().update(update).build()];
            items.extend(updates(self.table_name(), recorded.as_ref(), Some(&next), now)?);
            let outcome = match self.transact(items).await {
                Err(StoreError::Dynamo(refusal)) if refusal.contains("size") => {
                    return Ok(StatsCounted::TooLarge);
                }
                outcome => outcome?,
            };
            match outcome {
                TxOutcome::Done => {
                    transactions += 1;
                    if !next.partial {
                        return Ok(StatsCounted::Now(transactions));
                    }
                    recorded = Some(next);
                }
                outcome => match outcome.failed(0) {
                    // The condition's `#count` of an absent item fails too.
                    Some(None) => return Ok(StatsCounted::Gone),
                    Some(Some(now)) => {
                        let share = standing(now)?;
                        if share.as_ref().is_some_and(|s| !s.partial) {
                            return Ok(StatsCounted::Already);
                        }
                        recorded = share;
                        count = item::number_of(now, table::MESSAGE_COUNT).ok_or(StoreError::BadItem {
                            what: "conversation",
                            reason: "message_count missing or malformed".into(),
                        })?;
                    }
                    None => shared::store::backoff(attempt).await,
                },
            }
        }
        Err(StoreError::Contention(MAX_STATS_ATTEMPTS))
    }

    /// Marks the share a conversation item records partial (its content, and so the hour
    /// items, unchanged), on condition that its count and share are `count` and `share`:
    /// false when they are not.
    pub(crate) async fn mark_partial(
        &self,
        id: u64,
        count: u64,
        share: &StatsShare,
    ) -> Result<bool, StoreError> {
        let marked = StatsShare {
            partial: true,
            ..share.clone()
        };
        let update = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(item::key(table::conversation_pk(id), table::META_SK)))
            .update_expression("SET #stats = :stats")
            .condition_expression("#count = :count")
            .expression_attribute_names("#count", table::MESSAGE_COUNT)
            .expression_attribute_values(":count", n(count))
            .expression_attribute_values(":stats", s(marked.encode()));
        let update = pin_update(update, Some(share)).build().map_err(build_error)?;
        Ok(matches!(
            self.transact(vec![TransactWriteItem::builder().update(update).build()])
                .await?,
            TxOutcome::Done
        ))
    }

    /// The share of a conversation's first `count` messages: read newest first, only their
    /// places, down to the first older than the window.
    async fn share_of_messages(&self, id: u64, count: u64, now: Timestamp) -> Result<StatsShare, StoreError> {
        let oldest = stats::oldest_kept(now);
        let mut times = Vec::new();
        let mut newest = None;
        self.each_in_tail(id, count, &item::PLACED_ATTRIBUTES, |it| {
            let t = item::placed_from_item(it)?.created_at;
            newest = newest.or(Some(t));
            let kept = stats::Bucket::of(t) >= oldest;
            if kept {
                times.push(t);
            }
            Ok(kept)
        })
        .await?;
        let mut share = StatsShare::of(times, now);
        share.set_newest(newest, now);
        Ok(share)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_step_moves_the_share_and_an_uncounted_item_stays_so() {
        let now = t("2026-12-07T18:00:00Z");
        let before = StatsShare::of([t("2026-12-07T10:00:00Z"), t("2026-12-07T11:00:00Z")], now);
        // A late message at 10:30 moves the 11:00 one a place up: rewritten, not new.
        let step = StatsStep {
            frozen: false,
            added: vec![t("2026-12-07T10:30:00Z"), t("2026-12-07T11:00:00Z")],
            removed: vec![t("2026-12-07T11:00:00Z")],
            newest: Some(t("2026-12-07T11:00:00Z")),
        };
        let after = step.after(Some(&before), now).unwrap();
        assert_eq!(
            after,
            StatsShare::of(
                [
                    t("2026-12-07T10:00:00Z"),
                    t("2026-12-07T10:30:00Z"),
                    t("2026-12-07T11:00:00Z")
                ],
                now
            )
        );
        assert_eq!(step.after(None, now), None);
        assert_eq!(step.max_hours(now, true), 3);
        assert_eq!(step.max_hours(now, false), 2);
        let items = updates("t", Some(&before), Some(&after), now).unwrap();
        assert_eq!(items.len(), 1);
        let update = items[0].update().unwrap();
        assert_eq!(update.update_expression(), "SET #hour = :hour ADD #t0 :t0");
        assert_eq!(update.key().get(table::SK), Some(&s("hour#2026-12-07T10")));
        // An item that stops counting takes its share out.
        let out = updates("t", Some(&before), None, now).unwrap();
        assert_eq!(out.len(), 2);
        let frozen = StatsStep {
            frozen: true,
            ..step.clone()
        };
        let marked = frozen.after(Some(&before), now).unwrap();
        assert!(marked.partial && marked.messages == before.messages);
        assert!(
            updates("t", Some(&before), Some(&marked), now)
                .unwrap()
                .is_empty()
        );
        assert_eq!(frozen.max_hours(now, true), 0);
    }
}
