//! A streaming reader of mysqldump output: yields the rows of the legacy `conversations`
//! and `messages` tables, one at a time, and skips everything else. It understands the
//! SQL mysqldump and mariadb-dump write (extended and one-row INSERTs, with or without
//! column lists, MySQL string escapes, comments, conditional `/*!…*/` and `/*M!…*/`
//! comments, DELIMITER) rather than SQL in general: no SQL crate streams a multi-gigabyte
//! dump row by row, and this grammar is small.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use jiff::tz::{Offset, TimeZone};

use super::input::Input;
use crate::legacy::{ConversationRow, MessageRow, Scalar};

shared::named_enum! {
    /// The legacy tables the import reads.
    #[derive(PartialOrd, Ord)]
    pub enum Table {
        Conversations = "conversations",
        Messages = "messages",
    }
}

impl Table {
    /// Table names compare without case: a server with lower_case_table_names (Windows,
    /// macOS) may have dumped `Conversations`.
    fn from_name(name: &str) -> Option<Table> {
        Table::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(name))
    }

    /// Column order of the legacy schema, for an INSERT without a column list in a dump
    /// without the table's CREATE TABLE.
    fn contract_columns(self) -> &'static [&'static str] {
        match self {
            Table::Conversations => ConversationRow::COLUMNS,
            Table::Messages => MessageRow::COLUMNS,
        }
    }
}

/// One row of a legacy table, its values in the order of `DumpReader::columns`.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub table: Table,
    /// Line of the row's opening parenthesis.
    pub line: u64,
    /// 1-based place of the row in its INSERT statement.
    pub number: u64,
    /// `None` for NULL.
    pub values: Vec<Option<Scalar>>,
}

/// Why the dump cannot be read, with the line it happened on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}: {reason}")]
pub struct SyntaxError {
    pub line: u64,
    pub reason: String,
}

/// A time zone the dump sets for the TIMESTAMPs that follow (`SET TIME_ZONE='+00:00'`).
#[derive(Debug, Clone)]
pub struct DumpZone {
    pub zone: TimeZone,
    /// As written in the dump, for the report.
    pub written: String,
}

/// Where the reader is in the dump.
enum State {
    /// Between statements.
    Statements,
    /// Inside an INSERT into one of our tables; `rows` rows read so far.
    Rows { table: Table, rows: u64 },
}

pub struct DumpReader<R> {
    input: Input<R>,
    state: State,
    /// The statement delimiter (`;`, or what a DELIMITER line set).
    delimiter: Vec<u8>,
    /// Column order from each legacy table's CREATE TABLE.
    created: BTreeMap<Table, Vec<String>>,
    /// Columns of the INSERT being read.
    columns: Vec<String>,
    zone: Option<DumpZone>,
    /// Zones kept in user variables (`SET @save_time_zone= @@TIME_ZONE`, as mysqldump
    /// --events writes around each event), by lower-case name; `None` for the server's.
    saved_zones: BTreeMap<String, Option<DumpZone>>,
    /// Legacy tables the dump has a CREATE TABLE or an INSERT for.
    seen: BTreeSet<Table>,
    /// Rows of other tables, skipped, per table.
    skipped: BTreeMap<String, u64>,
}

type Result<T> = std::result::Result<T, SyntaxError>;

impl<R: Read> DumpReader<R> {
    pub fn new(inner: R) -> Self {
        DumpReader {
            input: Input::new(inner),
            state: State::Statements,
            delimiter: b";".to_vec(),
            created: BTreeMap::new(),
            columns: Vec::new(),
            zone: None,
            saved_zones: BTreeMap::new(),
            seen: BTreeSet::new(),
            skipped: BTreeMap::new(),
        }
    }

    /// Column names of the rows of the current INSERT.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The time zone the dump has set for what follows, if any.
    pub fn zone(&self) -> Option<&DumpZone> {
        self.zone.as_ref()
    }

    /// Whether the dump so far has a CREATE TABLE or an INSERT for the table.
    pub fn has_table(&self, table: Table) -> bool {
        self.seen.contains(&table)
    }

    /// Rows of other tables skipped so far, per table name.
    pub fn skipped(&self) -> &BTreeMap<String, u64> {
        &self.skipped
    }

    /// Bytes read so far.
    /// The line the reader is on.
    pub fn line(&self) -> u64 {
        self.input.line()
    }

    pub fn position(&self) -> u64 {
        self.input.position()
    }

    fn error<T>(&self, reason: impl Into<String>) -> Result<T> {
        Err(SyntaxError {
            line: self.input.line(),
            reason: reason.into(),
        })
    }

    fn io<T>(&self, r: std::io::Result<T>) -> Result<T> {
        r.or_else(|e| self.error(format!("cannot read the dump: {e}")))
    }

    fn peek(&mut self) -> Result<Option<u8>> {
        let r = self.input.peek();
        self.io(r)
    }

    fn peek_at(&mut self, k: usize) -> Result<Option<u8>> {
        let r = self.input.peek_at(k);
        self.io(r)
    }

    fn bump(&mut self) -> Result<Option<u8>> {
        let r = self.input.next_byte();
        self.io(r)
    }

    /// The next row of `conversations` or `messages`; `None` at the end of the dump.
    pub fn next_row(&mut self) -> Result<Option<Row>> {
        loop {
            if let State::Rows { table, rows } = self.state {
                self.skip_trivia()?;
                if rows > 0 {
                    match self.bump()? {
                        Some(b',') => self.skip_trivia()?,
                        Some(b';') => {
                            self.state = State::Statements;
                            continue;
                        }
                        found => {
                            return self.error(format!(
                                "expected ',' or ';' after a row of `{}`, found {}",
                                table.as_str(),
                                show(found)
                            ));
                        }
                    }
                }
                let row = self.row(table, rows + 1)?;
                self.state = State::Rows {
                    table,
                    rows: rows + 1,
                };
                return Ok(Some(row));
            }
            self.skip_trivia()?;
            match self.peek()? {
                None => return Ok(None),
                Some(b';') => {
                    self.bump()?;
                    continue;
                }
                _ => {}
            }
            let word = self.word()?;
            match word.to_ascii_uppercase().as_str() {
                "INSERT" | "REPLACE" => self.insert_head()?,
                "CREATE" => self.create()?,
                "SET" => {
                    let mut text = b"SET".to_vec();
                    self.skip_statement(Some(&mut text))?;
                    self.apply_zone(&text);
                }
                "DELIMITER" => self.delimiter_line()?,
                _ => self.skip_statement(None)?,
            }
        }
    }

