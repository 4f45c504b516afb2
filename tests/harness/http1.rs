//! The bit of HTTP/1.1 the harness's small servers need (the local Runtime API, the
//! fault-injecting endpoint, `make load`'s gateway): one message at a time off a
//! keep-alive connection.

use std::io::BufRead;

/// Reads one HTTP/1.1 message: its head (the start line first, then the header lines)
/// and its Content-Length body. `None` when the connection closes.
pub fn read_message(reader: &mut impl BufRead) -> Option<(Vec<String>, Vec<u8>)> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end().to_string();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    let length = head
        .iter()
        .filter_map(|h| h.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((head, body))
}

/// `(method, target)` of a request's start line.
pub fn request_line(head: &[String]) -> (&str, &str) {
    let mut parts = head.first().map_or("", String::as_str).split_whitespace();
    (parts.next().unwrap_or(""), parts.next().unwrap_or(""))
}
