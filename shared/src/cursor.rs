//! Opaque page cursors, bound to the query that issued them.
//!
//! A cursor is `hex(payload) ++ hex(tag)`, where the tag is a 64-bit FNV-1a hash of the
//! payload and the query it belongs to (the status filter, or the conversation id). A
//! cursor used with another query, or altered in any way, fails the check and is a 400.
//! The tag is an integrity check, not a secret: a cursor only holds a position in a list
//! its holder may read anyway, and decoding re-validates every field.

use jiff::Timestamp;

use crate::model::{MAX_ID, Status};

/// Where the next page of the conversation list starts: after this conversation, whose
/// sort time `at` is its `last_message_at` in the inbox, its `waiting_since` in the
/// needs-reply queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListCursor {
    pub at: Timestamp,
    pub id: u64,
}

/// Where a `before` page ends: just older than the message at this position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeforeCursor {
    pub position: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a cursor issued for this query")]
pub struct InvalidCursor;

const DOMAIN: &str = "convo-api/cursor/v1";

fn tag(binding: &str, payload: &str) -> u64 {
    // FNV-1a, 64 bit.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [DOMAIN, "|", binding, "|", payload] {
        for b in part.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn seal(binding: &str, payload: &str) -> String {
    let mut out = String::with_capacity(payload.len() * 2 + 16);
    for b in payload.bytes() {
        out.push_str(&format!("{b:02x}"));
    }
    out.push_str(&format!("{:016x}", tag(binding, payload)));
    out
}

/// Checks the tag and returns the payload. Re-sealing must give back the exact input, so
/// upper-case hex or any other variation of a genuine cursor is rejected too.
fn open(binding: &str, cursor: &str) -> Result<String, InvalidCursor> {
    // Only ASCII hex digits: checked first, so the byte-index slicing below can never
    // land inside a multi-byte character (a panic, found by tests/hostile.rs).
    if cursor.len() < 18
        || cursor.len() > 256
        || !cursor.len().is_multiple_of(2)
        || !cursor.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(InvalidCursor);
    }
    let (payload_hex, _) = cursor.split_at(cursor.len() - 16);
    let bytes = (0..payload_hex.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(payload_hex.get(i..i + 2).ok_or(InvalidCursor)?, 16).map_err(|_| InvalidCursor)
        })
        .collect::<Result<Vec<u8>, _>>()?;
    let payload = String::from_utf8(bytes).map_err(|_| InvalidCursor)?;
    if seal(binding, &payload) != cursor {
        return Err(InvalidCursor);
    }
    Ok(payload)
}

/// The list a cursor belongs to: the inbox's keep the form they had before the queue.
fn list_binding(status: Option<Status>, waiting: bool) -> String {
    let status = status.map_or("*", Status::as_str);
    if waiting {
        format!("waiting/{status}")
    } else {
        status.to_string()
    }
}

fn parse_u64(s: &str) -> Result<u64, InvalidCursor> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidCursor);
    }
    s.parse().map_err(|_| InvalidCursor)
}

impl ListCursor {
    pub fn encode(&self, status: Option<Status>, waiting: bool) -> String {
        seal(
            &list_binding(status, waiting),
            &format!("L.{}.{}", self.at.as_second(), self.id),
        )
    }

    pub fn decode(status: Option<Status>, waiting: bool, cursor: &str) -> Result<ListCursor, InvalidCursor> {
        let payload = open(&list_binding(status, waiting), cursor)?;
        let mut parts = payload.split('.');
        let (Some("L"), Some(secs), Some(id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(InvalidCursor);
        };
        let secs = i64::try_from(parse_u64(secs)?).map_err(|_| InvalidCursor)?;
        let id = parse_u64(id)?;
        if id == 0 || id > MAX_ID {
            return Err(InvalidCursor);
        }
        let at = Timestamp::from_second(secs).map_err(|_| InvalidCursor)?;
        Ok(ListCursor { at, id })
    }
}

impl BeforeCursor {
    pub fn encode(&self, conversation_id: u64) -> String {
        seal(&conversation_id.to_string(), &format!("B.{}", self.position))
    }