    /// Whitespace and comments; conditional comments are read for the time zone.
    fn skip_trivia(&mut self) -> Result<()> {
        loop {
            match self.peek()? {
                Some(b' ' | b'\t' | b'\n' | b'\r' | b'\x0c') => {
                    self.bump()?;
                }
                Some(b'#') => self.line_comment()?,
                Some(b'-') if self.peek_at(1)? == Some(b'-') => match self.peek_at(2)? {
                    None | Some(b' ' | b'\t' | b'\n' | b'\r') => self.line_comment()?,
                    _ => return Ok(()),
                },
                Some(b'/') if self.peek_at(1)? == Some(b'*') => self.block_comment()?,
                _ => return Ok(()),
            }
        }
    }

    fn line_comment(&mut self) -> Result<()> {
        let r = self.input.take_until(&[b'\n'; 3], None);
        self.io(r)?;
        Ok(())
    }

    /// `/* … */`; for `/*!NNNNN … */` and `/*M!NNNNNN … */` the text is executable SQL, so
    /// it is checked for a time zone setting.
    fn block_comment(&mut self) -> Result<()> {
        let start = self.input.line();
        self.bump()?;
        self.bump()?;
        let conditional = matches!(
            (self.peek()?, self.peek_at(1)?),
            (Some(b'!'), _) | (Some(b'M'), Some(b'!'))
        );
        if conditional {
            let text = self.conditional_body(start)?;
            self.apply_zone(&text);
            return Ok(());
        }
        self.plain_comment_rest(start)
    }

    /// The rest of a plain comment, to its first `*/` (quotes mean nothing in it).
    fn plain_comment_rest(&mut self, start: u64) -> Result<()> {
        loop {
            let r = self.input.take_until(&[b'*'; 3], None);
            if self.io(r)?.is_none() {
                return self.error(format!(
                    "the comment opened with /* on line {start} is never closed with */"
                ));
            }
            self.bump()?;
            if self.peek()? == Some(b'/') {
                self.bump()?;
                return Ok(());
            }
        }
    }

    /// The body of a conditional comment up to its closing `*/` (consumed). MySQL reads
    /// the body as SQL, so a `*/` inside a quoted string or a comment of the body does not
    /// close it: a trigger dumped as `/*!50003 TRIGGER … REPLACE(x, '*/', 'y') */` would
    /// otherwise end mid-string and the rest of the dump be read out of step. Quoted
    /// strings are kept as written (for `zone_effects`); comments of the body are not kept.
    fn conditional_body(&mut self, start: u64) -> Result<Vec<u8>> {
        let mut text = Vec::new();
        loop {
            let Some(b) = self.bump()? else {
                return self.error(format!(
                    "the comment opened with /* on line {start} is never closed with */"
                ));
            };
            match b {
                b'*' if self.peek()? == Some(b'/') => {
                    self.bump()?;
                    return Ok(text);
                }
                b'\'' | b'"' | b'`' => {
                    text.push(b);
                    self.skip_quoted(b, Some(&mut text))?;
                }
                b'#' => {
                    self.line_comment()?;
                    text.push(b' ');
                }
                b'-' if self.peek()? == Some(b'-')
                    && matches!(self.peek_at(1)?, None | Some(b' ' | b'\t' | b'\n' | b'\r')) =>
                {
                    self.line_comment()?;
                    text.push(b' ');
                }
                b'/' if self.peek()? == Some(b'*') => {
                    let line = self.input.line();
                    self.bump()?;
                    self.plain_comment_rest(line)?;
                    text.push(b' ');
                }
                _ => text.push(b),
            }
        }
    }

    fn apply_zone(&mut self, sql: &[u8]) {
        for effect in zone_effects(sql) {
            match effect {
                ZoneEffect::Set(zone) => self.zone = zone,
                ZoneEffect::Save(name) => {
                    self.saved_zones.insert(name, self.zone.clone());
                }
                // `@OLD_TIME_ZONE`, saved by mysqldump's header before it sets '+00:00',
                // brings back the zone of before (None: the server's). A variable never
                // saved into (a dump whose header was cut off) also means the server's zone.
                ZoneEffect::Restore(name) => self.zone = self.saved_zones.get(&name).cloned().flatten(),
            }
        }
    }

    /// A keyword or unquoted identifier (possibly empty).
    fn word(&mut self) -> Result<String> {
        let mut w = String::new();
        while let Some(b) = self.peek()? {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'$' {
                w.push(b as char);
                self.bump()?;
            } else {
                break;
            }
        }
        Ok(w)
    }

    /// A table or column name: `quoted` or bare; `(name, was quoted)`.
    fn identifier(&mut self) -> Result<(String, bool)> {
        self.skip_trivia()?;
        if self.peek()? != Some(b'`') {
            let w = self.word()?;
            if w.is_empty() {
                let found = self.peek()?;
                return self.error(format!("expected a name, found {}", show(found)));
            }
            return Ok((w, false));
        }
        self.bump()?;
        let mut bytes = Vec::new();
        loop {
            let r = self.input.take_until(&[b'`'; 3], Some(&mut bytes));
            if self.io(r)?.is_none() {
                return self.error("a `quoted name is never closed");
            }
            self.bump()?;
            // `` inside a quoted name is one backtick.
            if self.peek()? == Some(b'`') {
                self.bump()?;
                bytes.push(b'`');
            } else {
                break;
            }
        }
        match String::from_utf8(bytes) {
            Ok(name) => Ok((name, true)),
            Err(_) => self.error("a `quoted name is not valid UTF-8"),
        }
    }

