//! JSON Lines input: one legacy row per line, legacy column names, NULL as JSON null.

use std::io::BufRead;
use std::path::Path;

use jiff::tz::TimeZone;
use serde::de::DeserializeOwned;

use crate::legacy::{self, ConversationRow, MessageRow, RowError};
use crate::plan::{Origin, PlanError};
use shared::model::{Conversation, Message};

fn read_rows<R: DeserializeOwned, T>(
    path: &Path,
    map: impl Fn(&R) -> Result<T, RowError>,
) -> Result<Vec<(Origin, T)>, PlanError> {
    let source = path.display().to_string();
    let at = |line: u64, reason: String| PlanError {
        origin: Origin {
            source: source.clone(),
            line,
        },
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| at(0, format!("cannot open: {e}")))?;
    let mut rows = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let n = i as u64 + 1;
        let line = line.map_err(|e| at(n, format!("cannot read: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let row: R =
            serde_json::from_str(&line).map_err(|e| at(n, format!("not a JSON object of a row: {e}")))?;
        let value = map(&row).map_err(|e| at(n, e.to_string()))?;
        rows.push((
            Origin {
                source: source.clone(),
                line: n,
            },
            value,
        ));
    }
    Ok(rows)
}

pub fn read_conversations(path: &Path, zone: &TimeZone) -> Result<Vec<(Origin, Conversation)>, PlanError> {
    read_rows(path, |row: &ConversationRow| legacy::map_conversation(row, zone))
}

pub fn read_messages(path: &Path, zone: &TimeZone) -> Result<Vec<(Origin, Message)>, PlanError> {
    read_rows(path, |row: &MessageRow| legacy::map_message(row, zone))
}