    pub fn decode(conversation_id: u64, cursor: &str) -> Result<BeforeCursor, InvalidCursor> {
        let payload = open(&conversation_id.to_string(), cursor)?;
        let position = parse_u64(payload.strip_prefix("B.").ok_or(InvalidCursor)?)?;
        // A before cursor is only issued when older messages exist.
        if position == 0 || position > MAX_ID {
            return Err(InvalidCursor);
        }
        Ok(BeforeCursor { position })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> ListCursor {
        ListCursor {
            at: "2024-01-15T14:30:25Z".parse().unwrap(),
            id: 42,
        }
    }

    #[test]
    fn list_cursor_round_trips_for_its_status() {
        for status in [None, Some(Status::Active), Some(Status::Closed)] {
            let c = list().encode(status, false);
            assert!(c.bytes().all(|b| b.is_ascii_hexdigit()), "URL-safe: {c}");
            assert_eq!(ListCursor::decode(status, false, &c), Ok(list()));
        }
    }

    #[test]
    fn list_cursor_of_another_status_is_rejected() {
        let c = list().encode(Some(Status::Active), false);
        assert_eq!(ListCursor::decode(None, false, &c), Err(InvalidCursor));
        assert_eq!(
            ListCursor::decode(Some(Status::Closed), false, &c),
            Err(InvalidCursor)
        );
        // The inbox's and the needs-reply queue's cursors are not each other's.
        assert_eq!(
            ListCursor::decode(Some(Status::Active), true, &c),
            Err(InvalidCursor)
        );
        let queue = list().encode(Some(Status::Active), true);
        assert_eq!(ListCursor::decode(Some(Status::Active), true, &queue), Ok(list()));
        assert_eq!(
            ListCursor::decode(Some(Status::Active), false, &queue),
            Err(InvalidCursor)
        );
        assert_eq!(ListCursor::decode(None, true, &queue), Err(InvalidCursor));
    }

    #[test]
    fn any_altered_cursor_is_rejected() {
        let c = list().encode(None, false);
        for i in 0..c.len() {
            for replacement in ['0', 'f', 'A', 'z'] {
                let mut altered: Vec<char> = c.chars().collect();
                if altered[i] == replacement {
                    continue;
                }
                altered[i] = replacement;
                let altered: String = altered.into_iter().collect();
                assert_eq!(
                    ListCursor::decode(None, false, &altered),
                    Err(InvalidCursor),
                    "{altered}"
                );
            }
        }
        for bad in ["", "x", &c[..c.len() - 1], &format!("{c}00"), &c.to_uppercase()] {
            assert_eq!(ListCursor::decode(None, false, bad), Err(InvalidCursor), "{bad}");
        }
    }

    #[test]
    fn multi_byte_characters_are_rejected_not_sliced() {
        // Each splits 16 bytes from its end inside a multi-byte character.
        for bad in [".𞲒=x\"𖼊Ⱥ𐞳𑲯*Ѩd", "00000000𐞳00000000000000", "aééééééééééééééééééa"]
        {
            assert_eq!(ListCursor::decode(None, false, bad), Err(InvalidCursor), "{bad}");
            assert_eq!(BeforeCursor::decode(1, bad), Err(InvalidCursor), "{bad}");
        }
    }

    #[test]
    fn before_cursor_is_bound_to_its_conversation() {
        let c = BeforeCursor { position: 20 }.encode(7);
        assert_eq!(BeforeCursor::decode(7, &c), Ok(BeforeCursor { position: 20 }));
        assert_eq!(BeforeCursor::decode(8, &c), Err(InvalidCursor));
        let list_cursor = list().encode(None, false);
        assert_eq!(BeforeCursor::decode(7, &list_cursor), Err(InvalidCursor));
    }

    #[test]
    fn a_before_cursor_at_position_zero_is_never_valid() {
        let forged = seal("7", "B.0");
        assert_eq!(BeforeCursor::decode(7, &forged), Err(InvalidCursor));
    }
}