    /// `db`.`table` or `table`; the table's name.
    fn table_name(&mut self) -> Result<String> {
        let (mut name, _) = self.identifier()?;
        self.skip_trivia()?;
        if self.peek()? == Some(b'.') {
            self.bump()?;
            name = self.identifier()?.0;
        }
        Ok(name)
    }

    /// After INSERT/REPLACE: modifiers, INTO, the table, the column list, VALUES. For our
    /// tables it leaves the reader before the first row; other tables' INSERTs are skipped
    /// and their rows counted.
    fn insert_head(&mut self) -> Result<()> {
        let name = loop {
            self.skip_trivia()?;
            if self.peek()? == Some(b'`') {
                break self.table_name()?;
            }
            let w = self.word()?;
            match w.to_ascii_uppercase().as_str() {
                "INTO" | "IGNORE" | "LOW_PRIORITY" | "DELAYED" | "HIGH_PRIORITY" => {}
                "" => {
                    let found = self.peek()?;
                    return self.error(format!(
                        "expected a table name after INSERT INTO, found {}",
                        show(found)
                    ));
                }
                _ => {
                    self.skip_trivia()?;
                    if self.peek()? == Some(b'.') {
                        self.bump()?;
                        break self.identifier()?.0;
                    }
                    break w;
                }
            }
        };
        self.skip_trivia()?;
        let mut columns = Vec::new();
        if self.peek()? == Some(b'(') {
            self.bump()?;
            loop {
                columns.push(self.identifier()?.0);
                self.skip_trivia()?;
                match self.bump()? {
                    Some(b',') => {}
                    Some(b')') => break,
                    found => {
                        return self.error(format!(
                            "expected ',' or ')' in the column list of `{name}`, found {}",
                            show(found)
                        ));
                    }
                }
            }
        }
        let Some(table) = Table::from_name(&name) else {
            let rows = self.skip_statement_counting_rows()?;
            *self.skipped.entry(name).or_default() += rows;
            return Ok(());
        };
        self.skip_trivia()?;
        let w = self.word()?;
        if !(w.eq_ignore_ascii_case("VALUES") || w.eq_ignore_ascii_case("VALUE")) {
            let found = if w.is_empty() {
                show(self.peek()?)
            } else {
                format!("{w:?}")
            };
            return self.error(format!(
                "expected VALUES in the INSERT into `{name}`, found {found} \
                 (the import reads INSERT … VALUES statements as mysqldump writes them)"
            ));
        }
        self.seen.insert(table);
        self.columns = if !columns.is_empty() {
            // Column names compare without case in MySQL; the mapping knows them in lower case.
            columns.iter().map(|c| c.to_ascii_lowercase()).collect()
        } else if let Some(created) = self.created.get(&table) {
            created.clone()
        } else {
            table.contract_columns().iter().map(|c| c.to_string()).collect()
        };
        self.skip_trivia()?;
        if self.peek()? != Some(b'(') {
            let found = self.peek()?;
            return self.error(format!(
                "expected '(' to start a row of `{name}`, found {}",
                show(found)
            ));
        }
        self.state = State::Rows { table, rows: 0 };
        Ok(())
    }

    /// `( value, … )` of a row, checked against the column count.
    fn row(&mut self, table: Table, number: u64) -> Result<Row> {
        let line = self.input.line();
        match self.bump()? {
            Some(b'(') => {}
            found => {
                return self.error(format!(
                    "expected '(' to start a row of `{}`, found {}",
                    table.as_str(),
                    show(found)
                ));
            }
        }
        let mut values = Vec::with_capacity(self.columns.len());
        loop {
            self.skip_trivia()?;
            values.push(self.value()?);
            self.skip_trivia()?;
            match self.bump()? {
                Some(b',') => {}
                Some(b')') => break,
                found => {
                    return self.error(format!(
                        "expected ',' or ')' after a value, found {}",
                        show(found)
                    ));
                }
            }
        }
        if values.len() != self.columns.len() {
            return Err(SyntaxError {
                line,
                reason: format!(
                    "row {number} of `{}` has {} values for {} columns",
                    table.as_str(),
                    values.len(),
                    self.columns.len()
                ),
            });
        }
        Ok(Row {
            table,
            line,
            number,
            values,
        })
    }

    /// NULL, a number, a quoted string (optionally after a character set introducer such
    /// as `_binary`), or a 0x hex literal.
    fn value(&mut self) -> Result<Option<Scalar>> {
        match self.peek()? {
            Some(q @ (b'\'' | b'"')) => {
                self.bump()?;
                let bytes = self.quoted(q)?;
                self.text(bytes).map(|t| Some(Scalar::Text(t)))
            }
            Some(b'0') if matches!(self.peek_at(1)?, Some(b'x' | b'X')) => {
                self.bump()?;
                self.bump()?;
                let digits = self.word()?;
                let bytes = decode_hex(&digits);
                match bytes {
                    Some(bytes) => self.text(bytes).map(|t| Some(Scalar::Text(t))),
                    None => self.error(format!("malformed hex literal 0x{digits}")),
                }
            }
            Some(b'0'..=b'9' | b'-' | b'+' | b'.') => self.number().map(Some),
            Some(b'_') => {
                // A character set introducer: `_binary 'abc'`, `_utf8mb4'abc'`.
                self.word()?;
                self.skip_trivia()?;
                match self.peek()? {
                    Some(b'\'' | b'"') => self.value(),
                    found => self.error(format!(
                        "expected a quoted string after a character set name, found {}",
                        show(found)
                    )),
                }
            }
            Some(b) if b.is_ascii_alphabetic() => {
                let w = self.word()?;
                match w.to_ascii_uppercase().as_str() {
                    "NULL" => Ok(None),
                    "TRUE" => Ok(Some(Scalar::Int(1))),
                    "FALSE" => Ok(Some(Scalar::Int(0))),
                    _ => self.error(format!(
                        "expected a value (NULL, a number or a 'quoted string'), found {w:?}"
                    )),
                }
            }
            found => self.error(format!(
                "expected a value (NULL, a number or a 'quoted string'), found {}",
                show(found)
            )),
        }
    }

