//! `convo-admin sync`: brings the table up to date with the live legacy MySQL database, once
//! or (`--follow`) every few seconds, so the bot can keep writing to MySQL while the
//! dashboard already reads the new API.
//!
//! A round reads what is new in MySQL — message ids above the highest it has read, the
//! ids a late commit added below it (see "Out-of-order commits"), conversation rows whose
//! `updated_at` moved — and brings each conversation they touch up to date through
//! `reconcile::change` and `Writer::apply_change`, the same code a catch-up import uses.
//!
//! **Out-of-order commits.** InnoDB hands out auto-increment ids when a row is inserted,
//! not when it commits, so id 101 can become visible before id 100. A round therefore
//! re-reads the ids of the last `window` (default 60 s) of rounds, below the highest id
//! read, and applies those it has not applied yet. An id is *settled* once it was below the
//! highest id read a whole window ago: a transaction open longer than that when it
//! commits is the one thing missed (the legacy PHP commits each insert at once).
//! Conversation rows are read the same way, from `updated_at` one window back.
//!
//! **Nothing lost, nothing doubled.** The checkpoint (settled message id, conversation
//! time) lives in the table itself, saved after each round's writes. After a `kill -9`, the
//! next run starts from it and re-reads everything since: a message already in the table is
//! recognised by its id at its position (`reconcile::change`) and not written again.
//!
//! **Quarantine.** A conversation whose table copy holds what MySQL does not explain (a
//! `reconcile::Refusal`: a message MySQL lacks, another phone number, a newer copy; or its
//! phone number claimed by another conversation) is set aside, not the whole sync stopped:
//! a record in the table says why and since when (`writer::Quarantine`), the refusal is
//! printed once, and later rounds skip the conversation (its messages still count as
//! applied, so the checkpoint moves on). `--rebuild` (`rebuild`) rebuilds it from MySQL and
//! deletes the record; the next round sees the record gone and compares the conversation
//! whole with MySQL, as a first run does, bringing over what the skipped rounds left out.
//! `--status` (`status`) lists the records.

pub mod legacy_db;
pub mod metrics;
mod rebuild;
mod status;

pub use rebuild::{Rebuilt, rebuild};
pub use status::{SyncStatus, status};

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use jiff::{SignedDuration, Timestamp};
use shared::error::StoreError;
use shared::model::{Conversation, SyncCheckpoint, mask_phone};
use tokio::sync::watch;
use tokio::task::JoinSet;
use writer::ChangeOutcome;
use writer::{Quarantine, Writer};

use crate::reconcile;
use legacy_db::{LegacyDb, NewId};
use metrics::{Metrics, RoundFigures};

/// Where the checkpoint is kept (`SYNC / mysql`).
const CHECKPOINT: &str = shared::table::SYNC_MYSQL_SK;
/// Conversations brought up to date at once.
const CONCURRENCY: usize = 8;
/// Attempts at one conversation that another writer keeps changing.
const MAX_CONFLICTS: u32 = 5;
/// An idle `--follow` says so at most this often.
const IDLE_REPORT: Duration = Duration::from_secs(60);
/// The chronological key before every legacy message (a TIMESTAMP is after 1970): a
/// conversation compared from it is compared whole.
const FROM_THE_START: (Timestamp, u64) = (Timestamp::UNIX_EPOCH, 0);

#[derive(Debug, Clone)]
pub struct Options {
    pub follow: bool,
    /// Between rounds of `--follow`.
    pub interval: Duration,
    /// How long a commit may lag behind its id (see the module's comment).
    pub window: Duration,
    /// New message ids read per round (more follow in the next round, at once).
    pub batch: usize,
    /// Where each round's figures are published (`--metrics-namespace`); none: nowhere.
    pub metrics: Option<metrics::Target>,
}

/// What one round, or a whole run, did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Messages written at their place (moved ones not counted).
    pub messages: u64,
    /// Messages moved up one place for an older message.
    pub moved: u64,
    /// Conversations written (created, changed, or given messages).
    pub conversations: u64,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.messages += other.messages;
        self.moved += other.moved;
        self.conversations += other.conversations;
    }

    fn is_empty(&self) -> bool {
        *self == Counts::default()
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} messages, {} conversations written",
            self.messages, self.conversations
        )?;
        if self.moved > 0 {
            write!(f, " ({} messages moved up for older ones)", self.moved)?;
        }
        Ok(())
    }
}

