//! JSON written by hand as the content of a JSON string: the form in which API Gateway's
//! response carries a body (`"body":"…"`). The two answers served most (an inbox page, a
//! message page) are written this way; every other body goes through serde_json
//! (`http::response`). serde_json's own writer was a large share of a warm inbox
//! invocation (docs/performance.md): thousands of strings a page, keys included, each
//! escaped byte by byte through four writes. Here keys are written as they are, and a value's text is searched for
//! what needs escaping eight bytes at a time and copied in runs.
//!
//! The output is byte for byte what serde_json's compact writer gives, escaped again as
//! string content: the tests hold each value's writing (texts, numbers) to serde_json's,
//! and the pages built of them to the contract's examples (`view::contract_example`).

/// A body being written as JSON string content, between the string's quotes.
#[derive(Debug)]
pub struct StringJson(String);

/// A value that writes itself as JSON.
pub trait WriteJson {
    fn write_json(&self, out: &mut StringJson);

    /// About the bytes it writes (exactly, or a little over, when its texts need no
    /// escaping), so that the buffer is made once at the size of the answer: grown step by
    /// step to an inbox page's size it was several blocks, pages of memory a cold start
    /// touches fresh.
    fn room(&self) -> usize {
        0
    }
}

impl StringJson {
    /// With room for `value` and the string's quotes, its opening quote written; then
    /// `value` written.
    pub fn of(value: &(impl WriteJson + ?Sized)) -> StringJson {
        let mut out = String::with_capacity(value.room() + 2);
        out.push('"');
        let mut out = StringJson(out);
        value.write_json(&mut out);
        out
    }

    /// The JSON string whose value is what was written, quotes included.
    pub fn finish(mut self) -> String {
        self.0.push('"');
        self.0
    }

    /// JSON text that holds nothing to escape, or is escaped already: `object!`'s keys
    /// and punctuation, written whole.
    pub(crate) fn raw(&mut self, text: &str) {
        self.0.push_str(text);
    }