    fn text(&self, bytes: Vec<u8>) -> Result<String> {
        String::from_utf8(bytes).or_else(|e| {
            self.error(format!(
                "a string is not valid UTF-8 (byte {} of it); dump with \
                 --default-character-set=utf8mb4",
                e.utf8_error().valid_up_to()
            ))
        })
    }

    fn number(&mut self) -> Result<Scalar> {
        let mut n = String::new();
        while let Some(b) = self.peek()? {
            if b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E') {
                n.push(b as char);
                self.bump()?;
            } else {
                break;
            }
        }
        if let Ok(i) = n.parse::<i64>() {
            return Ok(Scalar::Int(i));
        }
        match n.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Scalar::Float(f)),
            _ => self.error(format!("malformed number {n:?}")),
        }
    }

    /// The body of a string after its opening quote, escapes decoded.
    fn quoted(&mut self, quote: u8) -> Result<Vec<u8>> {
        let start = self.input.line();
        let mut out = Vec::new();
        loop {
            let r = self.input.take_until(&[quote, b'\\', quote], Some(&mut out));
            match self.io(r)? {
                None => {
                    return Err(SyntaxError {
                        line: start,
                        reason: "a quoted string starting on this line is never closed".into(),
                    });
                }
                Some(b'\\') => {
                    self.bump()?;
                    match self.bump()? {
                        Some(c) => push_escape(&mut out, c),
                        None => continue,
                    }
                }
                Some(_) => {
                    self.bump()?;
                    // A doubled quote is one quote character.
                    if self.peek()? == Some(quote) {
                        self.bump()?;
                        out.push(quote);
                    } else {
                        return Ok(out);
                    }
                }
            }
        }
    }

    /// Skips a string after its opening quote without decoding it; its bytes as written
    /// (escapes, doubled quotes and the closing quote) are appended to `keep` if given.
    fn skip_quoted(&mut self, quote: u8, mut keep: Option<&mut Vec<u8>>) -> Result<()> {
        let start = self.input.line();
        // Backtick-quoted names have no backslash escapes.
        let escape = if quote == b'`' { quote } else { b'\\' };
        loop {
            let r = self
                .input
                .take_until(&[quote, escape, quote], keep.as_deref_mut());
            match self.io(r)? {
                None => {
                    return Err(SyntaxError {
                        line: start,
                        reason: "a quoted string starting on this line is never closed".into(),
                    });
                }
                Some(b'\\') if quote != b'`' => {
                    self.bump()?;
                    let escaped = self.bump()?;
                    if let Some(keep) = keep.as_deref_mut() {
                        keep.push(b'\\');
                        keep.extend(escaped);
                    }
                }
                Some(_) => {
                    self.bump()?;
                    if let Some(keep) = keep.as_deref_mut() {
                        keep.push(quote);
                    }
                    if self.peek()? != Some(quote) {
                        return Ok(());
                    }
                    // A doubled quote stands for one quote: the string goes on.
                    self.bump()?;
                    if let Some(keep) = keep.as_deref_mut() {
                        keep.push(quote);
                    }
                }
            }
        }
    }

    /// Skips to the end of the statement (its delimiter, consumed), honouring quotes and
    /// comments; keeps up to 4 KiB of its text in `capture`.
    fn skip_statement(&mut self, capture: Option<&mut Vec<u8>>) -> Result<()> {
        self.scan_statement(capture, &mut |_| {})
    }

    /// Skips an INSERT's rows to the end of the statement; how many rows it had.
    fn skip_statement_counting_rows(&mut self) -> Result<u64> {
        let mut rows = 0;
        self.scan_statement(None, &mut |depth| {
            if depth == 0 {
                rows += 1
            }
        })?;
        Ok(rows)
    }

    /// The one statement skipper: `on_open(depth)` sees every '(' outside strings and
    /// comments with the parenthesis depth before it.
    fn scan_statement(
        &mut self,
        mut capture: Option<&mut Vec<u8>>,
        on_open: &mut dyn FnMut(u32),
    ) -> Result<()> {
        const CAPTURE: usize = 4096;
        let mut depth = 0u32;
        loop {
            let Some(b) = self.peek()? else {
                return Ok(());
            };
            match b {
                b'\'' | b'"' | b'`' => {
                    self.bump()?;
                    // The capture keeps strings as written: `SET time_zone = "+00:00"` is
                    // nothing without its value.
                    match capture.as_deref_mut().filter(|text| text.len() < CAPTURE) {
                        Some(text) => {
                            text.push(b);
                            self.skip_quoted(b, Some(&mut *text))?;
                            text.truncate(CAPTURE);
                        }
                        None => self.skip_quoted(b, None)?,
                    }
                    continue;
                }
                b'#' | b'-' | b'/' => {
                    let before = self.input.position();
                    self.skip_trivia()?;
                    if self.input.position() != before {
                        continue;
                    }
                }
                b'(' => {
                    on_open(depth);
                    depth += 1;
                }
                b')' => depth = depth.saturating_sub(1),
                _ => {}
            }
            if self.delimiter.first() == Some(&b) && self.at_delimiter()? {
                for _ in 0..self.delimiter.len() {
                    self.bump()?;
                }
                return Ok(());
            }
            self.bump()?;
            if let Some(text) = capture.as_deref_mut()
                && text.len() < CAPTURE
            {
                text.push(b);
            }
        }
    }

    fn at_delimiter(&mut self) -> Result<bool> {
        for k in 1..self.delimiter.len() {
            let want = self.delimiter.get(k).copied();
            if self.peek_at(k)? != want {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// `DELIMITER ;;` (mysqldump --routines/--triggers): the rest of the line.
    fn delimiter_line(&mut self) -> Result<()> {
        let mut line = Vec::new();
        let r = self.input.take_until(&[b'\n'; 3], Some(&mut line));
        self.io(r)?;
        let d: Vec<u8> = line.trim_ascii().to_vec();
        if d.is_empty() {
            return self.error("DELIMITER without a delimiter");
        }
        self.delimiter = d;
        Ok(())
    }

    /// CREATE TABLE of a legacy table: its column order, for INSERTs without a list.
    fn create(&mut self) -> Result<()> {
        self.skip_trivia()?;
        let mut w = self.word()?;
        if w.eq_ignore_ascii_case("TEMPORARY") {
            self.skip_trivia()?;
            w = self.word()?;
        }
        if !w.eq_ignore_ascii_case("TABLE") {
            return self.skip_statement(None);
        }
        self.skip_trivia()?;
        if self.peek()? != Some(b'`') {
            // IF NOT EXISTS
            let w = self.word()?;
            if w.eq_ignore_ascii_case("IF") {
                self.word_after_trivia()?;
                self.word_after_trivia()?;
            } else if !w.is_empty() {
                self.skip_trivia()?;
                if self.peek()? == Some(b'.') {
                    self.bump()?;
                    let name = self.identifier()?.0;
                    return self.create_body(&name);
                }
                return self.create_body(&w);
            }
        }
        let name = self.table_name()?;
        self.create_body(&name)
    }

    fn word_after_trivia(&mut self) -> Result<String> {
        self.skip_trivia()?;
        self.word()
    }

    fn create_body(&mut self, name: &str) -> Result<()> {
        let Some(table) = Table::from_name(name) else {
            return self.skip_statement(None);
        };
        self.skip_trivia()?;
        if self.peek()? != Some(b'(') {
            // CREATE TABLE … LIKE / AS SELECT: no column list to learn.
            return self.skip_statement(None);
        }
        self.bump()?;
        let mut columns = Vec::new();
        loop {
            self.skip_trivia()?;
            let (first, quoted) = self.identifier()?;
            const NOT_COLUMNS: [&str; 10] = [
                "PRIMARY",
                "KEY",
                "INDEX",
                "UNIQUE",
                "CONSTRAINT",
                "FULLTEXT",
                "SPATIAL",
                "FOREIGN",
                "CHECK",
                "PERIOD",
            ];
            if quoted || !NOT_COLUMNS.iter().any(|k| first.eq_ignore_ascii_case(k)) {
                columns.push(first);
            }
            // The rest of the definition, to its ',' or the closing ')'.
            let mut depth = 0u32;
            let end = loop {
                match self.peek()? {
                    None => return self.error(format!("CREATE TABLE `{name}` is never closed")),
                    Some(q @ (b'\'' | b'"' | b'`')) => {
                        self.bump()?;
                        self.skip_quoted(q, None)?;
                    }
                    Some(b'(') => {
                        depth += 1;
                        self.bump()?;
                    }
                    Some(b')') if depth > 0 => {
                        depth -= 1;
                        self.bump()?;
                    }
                    Some(c @ (b',' | b')')) if depth == 0 => {
                        self.bump()?;
                        break c;
                    }
                    Some(b'#' | b'-' | b'/') => {
                        let before = self.input.position();
                        self.skip_trivia()?;
                        if self.input.position() == before {
                            self.bump()?;
                        }
                    }
                    Some(_) => {
                        self.bump()?;
                    }
                }
            };
            if end == b')' {
                break;
            }
        }
        self.seen.insert(table);
        let columns = columns.iter().map(|c| c.to_ascii_lowercase()).collect();
        self.created.insert(table, columns);
        self.skip_statement(None)
    }
}

/// MySQL's backslash escapes. `\%` and `\_` keep their backslash (they are LIKE escapes);
/// any other escaped character stands for itself.
fn push_escape(out: &mut Vec<u8>, c: u8) {
    match c {
        b'0' => out.push(0),
        b'n' => out.push(b'\n'),
        b'r' => out.push(b'\r'),
        b't' => out.push(b'\t'),
        b'b' => out.push(0x08),
        b'Z' => out.push(0x1a),
        b'%' | b'_' => out.extend_from_slice(&[b'\\', c]),
        other => out.push(other),
    }
}

fn decode_hex(digits: &str) -> Option<Vec<u8>> {
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(digits.get(i..i + 2)?, 16).ok())
        .collect()
}

/// What a byte found in the wrong place looks like in an error message.
fn show(b: Option<u8>) -> String {
    match b {
        None => "the end of the dump".into(),
        Some(b) if b.is_ascii_graphic() || b == b' ' => format!("'{}'", b as char),
        Some(b'\n') => "the end of the line".into(),
        Some(b) => format!("byte 0x{b:02x}"),
    }
}

/// One thing a SET statement does with the session time zone.
#[derive(Debug, Clone)]
pub enum ZoneEffect {
    /// `SET TIME_ZONE='+00:00'` (as mysqldump's default --tz-utc writes): that zone. `None`
    /// for a value that names no zone it can resolve (`'SYSTEM'`, `DEFAULT`,
    /// `@@GLOBAL.TIME_ZONE`): the server's zone, which is what --source-timezone stands for.
    Set(Option<DumpZone>),
    /// `SET @save_time_zone= @@TIME_ZONE`: the user variable (lower case) keeps the zone.
    Save(String),
    /// `SET TIME_ZONE= @save_time_zone`: the zone the user variable (lower case) kept.
    Restore(String),
}

/// What a SET statement does with the session time zone, in the order written (empty when
/// it does not touch it).
pub fn zone_effects(sql: &[u8]) -> Vec<ZoneEffect> {
    // One space between words, none around '=' and '.': `SET @@session.time_zone = 'x'`
    // becomes `SET @@session.time_zone='x'`.
    let text = String::from_utf8_lossy(sql)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" =", "=")
        .replace("= ", "=")
        .replace(" .", ".")
        .replace(". ", ".");
    // ASCII upper-casing keeps every byte where it is, so indexes found in `upper` hold
    // in `text` (whose zone names keep their case).
    let upper = text.to_ascii_uppercase();
    let name_byte = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$';
    let key = "TIME_ZONE";
    let mut effects = Vec::new();
    for (i, _) in upper.match_indices(key) {
        let (Some(before), Some(after)) = (upper.as_bytes().get(..i), text.get(i + key.len()..)) else {
            continue;
        };
        // The session variable, not a name that ends in TIME_ZONE (`@OLD_TIME_ZONE`).
        let variable = match before {
            [.., b'@', b'@'] => true,
            [.., b'@'] => false,
            [.., c] if name_byte(*c) => false,
            _ => true,
        };
        if !variable {
            continue;
        }
        if let Some(value) = after.strip_prefix('=') {
            effects.push(set_effect(value));
        } else if !after.bytes().next().is_some_and(name_byte)
            && let Some(name) = saved_into(before)
        {
            effects.push(ZoneEffect::Save(name));
        }
    }
    effects
}

