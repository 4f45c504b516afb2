//! JSON Lines files as a source: one legacy row per line, legacy column names, NULL as JSON
//! null; the conversations in one file, the messages in another. Read a line at a time.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::ProgressBar;
use jiff::tz::TimeZone;
use serde::de::DeserializeOwned;

use super::{InputFile, Kind, Mapped, Origin, PlanError, ReadSummary, Source};
use crate::legacy::{self, ConversationRow, MessageRow, RowError};

/// The two export files of the legacy tables.
pub struct JsonlFiles {
    conversations: InputFile,
    messages: InputFile,
    /// "conversations.jsonl + messages.jsonl", for the report.
    name: String,
    zone: TimeZone,
}

impl JsonlFiles {
    /// `zone` is the one the timestamps are written in (--source-timezone, UTC by default).
    pub fn open(conversations: &Path, messages: &Path, zone: TimeZone) -> Result<JsonlFiles, PlanError> {
        let conversations = InputFile::open(conversations, "--conversations")?;
        let messages = InputFile::open(messages, "--messages")?;
        Ok(JsonlFiles {
            name: format!("{} + {}", conversations.name, messages.name),
            conversations,
            messages,
            zone,
        })
    }
}

/// Reads one file's rows, mapping each with `map`; `done` is what the bar showed before it.
fn read_rows<R: DeserializeOwned>(
    file: &InputFile,
    bar: &ProgressBar,
    done: u64,
    map: impl Fn(&R) -> Result<Mapped, RowError>,
    each: &mut dyn FnMut(u64, Mapped) -> Result<(), PlanError>,
) -> Result<(), PlanError> {
    let count = Arc::new(AtomicU64::new(0));
    let mut input = BufReader::with_capacity(64 * 1024, file.open_counted(count.clone())?);
    let mut line = String::new();
    let mut n = 0u64;
    loop {
        line.clear();
        n += 1;
        let read = input
            .read_line(&mut line)
            .map_err(|e| file.error(n, format!("cannot read: {e}")))?;
        if read == 0 {
            break;
        }
        if n.is_multiple_of(1024) {
            bar.set_position(done + count.load(Ordering::Relaxed));
        }
        if line.trim().is_empty() {
            continue;
        }
        let row: R = serde_json::from_str(&line)
            .map_err(|e| file.error(n, format!("not a JSON object of a row: {e}")))?;
        let mapped = map(&row).map_err(|e| file.error(n, e.to_string()))?;
        each(n, mapped)?;
    }
    bar.set_position(done + count.load(Ordering::Relaxed));
    Ok(())
}

impl Source for JsonlFiles {
    fn name(&self) -> &str {
        &self.name
    }

    fn origin(&self, kind: Kind, line: u64) -> Origin {
        let file = match kind {
            Kind::Conversation => &self.conversations,
            Kind::Message => &self.messages,
        };
        Origin {
            source: file.name.clone(),
            line,
        }
    }

    fn size(&self) -> u64 {
        self.conversations.len() + self.messages.len()
    }

    fn read(
        &self,
        bar: &ProgressBar,
        each: &mut dyn FnMut(u64, Mapped) -> Result<(), PlanError>,
    ) -> Result<ReadSummary, PlanError> {
        let zone = &self.zone;
        read_rows(
            &self.conversations,
            bar,
            0,
            |row: &ConversationRow| legacy::map_conversation(row, zone).map(Mapped::Conversation),
            each,
        )?;
        read_rows(
            &self.messages,
            bar,
            self.conversations.len(),
            |row: &MessageRow| legacy::map_message(row, zone).map(Mapped::Message),
            each,
        )?;
        Ok(ReadSummary::default())
    }

    fn check_unchanged(&self) -> Result<(), PlanError> {
        self.conversations.check_unchanged()?;
        self.messages.check_unchanged()
    }
}
