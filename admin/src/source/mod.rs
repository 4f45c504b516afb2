//! Where imported rows come from. Every source — JSON Lines files, a mysqldump file, the
//! demo data set — maps its rows through `legacy` (the demo builds domain values itself)
//! and hands them, one at a time, to the one import pipeline (`plan`, then `write`). A
//! source never holds the rows it has read: pass 1 plans from a compact index and pass 2
//! reads the source again to write, so memory stays bounded whatever the size.

pub mod demo;
pub mod jsonl;
pub mod mysqldump;

use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use indicatif::ProgressBar;
use shared::model::{Conversation, Message};

/// Where a row came from, for error messages: `conversations.jsonl:12`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub source: String,
    pub line: u64,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.source, self.line)
    }
}

/// A row that cannot be imported, or a source that cannot be read, with its place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {reason}")]
pub struct PlanError {
    pub origin: Origin,
    pub reason: String,
}

/// A mapped legacy row.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    Conversation(Conversation),
    Message(Message),
}

/// Which legacy table a row is of: a source of two files (JSON Lines) places a line by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Conversation,
    Message,
}

/// Rows of another table, skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub table: String,
    pub rows: u64,
    pub reason: String,
}

/// What a source says about a full read besides its rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadSummary {
    pub skipped: Vec<Skipped>,
    /// Lines for the report (e.g. which time zone the timestamps were read in).
    pub notes: Vec<String>,
}

/// A source of legacy rows that can be read twice, the same way each time.
pub trait Source: Send + Sync + 'static {
    /// What the report names as the source.
    fn name(&self) -> &str;
    /// Where line `line` of a `kind` row is, for errors (`file:line`).
    fn origin(&self, _kind: Kind, line: u64) -> Origin {
        Origin {
            source: self.name().to_string(),
            line,
        }
    }
    /// Size in bytes for the pass 1 progress bar, which `read` advances.
    fn size(&self) -> u64;
    /// Reads every row from the start, in order, passing each mapped row with its line to
    /// `each`; stops at the first error.
    fn read(
        &self,
        bar: &ProgressBar,
        each: &mut dyn FnMut(u64, Mapped) -> Result<(), PlanError>,
    ) -> Result<ReadSummary, PlanError>;
    /// An error if the source is no longer what pass 1 read (a file since changed); pass 2
    /// asks before it reads and again before it writes the conversations.
    fn check_unchanged(&self) -> Result<(), PlanError> {
        Ok(())
    }
}

/// A file a source reads twice, opened once to remember what it was.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub path: std::path::PathBuf,
    /// The path as errors show it.
    pub name: String,
    stamp: Stamp,
}

/// What tells, without reading it, that a file is no longer the one pass 1 read: a file
/// still being written grows, a rotated backup is another file (another inode), an edit
/// changes the modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    file: (u64, u64),
}

impl Stamp {
    fn of(meta: &Metadata) -> Stamp {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            file: (meta.dev(), meta.ino()),
        }
    }
}

impl InputFile {
    /// `flag` names the option in the error for a pipe (`--mysqldump`).
    pub fn open(path: &Path, flag: &str) -> Result<InputFile, PlanError> {
        let name = path.display().to_string();
        let error = |reason: String| PlanError {
            origin: Origin {
                source: name.clone(),
                line: 0,
            },
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| error(format!("cannot open: {e}")))?;
        // The import reads the file twice (pass 1 plans, pass 2 writes): a pipe or stdin
        // would give pass 2 nothing, or something else than pass 1 planned.
        if !meta.is_file() {
            return Err(error(format!(
                "not a regular file (a pipe, stdin, a device?): {flag} reads the file twice; \
                 save a pipe/stdin to a file first"
            )));
        }
        Ok(InputFile {
            path: path.to_path_buf(),
            name,
            stamp: Stamp::of(&meta),
        })
    }

    pub fn len(&self) -> u64 {
        self.stamp.len
    }

    pub fn is_empty(&self) -> bool {
        self.stamp.len == 0
    }

    pub fn error(&self, line: u64, reason: impl Into<String>) -> PlanError {
        PlanError {
            origin: Origin {
                source: self.name.clone(),
                line,
            },
            reason: reason.into(),
        }
    }

    /// The file from its start, counting the bytes read into `count` (for the progress bar).
    pub fn open_counted(&self, count: Arc<AtomicU64>) -> Result<Counted<File>, PlanError> {
        let inner = File::open(&self.path).map_err(|e| self.error(0, format!("cannot open: {e}")))?;
        Ok(Counted { inner, count })
    }

    pub fn check_unchanged(&self) -> Result<(), PlanError> {
        let now = std::fs::metadata(&self.path).map_err(|e| self.error(0, format!("cannot open: {e}")))?;
        if Stamp::of(&now) != self.stamp {
            return Err(self.error(
                0,
                "the file changed since the import started reading it (size, modification time \
                 or the file itself); re-run the import with an unchanged file",
            ));
        }
        Ok(())
    }
}

/// Counts the bytes read (compressed ones for a `.gz`), for the progress bar.
pub struct Counted<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}
