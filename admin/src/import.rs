//! The one import pipeline, whatever the source: pass 1 plans (`plan`), pass 2 writes
//! (`write`); a dry run stops after pass 1.

use std::sync::Arc;
use std::time::Instant;

use writer::Writer;

use crate::report::{self, Report};
use crate::source::Source;
use crate::{plan, write};

/// Imports `source` into `store`, or only validates it when `store` is None (a dry run).
/// `what` names pass 2 on its progress bar ("importing", "seeding").
pub async fn import(writer: Option<&Writer>, source: Arc<dyn Source>, what: &str) -> anyhow::Result<Report> {
    let started = Instant::now();
    let bar = report::bytes_bar(source.size(), "reading");
    let plan = {
        let source = source.clone();
        let bar = bar.clone();
        // Reading and parsing is blocking work: off the runtime's threads.
        tokio::task::spawn_blocking(move || plan::plan(source.as_ref(), &bar)).await?
    };
    bar.finish_and_clear();
    let plan = Arc::new(plan?);
    let mut report = Report::new(source.as_ref(), &plan, writer.is_none());
    if let Some(writer) = writer {
        let count = (plan.message_count() + plan.conversations.len()) as u64;
        let bar = report::rows_bar(count, what);
        let written = write::write(writer, source, plan, &bar).await;
        bar.finish_and_clear();
        report.written = Some(written?);
    }
    report.elapsed = started.elapsed();
    Ok(report)
}
