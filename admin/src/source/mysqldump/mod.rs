//! A mysqldump / mariadb-dump file, plain or gzip-compressed, as a source: the rows of the
//! legacy `conversations` and `messages` tables, mapped by `legacy` like any other source.

pub mod input;
pub mod reader;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::read::MultiGzDecoder;
use indicatif::ProgressBar;
use jiff::tz::TimeZone;

use super::{InputFile, Mapped, PlanError, ReadSummary, Skipped, Source};
use crate::legacy::{self, ConversationRow, MessageRow};
pub use reader::{DumpReader, Row, SyntaxError, Table};

/// A dump file as a source of legacy rows.
pub struct DumpFile {
    file: InputFile,
    /// The zone of timestamps the dump does not place in a zone of its own (only a
    /// `--skip-tz-utc` dump has none), and whether the user chose it.
    zone: TimeZone,
    zone_given: Option<String>,
}

impl DumpFile {
    /// `source_timezone` is --source-timezone, if given; UTC otherwise.
    pub fn open(path: &Path, source_timezone: Option<(&str, TimeZone)>) -> Result<DumpFile, PlanError> {
        let file = InputFile::open(path, "--mysqldump")?;
        let (zone_given, zone) = match source_timezone {
            Some((name, zone)) => (Some(name.to_string()), zone),
            None => (None, TimeZone::UTC),
        };
        Ok(DumpFile {
            file,
            zone,
            zone_given,
        })
    }

    fn error(&self, line: u64, reason: impl Into<String>) -> PlanError {
        self.file.error(line, reason)
    }
}

/// The file's bytes, gunzipped if it starts with gzip's magic bytes (whatever its name).
fn open_dump(file: &InputFile, count: Arc<AtomicU64>) -> Result<Box<dyn Read + Send>, PlanError> {
    let mut input = BufReader::with_capacity(64 * 1024, file.open_counted(count)?);
    let gzip = input
        .fill_buf()
        .map_err(|e| file.error(0, format!("cannot read: {e}")))?
        .starts_with(&[0x1f, 0x8b]);
    Ok(if gzip {
        // Multi-member: `cat a.gz b.gz` and pigz output are valid gzip files too.
        Box::new(MultiGzDecoder::new(input))
    } else {
        Box::new(input)
    })
}

impl Source for DumpFile {
    fn name(&self) -> &str {
        &self.file.name
    }

    fn size(&self) -> u64 {
        self.file.len()
    }

    fn check_unchanged(&self) -> Result<(), PlanError> {
        self.file.check_unchanged()
    }

    fn read(
        &self,
        bar: &ProgressBar,
        each: &mut dyn FnMut(u64, Mapped) -> Result<(), PlanError>,
    ) -> Result<ReadSummary, PlanError> {
        let count = Arc::new(AtomicU64::new(0));
        let input = open_dump(&self.file, count.clone())?;
        let mut dump = DumpReader::new(input);
        // Which zones the timestamps were read in, for the report.
        let mut dump_zone: Option<String> = None;
        let mut own_zone_rows = 0u64;
        let mut rows = 0u64;
        loop {
            let row = dump.next_row().map_err(|e| {
                let reason = if e.reason.starts_with("cannot read") && self.file.name.ends_with(".gz") {
                    format!("{} (is the .gz file complete?)", e.reason)
                } else {
                    e.reason
                };
                self.error(e.line, reason)
            })?;
            let Some(row) = row else { break };
            rows += 1;
            if rows.is_multiple_of(1024) {
                bar.set_position(count.load(Ordering::Relaxed));
            }
            let zone = match dump.zone() {
                Some(z) => {
                    dump_zone.get_or_insert_with(|| z.written.clone());
                    &z.zone
                }
                None => {
                    own_zone_rows += 1;
                    &self.zone
                }
            };
            let pairs = dump.columns().iter().map(String::as_str).zip(row.values);
            let mapped = match row.table {
                Table::Conversations => legacy::map_conversation(&ConversationRow::from_columns(pairs), zone)
                    .map(Mapped::Conversation),
                Table::Messages => {
                    legacy::map_message(&MessageRow::from_columns(pairs), zone).map(Mapped::Message)
                }
            };
            let mapped = mapped.map_err(|e| {
                self.error(
                    row.line,
                    format!("{} row {}: {e}", row.table.as_str(), row.number),
                )
            })?;
            each(row.line, mapped)?;
        }
        bar.set_position(count.load(Ordering::Relaxed));
        if !dump.has_table(Table::Conversations) {
            return Err(self.error(
                dump.line(),
                "the dump has no `conversations` table (no CREATE TABLE, no INSERT): is it a \
                 mysqldump of the legacy database?",
            ));
        }

        let skipped = dump
            .skipped()
            .iter()
            .map(|(table, &rows)| Skipped {
                table: table.clone(),
                rows,
                reason: "not a table of the API".into(),
            })
            .collect();
        Ok(ReadSummary {
            skipped,
            notes: self.zone_notes(dump_zone.as_deref(), own_zone_rows),
        })
    }
}

