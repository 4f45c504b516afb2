//! `convo-admin backfill`: brings a table written before the tally existed up to date. Every
//! conversation item not counted yet is added to the tally and marked counted in one
//! transaction (`Writer::count_conversation`), so the command is idempotent (a second run
//! finds nothing to do), resumable (a run stopped half-way leaves counted items marked and
//! the next one goes on with the rest) and safe while the sync or the bot writes (a writer
//! that rewrites an uncounted conversation counts it itself; the two never both do).

use std::fmt;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use writer::Writer;
use writer::tally::Backfilled;

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
    pub elapsed: Duration,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "backfill: {} conversations added to the counts ({} counted meanwhile by a writer, {} gone) in {:.1} s",
            self.counted,
            self.already,
            self.gone,
            self.elapsed.as_secs_f64()
        )
    }
}

/// Counts every conversation not counted yet, `PARALLEL` at a time, with a progress line on
/// stderr (hidden when it is not a terminal).
pub async fn run(writer: &Writer) -> anyhow::Result<Report> {
    let started = Instant::now();
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {pos} conversations counted ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let mut report = Report::default();
    let mut start = None;
    loop {
        let (page, next) = writer.uncounted_page(start).await?;
        let mut tasks = tokio::task::JoinSet::new();
        for found in page {
            if tasks.len() >= PARALLEL
                && let Some(done) = tasks.join_next().await
            {
                tally(&mut report, done)?;
                bar.inc(1);
            }
            let writer = writer.clone();
            tasks.spawn(async move { writer.count_conversation(found).await });
        }
        while let Some(done) = tasks.join_next().await {
            tally(&mut report, done)?;
            bar.inc(1);
        }
        start = next;
        if start.is_none() {
            break;
        }
    }
    bar.finish_and_clear();
    report.elapsed = started.elapsed();
    Ok(report)
}

fn tally(
    report: &mut Report,
    done: Result<Result<Backfilled, shared::StoreError>, tokio::task::JoinError>,
) -> Result<(), shared::StoreError> {
    let outcome = done.map_err(|e| shared::StoreError::Dynamo(e.to_string()))??;
    match outcome {
        Backfilled::Counted => report.counted += 1,
        Backfilled::AlreadyCounted => report.already += 1,
        Backfilled::Gone => report.gone += 1,
    }
    Ok(())
}