/// The end of a run.
#[derive(Debug, Clone)]
pub struct Summary {
    pub rounds: u64,
    /// Rounds that failed (MySQL or DynamoDB away) and were retried: they wrote nothing and
    /// published no figures.
    pub failed_rounds: u64,
    pub counts: Counts,
    /// Conversations set aside at the end (`writer::Quarantine`), this run's and earlier.
    pub quarantined: usize,
    pub elapsed: Duration,
    pub checkpoint: SyncCheckpoint,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sync: {} rounds{} in {:.1} s: {}, {} quarantined; checkpoint: messages settled \
             through id {}, conversations changed since {}",
            self.rounds,
            if self.failed_rounds > 0 {
                format!(" ({} failed)", self.failed_rounds)
            } else {
                String::new()
            },
            self.elapsed.as_secs_f64(),
            self.counts,
            self.quarantined,
            self.checkpoint.settled_message_id,
            self.checkpoint.conversations_since
        )
    }
}

/// What a round did, for its line.
struct Round {
    counts: Counts,
    /// From the newest message's legacy `created_at` to the end of its round: how far
    /// behind MySQL the table is (a backlog's old rows do not count).
    lag: Option<SignedDuration>,
    /// More new ids wait: the next round starts at once.
    more: bool,
    /// Conversations this round set aside.
    quarantined: Vec<Quarantine>,
    /// Conversations whose record a rebuild deleted since the last round, compared whole.
    released: Vec<u64>,
}

/// The sync's memory between rounds; only `settled` and `conversations_since` are saved.
struct State {
    settled: u64,
    /// The highest message id read.
    high: u64,
    conversations_since: Timestamp,
    /// Ids above `settled` already applied.
    applied: HashSet<u64>,
    /// Conversation rows as last applied: an unchanged row re-read in the window is skipped.
    rows: HashMap<u64, Conversation>,
    /// (MySQL time of a round, `high` after it), for settling.
    observed: VecDeque<(Timestamp, u64)>,
    /// What the id counters were raised to.
    counters: (u64, u64),
    /// Conversations found in step with MySQL (count and newest message), and when: a later
    /// batch's message of theirs created a whole window before that was counted then, and
    /// is not looked at again (a first run reads every id: one count per conversation, not
    /// one per batch).
    verified: HashMap<u64, Timestamp>,
    /// Conversations set aside (their records in the table, as the last round read them).
    quarantined: HashSet<u64>,
}