impl DumpFile {
    /// Says in which zone the timestamps were read, and when --source-timezone was not used
    /// or should have been.
    fn zone_notes(&self, dump_zone: Option<&str>, own_zone_rows: u64) -> Vec<String> {
        let mut notes = Vec::new();
        if let Some(written) = dump_zone {
            let mut note = format!("timestamps: read in the zone the dump sets (TIME_ZONE='{written}')");
            if let Some(given) = &self.zone_given {
                note.push_str(&format!(
                    "; --source-timezone {given} is not used for them (it matters for --skip-tz-utc dumps)"
                ));
            }
            notes.push(note);
        }
        if own_zone_rows > 0 {
            match &self.zone_given {
                Some(given) => notes.push(format!(
                    "timestamps: {own_zone_rows} rows without a TIME_ZONE set by the dump read in {given}"
                )),
                None => notes.push(format!(
                    "timestamps: {own_zone_rows} rows without a TIME_ZONE set by the dump (made with \
                     --skip-tz-utc?) read as UTC; pass --source-timezone with the old server's zone \
                     if they are local times"
                )),
            }
        }
        notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan;
    use crate::report::Report;
    use std::fs::File;
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/mysqldump")
            .join(name)
    }

    fn report(name: &str, zone: Option<&str>) -> String {
        let zone = zone.map(|z| (z, TimeZone::get(z).unwrap()));
        let source = DumpFile::open(&fixture(name), zone).unwrap();
        let plan = plan::plan(&source, &ProgressBar::hidden()).unwrap();
        let mut report = Report::new(&source, &plan, true);
        report.source = name.into();
        report.to_string()
    }

    #[test]
    fn the_report_counts_rows_per_table_and_says_which_zone_was_used() {
        let text = report("legacy.sql.gz", Some("America/Bogota"));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[..7],
            [
                "source: legacy.sql.gz",
                "timestamps: read in the zone the dump sets (TIME_ZONE='+00:00'); --source-timezone \
                 America/Bogota is not used for them (it matters for --skip-tz-utc dumps)",
                "table                  read      valid    skipped",
                "conversations             4          4          0",
                "messages                 10         10          0",
                "settings                  3          0          3  (not a table of the API)",
                "conversations per status: active 2, pending_human 1, closed 1",
            ]
        );
        assert!(lines[7].ends_with("dry run: nothing written"), "{text}");

        let text = report("legacy-skip-tz-utc.sql", None);
        assert!(
            text.contains(
                "14 rows without a TIME_ZONE set by the dump (made with --skip-tz-utc?) read as UTC"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_file_without_the_legacy_tables_is_not_taken_for_an_empty_database() {
        let other = std::env::temp_dir().join(format!("other-{}.sql", std::process::id()));
        std::fs::write(
            &other,
            "CREATE TABLE `users` (`id` int);\nINSERT INTO `users` VALUES (1);\n",
        )
        .unwrap();
        let source = DumpFile::open(&other, None).unwrap();
        let e = plan::plan(&source, &ProgressBar::hidden()).unwrap_err();
        std::fs::remove_file(&other).unwrap();
        assert!(e.to_string().ends_with(":3: the dump has no `conversations` table (no CREATE TABLE, no INSERT): is it a mysqldump of the legacy database?"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_pipe_or_device_is_refused_up_front() {
        // A device here; a FIFO or /dev/stdin is refused the same way (not a regular file).
        let e = DumpFile::open(Path::new("/dev/null"), None).err().unwrap();
        assert_eq!(
            e.to_string(),
            "/dev/null:0: not a regular file (a pipe, stdin, a device?): --mysqldump reads the \
             file twice; save a pipe/stdin to a file first"
        );
    }

    #[test]
    fn a_file_changed_after_it_was_opened_is_noticed() {
        let path = std::env::temp_dir().join(format!("stamp-{}.sql", std::process::id()));
        std::fs::copy(fixture("legacy.sql"), &path).unwrap();
        let source = DumpFile::open(&path, None).unwrap();
        plan::plan(&source, &ProgressBar::hidden()).unwrap();
        source.check_unchanged().unwrap();
        // The same size, another modification time.
        let file = File::options().write(true).open(&path).unwrap();
        let modified = file.metadata().unwrap().modified().unwrap();
        file.set_modified(modified + std::time::Duration::from_secs(1))
            .unwrap();
        let e = source.check_unchanged().unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert!(
            e.reason
                .starts_with("the file changed since the import started reading it"),
            "{e}"
        );
    }

    #[test]
    fn a_truncated_gzip_file_is_an_error_with_its_line() {
        let bytes = std::fs::read(fixture("legacy.sql.gz")).unwrap();
        let cut = std::env::temp_dir().join(format!("cut-{}.sql.gz", std::process::id()));
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let source = DumpFile::open(&cut, None).unwrap();
        let e = plan::plan(&source, &ProgressBar::hidden()).unwrap_err();
        std::fs::remove_file(&cut).unwrap();
        assert!(e.origin.line > 1, "{e}");
        assert!(e.to_string().contains("sql.gz:"), "{e}");
    }
}