    /// Each item of `items`, in order, as an array.
    pub fn array<T: WriteJson>(&mut self, items: &[T]) {
        self.0.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            item.write_json(self);
        }
        self.0.push(']');
    }

    pub fn null(&mut self) {
        self.0.push_str("null");
    }

    /// Digits, `-`, `.`, `e`, letters of `true`/`false`: nothing that needs escaping.
    fn bare(&mut self, text: &str) {
        self.0.push_str(text);
    }

    /// A JSON string holding `text`: its quotes and escapes escaped again.
    pub fn string(&mut self, text: &str) {
        self.0.push_str(r#"\""#);
        let bytes = text.as_bytes();
        let mut run = 0;
        let mut at = 0;
        while at < bytes.len() {
            if let Some(word) = bytes.get(at..at + 8) {
                let flags = needs_escape(u64::from_le_bytes(word.try_into().unwrap_or_default()));
                if flags == 0 {
                    at += 8;
                    continue;
                }
                // The lowest flagged byte is exact (a borrow only carries upwards).
                at += (flags.trailing_zeros() / 8) as usize;
            }
            let Some(escape) = bytes.get(at).copied().and_then(escaped) else {
                at += 1;
                continue;
            };
            // The byte is ASCII, so `run..at` and what follows it fall on char boundaries.
            self.0.push_str(text.get(run..at).unwrap_or_default());
            self.0.push_str(escape.as_str());
            at += 1;
            run = at;
        }
        self.0.push_str(text.get(run..).unwrap_or_default());
        self.0.push_str(r#"\""#);
    }
}

/// Writes an object, its fields in the order given: `object!(out, "id" => &self.id, …)`.
/// Each key is a literal of this project's field names (nothing to escape), so that it is
/// written with its quotes, colon and the comma before it in one piece.
macro_rules! object {
    ($out:expr, $first:literal => $value:expr $(, $key:literal => $rest:expr)* $(,)?) => {{
        let out: &mut $crate::string_json::StringJson = $out;
        out.raw(concat!("{\\\"", $first, "\\\":"));
        $crate::string_json::WriteJson::write_json($value, out);
        $(
            out.raw(concat!(",\\\"", $key, "\\\":"));
            $crate::string_json::WriteJson::write_json($rest, out);
        )*
        out.raw("}");
    }};
}
pub(crate) use object;

/// The escape of a byte serde_json escapes inside a string (`"`, `\` and the control
/// characters, nothing else), escaped again as string content: the backslash doubled, and
/// a `"` or `\` after it escaped too (`"` → `\\\"`, newline → `\\n`, 0x01 → `\\u0001`).
/// The one table of it: the serde_json formatter of `http::response` writes the same.
pub(crate) fn escaped(byte: u8) -> Option<Escaped> {
    let short = |letter: u8| Some(Escaped::of(&[b'\\', b'\\', letter]));
    match byte {
        b'"' => Some(Escaped::of(br#"\\\""#)),
        b'\\' => Some(Escaped::of(br"\\\\")),
        0x08 => short(b'b'),
        b'\t' => short(b't'),
        b'\n' => short(b'n'),
        0x0C => short(b'f'),
        b'\r' => short(b'r'),
        0..0x20 => {
            let hex = |n: u8| if n < 10 { b'0' + n } else { b'a' + n - 10 };
            Some(Escaped::of(&[
                b'\\',
                b'\\',
                b'u',
                b'0',
                b'0',
                hex(byte >> 4),
                hex(byte & 0xF),
            ]))
        }
        _ => None,
    }
}

/// An escape as [`escaped`] writes it: at most 7 ASCII bytes, held in place.
#[derive(Clone, Copy)]
pub(crate) struct Escaped {
    text: [u8; 7],
    len: u8,
}

impl Escaped {
    fn of(bytes: &[u8]) -> Escaped {
        let mut text = [0; 7];
        for (slot, byte) in text.iter_mut().zip(bytes) {
            *slot = *byte;
        }
        Escaped {
            text,
            len: bytes.len().min(7) as u8,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII is put in (`escaped`).
        std::str::from_utf8(self.text.get(..usize::from(self.len)).unwrap_or_default()).unwrap_or_default()
    }
}

/// Eight bytes at once: the high bit of each byte that is `"`, `\` or below 0x20 is set,
/// at least for the lowest such byte (the usual has-zero-byte arithmetic; bytes above a
/// hit may be flagged too, and are looked at one by one).
fn needs_escape(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    below_space | zero_byte(word ^ (ONES * u64::from(b'"'))) | zero_byte(word ^ (ONES * u64::from(b'\\')))
}

impl WriteJson for str {
    fn write_json(&self, out: &mut StringJson) {
        out.string(self);
    }

    fn room(&self) -> usize {
        self.len() + 4
    }
}

impl WriteJson for String {
    fn write_json(&self, out: &mut StringJson) {
        out.string(self);
    }

    fn room(&self) -> usize {
        self.as_str().room()
    }
}

impl<T: WriteJson + ?Sized> WriteJson for &T {
    fn write_json(&self, out: &mut StringJson) {
        (**self).write_json(out);
    }

    fn room(&self) -> usize {
        (**self).room()
    }
}

impl<T: WriteJson> WriteJson for Option<T> {
    fn write_json(&self, out: &mut StringJson) {
        match self {
            Some(value) => value.write_json(out),
            None => out.null(),
        }
    }

    fn room(&self) -> usize {
        self.as_ref().map_or(4, T::room)
    }
}

impl<T: WriteJson> WriteJson for Vec<T> {
    fn write_json(&self, out: &mut StringJson) {
        out.array(self);
    }

    fn room(&self) -> usize {
        self.iter().map(|item| item.room() + 1).sum::<usize>() + 2
    }
}

impl WriteJson for bool {
    fn write_json(&self, out: &mut StringJson) {
        out.bare(if *self { "true" } else { "false" });
    }
}

macro_rules! integers {
    ($($t:ty),*) => {$(
        impl WriteJson for $t {
            fn write_json(&self, out: &mut StringJson) {
                out.bare(itoa::Buffer::new().format(*self));
            }
        }
    )*};
}
integers!(u8, u64);

impl WriteJson for f64 {
    /// As serde_json: the shortest text that reads back the same, `null` when not finite.
    fn write_json(&self, out: &mut StringJson) {
        use serde_json::ser::{CompactFormatter, Formatter};
        // serde_json's own float writer, into a buffer on the stack (24 bytes at most).
        let mut text = [0u8; 32];
        let mut rest = &mut text[..];
        let written = self.is_finite() && CompactFormatter.write_f64(&mut rest, *self).is_ok();
        let len = 32 - rest.len();
        match text.get(..len).map(std::str::from_utf8) {
            Some(Ok(number)) if written => out.bare(number),
            _ => out.null(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What serde_json writes for `value`, as the content of a JSON string, quotes
    /// included: the form `StringJson` must give.
    fn serde_form(value: &impl serde::Serialize) -> String {
        serde_json::to_string(&serde_json::to_string(value).unwrap()).unwrap()
    }

    fn written(value: &impl WriteJson) -> String {
        StringJson::of(value).finish()
    }

    #[test]
    fn every_byte_that_needs_escaping_is_escaped_as_serde_json_does() {
        let all: String = (0u8..0x80).map(char::from).collect();
        assert_eq!(written(&all.as_str()), serde_form(&all));
        for c in (0u8..0x80)
            .map(char::from)
            .chain(['é', '👋', '\u{7f}', '\u{2028}'])
        {
            for at in 0..20 {
                let text: String = "abcdefghijklmnopqrs"
                    .chars()
                    .take(at)
                    .chain([c])
                    .chain("xyz".chars())
                    .collect();
                assert_eq!(written(&text.as_str()), serde_form(&text), "{c:?} at {at}");
            }
        }
    }

    #[test]
    fn numbers_booleans_and_nulls_are_serde_jsons() {
        for v in [0u64, 7, u64::MAX] {
            assert_eq!(written(&v), serde_form(&v));
        }
        for v in [
            0.87,
            0.1 + 0.2,
            1e300,
            -0.0,
            1.0,
            f64::MIN_POSITIVE,
            f64::NAN,
            f64::INFINITY,
        ] {
            assert_eq!(written(&v), serde_form(&v), "{v}");
        }
        assert_eq!(written(&true), serde_form(&true));
        assert_eq!(written(&Some(false)), serde_form(&Some(false)));
        assert_eq!(written(&None::<u8>), serde_form(&None::<u8>));
        assert_eq!(written(&vec![1u8, 2]), serde_form(&vec![1u8, 2]));
        assert_eq!(written(&Vec::<u8>::new()), serde_form(&Vec::<u8>::new()));
    }

    #[test]
    fn objects_are_written_field_by_field() {
        struct Pair;
        impl WriteJson for Pair {
            fn write_json(&self, out: &mut StringJson) {
                object!(out, "a" => &1u8, "b_c" => "x\"y");
            }
        }
        assert_eq!(
            written(&Pair),
            serde_form(&serde_json::json!({"a": 1, "b_c": "x\"y"}))
        );
        struct One;
        impl WriteJson for One {
            fn write_json(&self, out: &mut StringJson) {
                object!(out, "a" => &None::<u8>);
            }
        }
        assert_eq!(written(&One), serde_form(&serde_json::json!({"a": null})));
    }

    proptest! {
        #[test]
        fn any_text_is_written_as_serde_json_writes_it(text in any::<String>()) {
            prop_assert_eq!(written(&text.as_str()), serde_form(&text));
        }

        #[test]
        fn any_ascii_text_is_written_as_serde_json_writes_it(bytes in proptest::collection::vec(0u8..0x80, 0..64)) {
            let text: String = bytes.into_iter().map(char::from).collect();
            prop_assert_eq!(written(&text.as_str()), serde_form(&text));
        }
    }
}
