//! What an import shows: its progress bars on stderr (hidden when stderr is not a
//! terminal) and its final report.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use shared::model::{Conversation, Status};

use crate::plan::Plan;
use crate::source::{ReadSummary, Source};
use crate::write::Written;

/// The import's final report.
#[derive(Debug, Clone)]
pub struct Report {
    pub source: String,
    pub dry_run: bool,
    pub conversations: usize,
    pub messages: usize,
    pub summary: ReadSummary,
    pub per_status: Vec<(Status, usize)>,
    /// What was written (None for a dry run).
    pub written: Option<Written>,
    pub elapsed: Duration,
}

impl Report {
    pub fn new(source: &dyn Source, plan: &Plan, dry_run: bool) -> Self {
        Report {
            source: source.name().to_string(),
            dry_run,
            conversations: plan.conversations.len(),
            messages: plan.message_count(),
            summary: plan.summary.clone(),
            per_status: per_status(&plan.conversations),
            written: None,
            elapsed: Duration::ZERO,
        }
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "source: {}", self.source)?;
        for note in &self.summary.notes {
            writeln!(f, "{note}")?;
        }
        let done = if self.dry_run { "valid" } else { "imported" };
        writeln!(f, "{:<16} {:>10} {:>10} {:>10}", "table", "read", done, "skipped")?;
        for (table, n) in [("conversations", self.conversations), ("messages", self.messages)] {
            writeln!(f, "{table:<16} {n:>10} {n:>10} {:>10}", 0)?;
        }
        for s in &self.summary.skipped {
            writeln!(
                f,
                "{:<16} {:>10} {:>10} {:>10}  ({})",
                s.table, s.rows, 0, s.rows, s.reason
            )?;
        }
        let statuses: Vec<String> = self
            .per_status
            .iter()
            .map(|(s, n)| format!("{} {n}", s.as_str()))
            .collect();
        writeln!(f, "conversations per status: {}", statuses.join(", "))?;
        if let Some(w) = self.written.filter(|w| w.updated + w.unchanged > 0) {
            writeln!(
                f,
                "already in the table: {} conversations; {} brought up to date ({} messages added, \
                 {} moved up for older ones), {} unchanged",
                w.updated + w.unchanged,
                w.updated,
                w.added,
                w.moved,
                w.unchanged
            )?;
        }
        let secs = self.elapsed.as_secs_f64();
        let rows = (self.conversations + self.messages) as f64;
        write!(f, "took {secs:.2} s ({:.0} rows/s", rows / secs.max(1e-9))?;
        match self.written {
            None => write!(f, "); dry run: nothing written"),
            Some(w) => write!(f, ", {} write requests)", w.requests),
        }
    }
}

/// The pass 1 progress bar: bytes of the source.
pub fn bytes_bar(len: u64, what: &str) -> ProgressBar {
    bar(len, what, "{bytes}/{total_bytes}, {bytes_per_sec}")
}

/// The pass 2 progress bar: rows written.
pub fn rows_bar(len: u64, what: &str) -> ProgressBar {
    bar(len, what, "{pos}/{len} rows, {per_sec}")
}

/// A bar of `len` units named `what`, its counts shown by `counts`.
fn bar(len: u64, what: &str, counts: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(&format!("{{msg}} [{{bar:40}}] {counts}, eta {{eta}}"))
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// How many conversations have each status, in `Status::ALL` order.
fn per_status(conversations: &[Conversation]) -> Vec<(Status, usize)> {
    Status::ALL
        .into_iter()
        .map(|s| (s, conversations.iter().filter(|c| c.status == s).count()))
        .collect()
}