/// Runs rounds until MySQL has nothing new (or, with `follow`, until `stop` turns true),
/// printing a line per round with work to `out`.
pub async fn run(
    writer: &Writer,
    legacy: &LegacyDb,
    options: &Options,
    mut stop: watch::Receiver<bool>,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let saved = writer
        .sync_checkpoint(CHECKPOINT)
        .await
        .context("reading the sync checkpoint")?;
    let mut state = State {
        settled: saved.map_or(0, |c| c.settled_message_id),
        high: saved.map_or(0, |c| c.settled_message_id),
        conversations_since: saved.map_or(Timestamp::UNIX_EPOCH, |c| c.conversations_since),
        applied: HashSet::new(),
        rows: HashMap::new(),
        observed: VecDeque::new(),
        counters: (0, 0),
        verified: HashMap::new(),
        quarantined: writer
            .quarantined()
            .await
            .context("reading the conversations the sync set aside")?
            .iter()
            .map(|q| q.conversation_id)
            .collect(),
    };
    match saved {
        Some(c) => writeln!(
            out,
            "sync from {} into {}: resuming after message {}, conversations changed since {} (saved {})",
            legacy.name(),
            writer.table_name(),
            c.settled_message_id,
            c.conversations_since,
            c.saved_at
        )?,
        None => writeln!(
            out,
            "sync from {} into {}: first run, every conversation is compared",
            legacy.name(),
            writer.table_name()
        )?,
    }
    if !state.quarantined.is_empty() {
        writeln!(
            out,
            "{} quarantined, skipped until rebuilt (convo-admin sync --status lists them)",
            state.quarantined.len()
        )?;
    }
    let mut metrics = options
        .metrics
        .clone()
        .map(|target| Metrics::new(target, writer.table_name()));
    let mut totals = Counts::default();
    let mut rounds = 0u64;
    let mut idle_since = Instant::now();
    let mut failures = 0u32;
    let mut failed_rounds = 0u64;
    let checkpoint = loop {
        let result = state.round(writer, legacy, options).await;
        rounds += 1;
        let round = match result {
            Ok(round) => {
                failures = 0;
                round
            }
            // A refusal sets its conversation aside (in the round); anything else (MySQL or
            // DynamoDB away) is retried by --follow with back-off, from the last checkpoint's
            // state in memory.
            Err(e) if !options.follow => return Err(e),
            Err(e) => {
                failures += 1;
                failed_rounds += 1;
                let wait = options.interval * 2u32.pow(failures.min(5));
                writeln!(
                    out,
                    "round {rounds} failed: {}; retrying in {} s",
                    crate::errors::one_line(&e),
                    wait.as_secs()
                )?;
                if wait_or_stop(&mut stop, wait).await {
                    break state.checkpoint();
                }
                continue;
            }
        };
        totals.add(round.counts);
        for id in &round.released {
            writeln!(
                out,
                "round {rounds}: conversation {id} left quarantine (its record was cleared): compared whole with MySQL"
            )?;
        }
        for q in &round.quarantined {
            writeln!(
                out,
                "round {rounds}: quarantined [{}]: {}; later rounds skip it until `convo-admin sync --rebuild {}`",
                q.code, q.reason, q.conversation_id
            )?;
        }
        let quarantined = state.quarantined.len();
        if let Some(metrics) = &mut metrics {
            metrics.record(round.figures(quarantined), Timestamp::now());
            if let Some(line) = metrics.publish_if_due().await {
                writeln!(out, "round {rounds}: {line}")?;
            }
        }
        if !round.counts.is_empty() || !round.quarantined.is_empty() || !round.released.is_empty() {
            let lag = round
                .lag
                .map_or(String::new(), |l| format!(", lag {:.0} s", l.as_secs_f64()));
            writeln!(
                out,
                "round {rounds}: {}, {quarantined} quarantined{lag}",
                round.counts
            )?;
            idle_since = Instant::now();
        } else if options.follow && idle_since.elapsed() >= IDLE_REPORT {
            writeln!(
                out,
                "round {rounds}: nothing new for {} s, {quarantined} quarantined",
                idle_since.elapsed().as_secs()
            )?;
            idle_since = Instant::now();
        }
        if *stop.borrow() {
            break state.checkpoint();
        }
        if round.more {
            continue;
        }
        if !options.follow {
            break state.checkpoint();
        }
        if wait_or_stop(&mut stop, options.interval).await {
            break state.checkpoint();
        }
    };
    if let Some(metrics) = &mut metrics
        && let Some(line) = metrics.publish().await
    {
        writeln!(out, "{line}")?;
    }
    Ok(Summary {
        rounds,
        failed_rounds,
        counts: totals,
        quarantined: state.quarantined.len(),
        elapsed: started.elapsed(),
        checkpoint,
    })
}

impl Round {
    /// What the round publishes (`metrics`): no messages written, no lag.
    fn figures(&self, quarantined: usize) -> RoundFigures {
        RoundFigures {
            lag_seconds: self.lag.map_or(0.0, |l| l.as_secs_f64().max(0.0)),
            rows_applied: self.counts.messages + self.counts.moved + self.counts.conversations,
            quarantined,
        }
    }
}

/// Sleeps `wait`, or less when `stop` turns true; whether it did.
async fn wait_or_stop(stop: &mut watch::Receiver<bool>, wait: Duration) -> bool {
    if *stop.borrow() {
        return true;
    }
    // A closed channel (nobody can ask to stop any more) waits the time out.
    let asked = tokio::time::timeout(wait, stop.wait_for(|s| *s)).await;
    matches!(asked, Ok(Ok(_)))
}

