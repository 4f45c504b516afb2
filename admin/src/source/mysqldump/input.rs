//! Bytes of a dump with one-byte look-ahead and line numbers, read through a fixed
//! buffer: the reader never holds more than the buffer and the value being read, so a
//! dump of any size is read in constant memory.

use std::io::{self, Read};

const BUFFER: usize = 256 * 1024;

/// `pos <= end <= buf.len()` does not hold: a bug here, reported as a read error rather
/// than taken for the end of the dump.
#[cold]
fn out_of_step() -> io::Error {
    io::Error::other("mysqldump input: buffer positions out of step (a bug in convo-admin)")
}

pub struct Input<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// Bytes of the stream before `buf[0]`.
    offset: u64,
    /// 1-based line of `buf[pos]`.
    line: u64,
    eof: bool,
}

impl<R: Read> Input<R> {
    pub fn new(inner: R) -> Self {
        Input {
            inner,
            buf: vec![0; BUFFER],
            pos: 0,
            end: 0,
            offset: 0,
            line: 1,
            eof: false,
        }
    }

    pub fn line(&self) -> u64 {
        self.line
    }

    /// Bytes consumed so far (of the decompressed stream for a `.gz`).
    pub fn position(&self) -> u64 {
        self.offset + self.pos as u64
    }

    /// Makes at least `want` bytes available unless the stream ends first.
    fn fill(&mut self, want: usize) -> io::Result<()> {
        while self.end - self.pos < want && !self.eof {
            if self.pos > 0 {
                self.buf.copy_within(self.pos..self.end, 0);
                self.offset += self.pos as u64;
                self.end -= self.pos;
                self.pos = 0;
            }
            let Some(free) = self.buf.get_mut(self.end..) else {
                return Err(out_of_step());
            };
            match self.inner.read(free) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub fn peek(&mut self) -> io::Result<Option<u8>> {
        if self.pos == self.end {
            self.fill(1)?;
            if self.pos == self.end {
                return Ok(None);
            }
        }
        // `pos < end <= buf.len()`.
        match self.buf.get(self.pos) {
            Some(&b) => Ok(Some(b)),
            None => Err(out_of_step()),
        }
    }

    /// The byte `k` places after the next one.
    pub fn peek_at(&mut self, k: usize) -> io::Result<Option<u8>> {
        if self.end - self.pos <= k {
            self.fill(k + 1)?;
            if self.end - self.pos <= k {
                return Ok(None);
            }
        }
        // `pos + k < end <= buf.len()`.
        match self.buf.get(self.pos + k) {
            Some(&b) => Ok(Some(b)),
            None => Err(out_of_step()),
        }
    }

    pub fn next_byte(&mut self) -> io::Result<Option<u8>> {
        let b = self.peek()?;
        if let Some(b) = b {
            self.pos += 1;
            if b == b'\n' {
                self.line += 1;
            }
        }
        Ok(b)
    }

    /// Consumes the bytes up to the next one in `stops` (not consumed) and returns it,
    /// appending the skipped bytes to `out` if given; `None` at the end of the stream.
    /// The fast path of strings and comments: whole runs of ordinary bytes at once.
    pub fn take_until(&mut self, stops: &[u8; 3], mut out: Option<&mut Vec<u8>>) -> io::Result<Option<u8>> {
        let &[a, b, c] = stops;
        loop {
            if self.pos == self.end {
                self.fill(1)?;
                if self.pos == self.end {
                    return Ok(None);
                }
            }
            let Some(run) = self.buf.get(self.pos..self.end) else {
                return Err(out_of_step());
            };
            let found = memchr::memchr3(a, b, c, run);
            // `rest` starts with the stop, if one was found.
            let (taken, rest) = run
                .split_at_checked(found.unwrap_or(run.len()))
                .unwrap_or((run, &[]));
            self.line += memchr::memchr_iter(b'\n', taken).count() as u64;
            if let Some(out) = out.as_deref_mut() {
                out.extend_from_slice(taken);
            }
            self.pos += taken.len();
            if let Some(&stop) = rest.first() {
                return Ok(Some(stop));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out one byte per read, to exercise every buffer boundary.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.split_first() {
                Some((b, rest)) if !buf.is_empty() => {
                    buf[0] = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn look_ahead_lines_and_runs_work_across_reads() {
        let mut input = Input::new(Trickle(b"ab\ncd'e\nf"));
        assert_eq!(input.peek_at(3).unwrap(), Some(b'c'));
        assert_eq!(input.next_byte().unwrap(), Some(b'a'));
        let mut out = Vec::new();
        assert_eq!(input.take_until(b"'''", Some(&mut out)).unwrap(), Some(b'\''));
        assert_eq!(out, b"b\ncd");
        assert_eq!(input.line(), 2);
        assert_eq!(input.position(), 5);
        assert_eq!(input.take_until(b"xxx", None).unwrap(), None);
        assert_eq!(input.line(), 3);
        assert_eq!(input.next_byte().unwrap(), None);
    }
}
