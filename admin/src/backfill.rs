//! `convo-admin backfill`: brings a table written before the tally, the needs-reply queue
//! and the daily statistics existed up to date, in three passes over the conversations.
//!
//! 1. Every conversation item not counted yet is added to the tally and marked counted in
//!    one transaction (`Writer::count_conversation`).
//! 2. Every conversation item whose waiting state is unknown gets it from its newest
//!    messages (`Writer::settle_waiting`), which puts the waiting ones in the queue's
//!    indexes.
//! 3. Every conversation item not in the daily statistics yet (or only partly) gets its
//!    share from its messages of the last eight days (`Writer::count_stats`), added to the
//!    hour items in the same transaction.
//!
//! Each write is conditional on what was read, so the command is idempotent (a second run
//! finds nothing to do), resumable (a run stopped half-way leaves what it did marked and
//! the next one goes on with the rest) and safe while the sync or the bot writes (a writer
//! that rewrites a conversation first does the work itself; the two never both do).

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use writer::Writer;
use writer::stats::StatsCounted;
use writer::tally::Backfilled;
use writer::waiting::Settled;

/// Conversations counted at the same time.
const PARALLEL: usize = 8;

/// What a run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub counted: u64,
    /// Counted by a writer (or another run) between the read and this run's write.
    pub already: u64,
    /// Deleted between the read and the write.
    pub gone: u64,
    /// Waiting states written, and how many of them are waiting.
    pub settled: u64,
    pub waiting: u64,
    /// Settled by a writer (or another run) between the read and this run's write.
    pub settled_already: u64,
    /// Left unknown: items at DynamoDB's size limit (`Settled::TooLarge`).
    pub too_large: u64,
    /// Conversations added to the daily statistics, and the transactions it took.
    pub stats_counted: u64,
    pub stats_transactions: u64,
    /// Counted by a writer (or another run) between the read and this run's write.
    pub stats_already: u64,
    /// Left out of the statistics: items at DynamoDB's size limit.
    pub stats_too_large: u64,
    pub elapsed: Duration,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "backfill: {} conversations added to the counts ({} counted meanwhile by a writer, {} gone); \
             {} waiting states worked out ({} waiting for an answer, {} set meanwhile by a writer); \
             {} conversations added to the daily statistics in {} transactions ({} counted meanwhile by a writer) \
             in {:.1} s",
            self.counted,
            self.already,
            self.gone,
            self.settled,
            self.waiting,
            self.settled_already,
            self.stats_counted,
            self.stats_transactions,
            self.stats_already,
            self.elapsed.as_secs_f64()
        )?;
        if self.too_large > 0 {
            write!(
                f,
                "\n{} conversations left out of the needs-reply queue: their items are at DynamoDB's \
                 400 KB limit (their newest message is nearly 400 KB); the first answer written to each settles it",
                self.too_large
            )?;
        }
        if self.stats_too_large > 0 {
            write!(
                f,
                "\n{} conversations left out of the daily statistics: their items are at DynamoDB's \
                 400 KB limit; shorten their newest message in the source and run the backfill again",
                self.stats_too_large
            )?;
        }
        Ok(())
    }
}

/// The three passes, `PARALLEL` conversations at a time, with a progress line on stderr
/// (hidden when it is not a terminal).
pub async fn run(writer: &Writer) -> anyhow::Result<Report> {
    let started = Instant::now();
    let mut report = Report::default();
    let bar = spinner("conversations counted");
    walk(
        writer,
        &bar,
        |w, start| async move { w.uncounted_page(start).await },
        |w, found| async move { w.count_conversation(found).await },
        |outcome| match outcome {
            Backfilled::Counted => report.counted += 1,
            Backfilled::AlreadyCounted => report.already += 1,
            Backfilled::Gone => report.gone += 1,
        },
    )
    .await?;
    bar.finish_and_clear();
    let bar = spinner("waiting states worked out");
    walk(
        writer,
        &bar,
        |w, start| async move { w.unsettled_page(start).await },
        |w, found| async move { w.settle_waiting(found).await },
        |outcome| match outcome {
            Settled::Now(state) => {
                report.settled += 1;
                report.waiting += u64::from(state.since().is_some());
            }
            Settled::AlreadyKnown => report.settled_already += 1,
            Settled::TooLarge => report.too_large += 1,
            Settled::Gone => report.gone += 1,
        },
    )
    .await?;
    bar.finish_and_clear();
    let bar = spinner("conversations added to the daily statistics");
    walk(
        writer,
        &bar,
        |w, start| async move { w.stats_pending_page(start).await },
        |w, found| async move { w.count_stats(found).await },
        |outcome| match outcome {
            StatsCounted::Now(transactions) => {
                report.stats_counted += 1;
                report.stats_transactions += u64::from(transactions);
            }
            StatsCounted::Already => report.stats_already += 1,
            StatsCounted::TooLarge => report.stats_too_large += 1,
            StatsCounted::Gone => report.gone += 1,
        },
    )
    .await?;
    bar.finish_and_clear();
    report.elapsed = started.elapsed();
    Ok(report)
}

fn spinner(what: &str) -> ProgressBar {
    ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template(&format!("{{spinner}} {{pos}} {what} ({{elapsed}})"))
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    )
}

/// Follows `page` from the start to the end, running `act` on everything it finds,
/// `PARALLEL` at a time, and handing each outcome to `record`.
async fn walk<T, O, P, PF, A, AF>(
    writer: &Writer,
    bar: &ProgressBar,
    page: P,
    act: A,
    mut record: impl FnMut(O),
) -> Result<(), shared::StoreError>
where
    T: Send + 'static,
    O: Send + 'static,
    P: Fn(Writer, Option<shared::item::Item>) -> PF,
    PF: Future<Output = Result<(Vec<T>, Option<shared::item::Item>), shared::StoreError>>,
    A: Fn(Writer, T) -> AF,
    AF: Future<Output = Result<O, shared::StoreError>> + Send + 'static,
{
    let joined = |done: Result<Result<O, shared::StoreError>, tokio::task::JoinError>| {
        done.map_err(|e| shared::StoreError::Dynamo(e.to_string()))?
    };
    let mut start = None;
    loop {
        let (found, next) = page(writer.clone(), start).await?;
        let mut tasks = tokio::task::JoinSet::new();
        for one in found {
            if tasks.len() >= PARALLEL
                && let Some(done) = tasks.join_next().await
            {
                record(joined(done)?);
                bar.inc(1);
            }
            tasks.spawn(act(writer.clone(), one));
        }
        while let Some(done) = tasks.join_next().await {
            record(joined(done)?);
            bar.inc(1);
        }
        start = next;
        if start.is_none() {
            return Ok(());
        }
    }
}