impl State {
    fn checkpoint(&self) -> SyncCheckpoint {
        SyncCheckpoint {
            settled_message_id: self.settled,
            conversations_since: self.conversations_since,
            saved_at: shared::model::now_seconds(),
        }
    }

    async fn round(
        &mut self,
        writer: &Writer,
        legacy: &LegacyDb,
        options: &Options,
    ) -> anyhow::Result<Round> {
        // Set aside, by this run or another; a record gone since the last round was deleted
        // by a rebuild.
        let quarantined: HashSet<u64> = writer
            .quarantined()
            .await
            .context("reading the conversations the sync set aside")?
            .iter()
            .map(|q| q.conversation_id)
            .collect();
        let mut released: Vec<u64> = self.quarantined.difference(&quarantined).copied().collect();
        released.sort_unstable();
        let now = legacy.now().await?;
        let new = legacy.message_ids_after(self.high, options.batch).await?;
        let more = new.len() == options.batch;
        let late: Vec<u64> = legacy
            .message_ids_between(self.settled, self.high)
            .await?
            .into_iter()
            .filter(|id| !self.applied.contains(id))
            .collect();
        let mut candidates = legacy.message_ids(&late).await?;
        candidates.extend(new.iter().copied());
        let window = SignedDuration::try_from(options.window).unwrap_or(SignedDuration::MAX);
        let (counted, candidates): (Vec<NewId>, Vec<NewId>) = candidates.into_iter().partition(|m| {
            self.verified
                .get(&m.conversation_id)
                .is_some_and(|at| m.created_at.checked_add(window).is_ok_and(|t| t < *at))
        });
        self.applied.extend(counted.iter().map(|m| m.id));
        let rows: Vec<Conversation> = legacy
            .conversations_changed_since(self.conversations_since)
            .await?
            .into_iter()
            .filter(|c| self.rows.get(&c.id) != Some(c))
            .collect();

        // Each conversation touched, with the oldest key of its new messages; those set aside
        // are skipped (their messages count as applied), those released are compared whole:
        // rounds skipped their messages while they were set aside.
        let mut touched: BTreeMap<u64, Option<(Timestamp, u64)>> = BTreeMap::new();
        for c in rows.iter().filter(|c| !quarantined.contains(&c.id)) {
            touched.entry(c.id).or_insert(None);
        }
        for m in candidates
            .iter()
            .filter(|m| !quarantined.contains(&m.conversation_id))
        {
            let key = touched.entry(m.conversation_id).or_insert(None);
            *key = Some(key.map_or(m.chronological_key(), |k| k.min(m.chronological_key())));
        }
        for id in &released {
            touched.insert(*id, Some(FROM_THE_START));
        }
        let mut rows: HashMap<u64, Conversation> = rows.into_iter().map(|c| (c.id, c)).collect();
        let missing: Vec<u64> = touched
            .keys()
            .filter(|id| !rows.contains_key(id))
            .copied()
            .collect();
        for c in legacy.conversations(&missing).await? {
            rows.insert(c.id, c);
        }
        // A record deleted by hand for a conversation MySQL lacks: nothing to compare.
        touched.retain(|id, _| rows.contains_key(id) || !released.contains(id));
        if let Some(id) = touched.keys().find(|id| !rows.contains_key(id)) {
            bail!("conversation {id} has new messages but no row in MySQL's conversations table");
        }
        self.raise_counters(writer, &rows, &candidates).await?;

        let ids: Vec<u64> = touched.keys().copied().collect();
        let mut current = writer.store().get_conversations(&ids).await?;
        let mut tasks: JoinSet<anyhow::Result<(u64, Brought)>> = JoinSet::new();
        let mut counts = Counts::default();
        let mut done: Vec<u64> = Vec::with_capacity(ids.len());
        let mut refused: Vec<(u64, Refused)> = Vec::new();
        let mut finish = |(id, brought): (u64, Brought), verified: &mut HashMap<u64, Timestamp>| {
            counts.add(brought.counts);
            if brought.in_step {
                verified.insert(id, now);
            }
            match brought.refused {
                Some(why) => refused.push((id, why)),
                None => done.push(id),
            }
        };
        for (id, from) in touched {
            while tasks.len() >= CONCURRENCY {
                finish(joined(tasks.join_next().await)?, &mut self.verified);
            }
            let (writer, legacy) = (writer.clone(), legacy.clone());
            // Checked above: every touched conversation has its row.
            let Some(row) = rows.get(&id).cloned() else {
                bail!("conversation {id} has new messages but no row in MySQL's conversations table");
            };
            let current = current.remove(&id);
            tasks.spawn(
                async move { Ok((id, bring_up_to_date(&writer, &legacy, row, current, from).await?)) },
            );
        }
        while let Some(result) = tasks.join_next().await {
            finish(joined(Some(result))?, &mut self.verified);
        }
        // Every touched conversation is up to date (its rows and messages are applied), or
        // set aside: recorded before the checkpoint moves past its messages.
        for id in done {
            if let Some(row) = rows.remove(&id) {
                self.rows.insert(id, row);
            }
        }
        let mut set_aside = Vec::with_capacity(refused.len());
        for (id, why) in refused {
            let Some(row) = rows.get(&id) else {
                bail!("conversation {id} was compared without its row in MySQL");
            };
            let record = Quarantine {
                conversation_id: id,
                phone_number: row.phone_number.clone(),
                code: why.code.to_string(),
                reason: why.reason,
                since: shared::model::now_seconds(),
                legacy_updated_at: row.updated_at,
                newest_message_id: why.newest_message_id,
            };
            writer
                .put_quarantine(&record)
                .await
                .with_context(|| format!("recording conversation {id} as quarantined"))?;
            self.verified.remove(&id);
            set_aside.push(record);
        }
        let applied_at = legacy.now().await.unwrap_or(now);
        let lag = candidates
            .iter()
            .filter(|m| !quarantined.contains(&m.conversation_id))
            .map(|m| applied_at.duration_since(m.created_at))
            .min()
            .filter(|_| counts.messages + counts.moved > 0);
        self.applied.extend(candidates.iter().map(|m| m.id));
        self.high = self.high.max(new.last().map_or(0, |m| m.id));
        self.settle(now, options.window);
        writer
            .save_sync_checkpoint(CHECKPOINT, &self.checkpoint())
            .await
            .context("saving the sync checkpoint")?;
        self.quarantined = quarantined;
        self.quarantined
            .extend(set_aside.iter().map(|q| q.conversation_id));
        Ok(Round {
            counts,
            lag,
            more,
            quarantined: set_aside,
            released,
        })
    }