/// The effect of `TIME_ZONE=value`.
fn set_effect(value: &str) -> ZoneEffect {
    match value.chars().next() {
        Some(quote @ ('\'' | '"')) => {
            let written = value[1..].split(quote).next().unwrap_or("");
            let zone = parse_offset(written)
                .map(TimeZone::fixed)
                .or_else(|| TimeZone::get(written).ok());
            // A zone it cannot resolve ('SYSTEM', or a name this machine's time zone
            // database lacks) is taken as the server's zone, like @OLD_TIME_ZONE: its rows
            // are then read in --source-timezone and counted as such in the report.
            ZoneEffect::Set(zone.map(|zone| DumpZone {
                zone,
                written: written.to_string(),
            }))
        }
        Some('@') if !value.starts_with("@@") => {
            let name: String = value[1..]
                .bytes()
                .take_while(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$' | b'.'))
                .map(|c| c.to_ascii_lowercase() as char)
                .collect();
            ZoneEffect::Restore(name)
        }
        _ => ZoneEffect::Set(None),
    }
}

/// For `@@TIME_ZONE` read at the end of `before`: the user variable it is assigned to, as in
/// `SET @save_time_zone=@@TIME_ZONE` (`before` is upper case, so is the name: lowered here).
fn saved_into(before: &[u8]) -> Option<String> {
    let before = before
        .strip_suffix(b"@@SESSION.")
        .or_else(|| before.strip_suffix(b"@@LOCAL."))
        .or_else(|| before.strip_suffix(b"@@"))?;
    let before = before.strip_suffix(b"=")?;
    let start = before
        .iter()
        .rposition(|&c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$' | b'.')))?;
    let (head, name) = before.split_at_checked(start + 1)?;
    // One '@': a user variable (`@@x=` would be a system variable).
    let at_user = head.ends_with(b"@") && !head.ends_with(b"@@");
    (at_user && !name.is_empty()).then(|| String::from_utf8_lossy(name).to_ascii_lowercase())
}

fn parse_offset(s: &str) -> Option<Offset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let h: i32 = h.parse().ok()?;
    let m: i32 = m.parse().ok()?;
    if h > 14 || m > 59 {
        return None;
    }
    Offset::from_seconds(sign * (h * 3600 + m * 60)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row with the columns of its INSERT.
    fn rows(sql: &str) -> Result<Vec<(Row, Vec<String>)>> {
        let mut r = DumpReader::new(sql.as_bytes());
        let mut out = Vec::new();
        while let Some(row) = r.next_row()? {
            out.push((row, r.columns().to_vec()));
        }
        Ok(out)
    }

    fn text(s: &str) -> Option<Scalar> {
        Some(Scalar::Text(s.into()))
    }

    #[test]
    fn extended_inserts_escapes_nulls_and_numbers() {
        let got = rows(
            "INSERT INTO `messages` (a,b,c,d,e,f,g) VALUES (1,2,'a\\'b\\\"c\\\\d\\ne\\rf\\tg\\0h\\Zi''j',NULL,-3,0.92,1e3),\n\
             (2,3,'🎉',NULL,4,5,6);",
        )
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0].0.values,
            vec![
                Some(Scalar::Int(1)),
                Some(Scalar::Int(2)),
                text("a'b\"c\\d\ne\rf\tg\0h\x1ai'j"),
                None,
                Some(Scalar::Int(-3)),
                Some(Scalar::Float(0.92)),
                Some(Scalar::Float(1000.0)),
            ]
        );
        assert_eq!(got[1].0.line, 2);
        assert_eq!(got[1].0.values[2], text("🎉"));
    }

    #[test]
    fn columns_come_from_the_insert_then_create_table_then_the_contract() {
        let with_list = rows("INSERT INTO `conversations` (`status`, `id`) VALUES ('active', 1);").unwrap();
        assert_eq!(with_list[0].1, ["status", "id"]);
        let created = rows(
            "CREATE TABLE `messages` (\n  `id` int(11) NOT NULL,\n  `note` varchar(9) DEFAULT 'a,b)',\n  \
             PRIMARY KEY (`id`),\n  KEY `k` (`id`,`note`)\n) ENGINE=InnoDB;\n\
             INSERT INTO `messages` VALUES (1,'x');",
        )
        .unwrap();
        assert_eq!(created[0].1, ["id", "note"]);
        let upper = rows("INSERT INTO `Messages` (`ID`, `Sender_Type`) VALUES (1,'bot');").unwrap();
        assert_eq!(upper[0].1, ["id", "sender_type"]);
        let contract = rows("INSERT INTO messages VALUES (1,2,3,4,5,6,7,8,9,10);").unwrap();
        assert_eq!(contract[0].1.len(), 10);
        assert_eq!(contract[0].1[3], "sender_type");
    }

    #[test]
    fn other_tables_statements_and_comments_are_skipped_and_counted() {
        let sql = "/*M!999999\\- enable the sandbox mode */\n-- comment ;\n# another ;\n\
            /*!40103 SET TIME_ZONE='+00:00' */;\nLOCK TABLES `settings` WRITE;\n\
            INSERT INTO `settings` (`k`, `v`) VALUES ('a;b','INSERT INTO `messages` VALUES (1)'),('c)','(');\n\
            DELIMITER ;;\n/*!50003 CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN SET @a=1; END */;;\n\
            DELIMITER ;\nINSERT INTO `conversations` VALUES (7,'p',NULL,'active',1,'t','t','t','t');\n\
            /*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;";
        let mut r = DumpReader::new(sql.as_bytes());
        let row = r.next_row().unwrap().unwrap();
        assert_eq!((row.table, row.line, row.number), (Table::Conversations, 10, 1));
        assert_eq!(r.zone().unwrap().written, "+00:00");
        assert_eq!(r.zone().unwrap().zone, TimeZone::UTC);
        assert!(r.next_row().unwrap().is_none());
        assert!(r.zone().is_none(), "the closing SET restores the server's zone");
        assert_eq!(r.skipped().get("settings"), Some(&2));
    }

    #[test]
    fn a_conditional_comment_ends_at_a_closing_mark_outside_its_quoted_strings() {
        // mysqldump --triggers writes a trigger's body inside a conditional comment; MySQL
        // reads that body as SQL, so the `*/` in its strings and comments does not end it.
        let trigger = "DELIMITER ;;\n\
            /*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `t` BEFORE INSERT \
            ON `conversations` FOR EACH ROW SET NEW.contact_name = REPLACE(NEW.contact_name, '*/', 'y') */;;\n\
            DELIMITER ;\n";
        let body = "DELIMITER ;;\n\
            /*!50003 TRIGGER `u` BEFORE INSERT ON `x` FOR EACH ROW BEGIN -- a '*/ here\n\
            # and it's */ here\n\
            SET @a = \"*/\\\"*/\", @b = 'it''s */', @`c*/` = 1; /* a plain one's */ END */;;\n\
            DELIMITER ;\n";
        let messages = "INSERT INTO `messages` (`id`, `note`) VALUES (1,'a'),(2,'b');\n\
            INSERT INTO `messages` (`id`, `note`) VALUES (3,'c');\n";
        for sql in [format!("{trigger}{messages}"), format!("{body}{messages}")] {
            let got = rows(&sql).unwrap();
            let ids: Vec<_> = got.iter().map(|(r, _)| r.values[0].clone()).collect();
            assert_eq!(ids, [1, 2, 3].map(|i| Some(Scalar::Int(i))), "{sql}");
            assert_eq!(got[2].0.line, sql.lines().count() as u64, "{sql}");
        }
        // A plain comment still ends at its first `*/`, quotes or not.
        let got = rows("/* it's */ INSERT INTO `messages` (`id`) VALUES (4);").unwrap();
        assert_eq!(got.len(), 1);
    }

    #[test]
    fn malformed_rows_name_their_line_and_what_was_expected() {
        let e = rows("INSERT INTO `messages` (a,b) VALUES\n(1,'a'),\n(2,'b')\n(3,'c');").unwrap_err();
        assert_eq!(e.line, 4);
        assert_eq!(
            e.reason,
            "expected ',' or ';' after a row of `messages`, found '('"
        );
        let e = rows("INSERT INTO `messages` (`id`,`x`) VALUES\n(1 'a');").unwrap_err();
        assert_eq!(e.to_string(), "2: expected ',' or ')' after a value, found '''");
        let e = rows("INSERT INTO `messages` (`id`,`x`) VALUES\n(1,'a\n\nb").unwrap_err();
        assert_eq!(e.line, 2);
        let e = rows("INSERT INTO `messages` (`id`,`x`) VALUES (1);").unwrap_err();
        assert_eq!(e.reason, "row 1 of `messages` has 1 values for 2 columns");
        let e = rows("INSERT INTO `messages` (`id`) VALUES (1)").unwrap_err();
        assert!(e.reason.contains("found the end of the dump"), "{e}");
        let e = rows("INSERT INTO `messages` (`id`) VALUES ('\u{fffd}\\").unwrap_err();
        assert_eq!(e.line, 1);
        let mut bad = b"INSERT INTO `messages` (`id`) VALUES ('".to_vec();
        bad.extend_from_slice(&[0xff, b'\'', b')', b';']);
        let e = DumpReader::new(&bad[..]).next_row().unwrap_err();
        assert!(e.reason.contains("not valid UTF-8"), "{e}");
    }

    #[test]
    fn time_zone_settings() {
        let set = |sql: &str| match zone_effects(sql.as_bytes()).as_slice() {
            [ZoneEffect::Set(zone)] => zone.clone(),
            other => panic!("{sql}: {other:?}"),
        };
        let utc = set("SET TIME_ZONE='+00:00'").unwrap();
        assert_eq!(utc.zone, TimeZone::UTC);
        let five = set("SET time_zone = \"-05:00\"").unwrap();
        assert_eq!(five.zone, TimeZone::fixed(Offset::from_hours(-5).unwrap()));
        let named = set("SET @@session.time_zone='America/Bogota'").unwrap();
        assert_eq!(named.written, "America/Bogota");
        assert!(set("SET TIME_ZONE='SYSTEM'").is_none(), "the server's zone");
        assert!(set("SET TIME_ZONE=DEFAULT").is_none());
        assert!(set("SET TIME_ZONE=@@GLOBAL.TIME_ZONE").is_none());
        assert!(zone_effects(b"SET NAMES utf8mb4").is_empty());
        assert!(zone_effects(b"SET @x=@@TIME_ZONE_X, @OLD_TIME_ZONE='x'").is_empty());
        let saved = |sql: &str| match zone_effects(sql.as_bytes()).as_slice() {
            [ZoneEffect::Save(name)] => name.clone(),
            other => panic!("{sql}: {other:?}"),
        };
        assert_eq!(saved("SET @OLD_TIME_ZONE=@@TIME_ZONE"), "old_time_zone");
        assert_eq!(saved("SET @save_time_zone= @@TIME_ZONE"), "save_time_zone");
        assert_eq!(saved("SET @s = @@session.time_zone"), "s");
        assert!(matches!(
            zone_effects(b"SET TIME_ZONE= @Save_Time_Zone").as_slice(),
            [ZoneEffect::Restore(name)] if name == "save_time_zone"
        ));
    }

    /// The zone (as written) each row is read in.
    fn zones(sql: &str) -> Vec<Option<String>> {
        let mut r = DumpReader::new(sql.as_bytes());
        let mut out = Vec::new();
        while r.next_row().unwrap().is_some() {
            out.push(r.zone().map(|z| z.written.clone()));
        }
        out
    }

    fn message_insert(id: u64) -> String {
        format!("INSERT INTO `messages` (`id`) VALUES ({id});\n")
    }

    #[test]
    fn a_plain_set_time_zone_is_read_with_either_quote() {
        let utc = || Some("+00:00".to_string());
        // phpMyAdmin's exports start with this line.
        let sql = format!("SET time_zone = \"+00:00\";\n{}", message_insert(1));
        assert_eq!(zones(&sql), [utc()]);
        let sql = format!(
            "SET TIME_ZONE='+00:00';\n{}SET TIME_ZONE=@OLD_TIME_ZONE;\n{}",
            message_insert(1),
            message_insert(2)
        );
        assert_eq!(zones(&sql), [utc(), None]);
    }

    #[test]
    fn a_zone_saved_in_a_user_variable_is_restored_from_it() {
        // What mysqldump --events writes around an event (its own zone set in between),
        // inside the usual --tz-utc header and footer.
        let sql = [
            "/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;\n/*!40103 SET TIME_ZONE='+00:00' */;\n",
            &message_insert(1),
            "/*!50106 SET @save_time_zone= @@TIME_ZONE */ ;\n/*!50106 SET TIME_ZONE= 'SYSTEM' */ ;\n",
            &message_insert(2),
            "DELIMITER ;;\n/*!50106 CREATE*/ /*!50117 DEFINER=`root`@`localhost`*/ /*!50106 EVENT `purge` \
             ON SCHEDULE EVERY 1 DAY DO DELETE FROM `x` */ ;;\n\
             /*!50106 SET TIME_ZONE= @save_time_zone */ ;;\nDELIMITER ;\n",
            &message_insert(3),
            "/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;\n",
            &message_insert(4),
        ]
        .concat();
        let utc = Some("+00:00".to_string());
        // 'SYSTEM' is the server's zone (None: --source-timezone), as @OLD_TIME_ZONE is.
        assert_eq!(zones(&sql), [utc.clone(), None, utc, None]);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Reads to the end or the first error; a reader must stop on any input.
    fn drain(bytes: &[u8]) {
        let mut r = DumpReader::new(bytes);
        for _ in 0..=bytes.len() + 1 {
            match r.next_row() {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return,
            }
        }
        panic!("the reader did not reach the end of {} bytes", bytes.len());
    }

    /// A string literal as mysqldump writes it (mysql_real_escape_string), or with
    /// doubled quotes as hand-written SQL has them.
    fn literal(s: &str, doubled_quotes: bool) -> String {
        let mut out = String::from("'");
        for c in s.chars() {
            match c {
                '\0' => out.push_str("\\0"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\\' => out.push_str("\\\\"),
                '\'' if doubled_quotes => out.push_str("''"),
                '\'' => out.push_str("\\'"),
                '"' => out.push_str("\\\""),
                '\x1a' => out.push_str("\\Z"),
                c => out.push(c),
            }
        }
        out.push('\'');
        out
    }

    fn render(v: &Option<Scalar>, doubled_quotes: bool) -> String {
        match v {
            None => "NULL".into(),
            Some(Scalar::Int(i)) => i.to_string(),
            Some(Scalar::Float(f)) => format!("{f:?}"),
            Some(Scalar::Text(t)) => literal(t, doubled_quotes),
            Some(Scalar::Bool(b)) => (*b as u8).to_string(),
        }
    }

    fn value() -> impl Strategy<Value = Option<Scalar>> {
        prop_oneof![
            Just(None),
            any::<i64>().prop_map(|i| Some(Scalar::Int(i))),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| Some(Scalar::Float(f))),
            any::<String>().prop_map(|s| Some(Scalar::Text(s))),
            prop::collection::vec(
                prop::sample::select(vec![
                    '\'', '"', '\\', '\0', '\x1a', '\n', '\r', '\t', '%', '_', '🎉', 'a', ',', ')', ';'
                ]),
                0..12
            )
            .prop_map(|cs| Some(Scalar::Text(cs.into_iter().collect()))),
        ]
    }

    proptest! {
        #[test]
        fn no_input_panics_the_reader(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            drain(&bytes);
        }

        #[test]
        fn no_sql_like_input_panics_the_reader(
            parts in prop::collection::vec(
                prop::sample::select(vec![
                    "INSERT INTO `messages` VALUES ", "INSERT INTO conversations (`id`) VALUES", "(", ")", ",",
                    ";", "'", "\"", "`", "\\", "NULL", "12", "-3.5e2", "0x41", "_binary ", "/*", "*/", "/*!40103 ",
                    "SET TIME_ZONE='+00:00'", "-- ", "#", "\n", " ", "CREATE TABLE `messages` (", "DELIMITER ;;\n",
                    "DELIMITER ;\n", "KEY `k` (`a`)", "🎉", "\u{0}",
                ]),
                0..40,
            )
        ) {
            drain(parts.concat().as_bytes());
        }

        #[test]
        fn rows_rendered_like_mysqldump_come_back_identical(
            rows in prop::collection::vec(prop::collection::vec(value(), 3), 1..6),
            doubled_quotes in any::<bool>(),
            one_row_inserts in any::<bool>(),
        ) {
            let tuples: Vec<String> = rows
                .iter()
                .map(|r| format!("({})", r.iter().map(|v| render(v, doubled_quotes)).collect::<Vec<_>>().join(",")))
                .collect();
            let head = "INSERT INTO `messages` (`a`,`b`,`c`) VALUES ";
            let sql = if one_row_inserts {
                tuples.iter().map(|t| format!("{head}{t};\n")).collect::<String>()
            } else {
                format!("{head}{};\n", tuples.join(",\n"))
            };
            let mut r = DumpReader::new(sql.as_bytes());
            let mut back = Vec::new();
            while let Some(row) = r.next_row().unwrap() {
                back.push(row.values);
            }
            prop_assert_eq!(back, rows);
        }
    }
}