    /// Advances the checkpoint to what a window ago was the highest id read; forgets what
    /// is settled.
    fn settle(&mut self, now: Timestamp, window: Duration) {
        self.observed.push_back((now, self.high));
        let window = SignedDuration::try_from(window).unwrap_or(SignedDuration::MAX);
        while let Some(&(at, high)) = self.observed.front() {
            if now.duration_since(at) < window {
                break;
            }
            self.settled = self.settled.max(high);
            self.observed.pop_front();
        }
        let settled = self.settled;
        self.applied.retain(|id| *id > settled);
        let since = now.checked_sub(window).unwrap_or(Timestamp::UNIX_EPOCH);
        self.conversations_since = self.conversations_since.max(since);
        let keep_after = self.conversations_since;
        self.rows.retain(|_, c| c.updated_at >= keep_after);
    }

    /// Keeps the table's id counters above every legacy id, so that a conversation or
    /// message created through the new API never takes an id the sync is about to write.
    async fn raise_counters(
        &mut self,
        writer: &Writer,
        rows: &HashMap<u64, Conversation>,
        candidates: &[NewId],
    ) -> anyhow::Result<()> {
        let conversation = rows.keys().copied().max().unwrap_or(0).max(self.counters.0);
        let message = candidates
            .iter()
            .map(|m| m.id)
            .max()
            .unwrap_or(0)
            .max(self.counters.1);
        if (conversation, message) != self.counters {
            writer.raise_id_counters(conversation, message).await?;
            self.counters = (conversation, message);
        }
        Ok(())
    }
}

fn joined(
    result: Option<Result<anyhow::Result<(u64, Brought)>, tokio::task::JoinError>>,
) -> anyhow::Result<(u64, Brought)> {
    match result {
        Some(Ok(r)) => r,
        Some(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Some(Err(e)) => Err(e.into()),
        None => bail!("no task to wait for"),
    }
}

/// What bringing a conversation up to date did.
struct Brought {
    counts: Counts,
    /// Its messages were found in step by their count and newest.
    in_step: bool,
    /// It was left as it is, and why: the round sets it aside.
    refused: Option<Refused>,
}

/// Why a conversation was left as it is, for its quarantine record.
struct Refused {
    code: &'static str,
    /// Phone numbers masked.
    reason: String,
    newest_message_id: Option<u64>,
}

/// Brings one conversation up to date with its MySQL row and, when it has new messages
/// from `from` on, its messages from that key on (all of them when it is not in the table:
/// also for a row alone, so a conversation is never created without its messages). A
/// conversation whose count and newest message already match MySQL's is in step as far as
/// messages go (a restart re-reads the window; a first run compares everything). One the
/// table holds what MySQL does not explain of is left as it is (`Brought::refused`).
async fn bring_up_to_date(
    writer: &Writer,
    legacy: &LegacyDb,
    row: Conversation,
    mut current: Option<Conversation>,
    from: Option<(Timestamp, u64)>,
) -> anyhow::Result<Brought> {
    let id = row.id;
    for _ in 0..MAX_CONFLICTS {
        // MySQL's newest message, where this reads it.
        let mut newest_message_id = None;
        let in_step = match (&current, from) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(c), Some(_)) => {
                let (count, newest) = legacy.message_count_and_newest(id).await?;
                newest_message_id = newest;
                count == c.message_count && newest == c.last_message.as_ref().map(|m| m.id)
            }
        };
        let (tail, desired) = if in_step {
            (Vec::new(), Vec::new())
        } else {
            // Not in the table: all its messages; else those from the oldest new one on.
            let key = current.as_ref().and(from);
            let tail = match &current {
                None => Vec::new(),
                Some(c) => {
                    writer
                        .message_tail(id, c.message_count, |p| {
                            key.is_none_or(|k| p.chronological_key() >= k)
                        })
                        .await?
                }
            };
            (tail, legacy.messages_from(id, key).await?)
        };
        if let Some(newest) = desired.iter().max_by_key(|m| m.chronological_key()) {
            newest_message_id = Some(newest.id);
        }
        let counted = in_step && from.is_some();
        let refused = |code, reason| Brought {
            counts: Counts::default(),
            in_step: false,
            refused: Some(Refused {
                code,
                reason,
                newest_message_id,
            }),
        };
        let change = match reconcile::change(&row, current.as_ref(), &tail, desired) {
            Ok(Some(change)) => change,
            Ok(None) => {
                return Ok(Brought {
                    counts: Counts::default(),
                    in_step: counted,
                    refused: None,
                });
            }
            Err(refusal) => return Ok(refused(refusal.code(), refusal.to_string())),
        };
        match writer.apply_change(&change).await {
            Ok(ChangeOutcome::Applied(_)) => {
                let moved = change.moved();
                return Ok(Brought {
                    counts: Counts {
                        messages: change.messages.len() as u64 - moved,
                        moved,
                        conversations: 1,
                    },
                    in_step: counted,
                    refused: None,
                });
            }
            Ok(ChangeOutcome::Conflict) => {
                current = writer.store().get_conversations(&[id]).await?.remove(&id);
            }
            // A new conversation whose number another one holds in the table.
            Err(StoreError::PhoneTaken(phone, owner)) => {
                return Ok(refused(
                    "phone_taken",
                    format!(
                        "conversation {id}: phone number {} already belongs to conversation \
                         {owner} in the table; left as it is",
                        mask_phone(&phone)
                    ),
                ));
            }
            Err(StoreError::PhoneTakenUnknownOwner(phone)) => {
                return Ok(refused(
                    "phone_taken",
                    format!(
                        "conversation {id}: phone number {} already belongs to another \
                         conversation in the table; left as it is",
                        mask_phone(&phone)
                    ),
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    bail!(
        "conversation {id} changed under the sync {MAX_CONFLICTS} times in a row: something else \
         writes to it in the table"
    )
}
