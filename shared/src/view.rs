//! The contract's JSON shapes. Domain values are rendered through a [`Presentation`]
//! (time zone and sender-type names), so the same `Conversation` is written exactly as
//! the legacy PHP endpoints did, in whatever zone `APP_TIMEZONE` names.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::model::{InboxEntry, Message, SenderType};
use crate::string_json::{StringJson, WriteJson, object};

/// Which names `sender_type` / `last_sender_type` use in responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SenderNames {
    /// `customer`, `ai`, `human`: the names of the endpoint documents (default).
    #[default]
    CustomerAiHuman,
    /// `user`, `bot`, `human`: what the legacy database stored and its dashboard script tests.
    UserBotHuman,
}

impl SenderNames {
    pub fn parse(s: &str) -> Option<SenderNames> {
        match s {
            "customer-ai-human" => Some(SenderNames::CustomerAiHuman),
            "user-bot-human" => Some(SenderNames::UserBotHuman),
            _ => None,
        }
    }

    pub fn name(self, sender: SenderType) -> &'static str {
        match self {
            SenderNames::CustomerAiHuman => sender.as_str(),
            SenderNames::UserBotHuman => sender.legacy_name(),
        }
    }
}

/// How timestamps and sender types are shown.
#[derive(Debug, Clone)]
pub struct Presentation {
    pub time_zone: TimeZone,
    pub sender_names: SenderNames,
}

impl Default for Presentation {
    fn default() -> Self {
        Presentation {
            time_zone: TimeZone::UTC,
            sender_names: SenderNames::default(),
        }
    }
}

impl Presentation {
    /// `YYYY-MM-DD HH:MM:SS` in the configured zone, as the legacy API printed MySQL times.
    pub fn time(&self, ts: Timestamp) -> ShownTime {
        ShownTime::new(&self.time_zone.to_datetime(ts))
    }

    pub fn conversation<'a>(&self, c: &'a InboxEntry) -> ConversationView<'a> {
        let last = c.last_message.as_ref();
        ConversationView {
            id: c.id,
            phone_number: &c.phone_number,
            contact_name: c.contact_name.as_deref(),
            status: c.status.as_str(),
            ai_enabled: u8::from(c.ai_enabled),
            last_message_at: self.time(c.last_message_at),
            created_at: self.time(c.created_at),
            last_message: last.map(|m| m.text.as_str()),
            last_sender_type: last.map(|m| self.sender_names.name(m.sender_type)),
            last_message_created_at: last.map(|m| self.time(m.created_at)),
            waiting_since: c.waiting_since.map(|t| self.time(t)),
        }
    }

    pub fn message<'a>(&self, m: &'a Message) -> MessageView<'a> {
        MessageView {
            id: m.id,
            sender_type: self.sender_names.name(m.sender_type),
            message_text: &m.message_text,
            audio_url: m.audio_url.as_deref(),
            media_type: m.media_type.as_str(),
            context_used: m.context_used.as_deref(),
            confidence_score: m.confidence_score,
            created_at: self.time(m.created_at),
        }
    }
}

/// A time as the legacy API printed MySQL's, `YYYY-MM-DD HH:MM:SS`, held in place: an
/// inbox page renders three per conversation, and a `String` each was an allocation and a
/// free. The digits are written by hand: `format!` with six padded integers showed in
/// `make profile` (docs/performance.md).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ShownTime {
    text: [u8; ShownTime::MAX],
    len: u8,
}

impl ShownTime {
    /// `-9999-12-31 23:59:59`, jiff's longest.
    const MAX: usize = 20;

    fn new(dt: &jiff::civil::DateTime) -> ShownTime {
        let mut text = [0u8; ShownTime::MAX];
        let Ok(year) = u16::try_from(dt.year()) else {
            // Before year 0: never in the legacy data (MySQL TIMESTAMPs start in 1970).
            let mut rest = &mut text[..];
            let written = std::io::Write::write_fmt(
                &mut rest,
                format_args!(
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                    dt.year(),
                    dt.month(),
                    dt.day(),
                    dt.hour(),
                    dt.minute(),
                    dt.second()
                ),
            );
            let len = if written.is_ok() {
                ShownTime::MAX - rest.len()
            } else {
                0
            };
            return ShownTime { text, len: len as u8 };
        };
        let fields = [
            (0, year, 4),
            (5, dt.month().unsigned_abs().into(), 2),
            (8, dt.day().unsigned_abs().into(), 2),
            (11, dt.hour().unsigned_abs().into(), 2),
            (14, dt.minute().unsigned_abs().into(), 2),
            (17, dt.second().unsigned_abs().into(), 2),
        ];
        for (start, value, width) in fields {
            let mut v = value;
            for slot in text.iter_mut().skip(start).take(width).rev() {
                *slot = b'0' + (v % 10) as u8;
                v /= 10;
            }
        }
        for (at, separator) in [(4, b'-'), (7, b'-'), (10, b' '), (13, b':'), (16, b':')] {
            if let Some(slot) = text.get_mut(at) {
                *slot = separator;
            }
        }
        ShownTime { text, len: 19 }
    }

    pub fn as_str(&self) -> &str {
        let bytes = self.text.get(..usize::from(self.len)).unwrap_or_default();
        debug_assert!(bytes.is_ascii(), "{bytes:?}");
        // SAFETY: `new` writes only ASCII digits, `-`, ` ` and `:` (by hand, or through
        // `format!` for years before 0), and nothing else writes `text`. Checking it again
        // on every read, three times per conversation of a page, showed in callgrind.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }
}

impl std::fmt::Display for ShownTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for ShownTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<&str> for ShownTime {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for ShownTime {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl WriteJson for ShownTime {
    fn write_json(&self, out: &mut StringJson) {
        out.string(self.as_str());
    }
}

/// One element of `conversations` in `GET /api/conversations`, written by hand
/// (`WriteJson`) and only so: the tests hold it to the contract's example
/// (docs/api-contract.md) byte for byte, and read what it writes back with serde_json.
#[derive(Debug, PartialEq)]
pub struct ConversationView<'a> {
    pub id: u64,
    pub phone_number: &'a str,
    pub contact_name: Option<&'a str>,
    pub status: &'static str,
    /// The integer 0 or 1, never a boolean (the PHP API returned MySQL's TINYINT).
    pub ai_enabled: u8,
    pub last_message_at: ShownTime,
    pub created_at: ShownTime,
    pub last_message: Option<&'a str>,
    pub last_sender_type: Option<&'static str>,
    pub last_message_created_at: Option<ShownTime>,
    /// Only in the needs-reply queue (`?waiting=customer`): the inbox keeps the legacy shape.
    pub waiting_since: Option<ShownTime>,
}

/// `ConversationView`'s object, with `extra` fields after the legacy ones.
macro_rules! conversation_object {
    ($out:expr, $view:expr $(, $key:literal => $value:expr)*) => {
        object!(
            $out,
            "id" => &$view.id,
            "phone_number" => $view.phone_number,
            "contact_name" => &$view.contact_name,
            "status" => $view.status,
            "ai_enabled" => &$view.ai_enabled,
            "last_message_at" => &$view.last_message_at,
            "created_at" => &$view.created_at,
            "last_message" => &$view.last_message,
            "last_sender_type" => &$view.last_sender_type,
            "last_message_created_at" => &$view.last_message_created_at
            $(, $key => $value)*
        )
    };
}

impl WriteJson for ConversationView<'_> {
    fn write_json(&self, out: &mut StringJson) {
        match &self.waiting_since {
            None => conversation_object!(out, self),
            Some(waiting_since) => conversation_object!(out, self, "waiting_since" => waiting_since),
        }
    }

    fn room(&self) -> usize {
        // Everything but the texts, at its longest: a 20-digit id, `pending_human`,
        // `customer` (tested); and the queue's time.
        const FIXED: usize = 310;
        // Its four quotes are escaped in the body string (`\\"`): one more byte each.
        const WAITING: usize = r#","waiting_since":"2024-01-15 14:30:25""#.len() + 4;
        let text = |t: Option<&str>| t.map_or(0, str::len);
        let waiting = if self.waiting_since.is_some() { WAITING } else { 0 };
        FIXED + waiting + self.phone_number.len() + text(self.contact_name) + text(self.last_message)
    }
}

/// One element of `messages` in `GET /api/conversations/{id}/messages`; written by hand
/// as `ConversationView` is.
#[derive(Debug, PartialEq)]
pub struct MessageView<'a> {
    pub id: u64,
    pub sender_type: &'static str,
    pub message_text: &'a str,
    pub audio_url: Option<&'a str>,
    pub media_type: &'static str,
    pub context_used: Option<&'a str>,
    pub confidence_score: Option<f64>,
    pub created_at: ShownTime,
}

impl WriteJson for MessageView<'_> {
    fn write_json(&self, out: &mut StringJson) {
        object!(
            out,
            "id" => &self.id,
            "sender_type" => self.sender_type,
            "message_text" => self.message_text,
            "audio_url" => &self.audio_url,
            "media_type" => self.media_type,
            "context_used" => &self.context_used,
            "confidence_score" => &self.confidence_score,
            "created_at" => &self.created_at,
        );
    }

    fn room(&self) -> usize {
        // Everything but the texts, at its longest: a 20-digit id, `customer`, `document`,
        // a 24-character score (tested).
        const FIXED: usize = 234;
        let text = |t: Option<&str>| t.map_or(0, str::len);
        FIXED + self.message_text.len() + text(self.audio_url) + text(self.context_used)
    }
}

/// For tests: `value` written by hand as it is sent, a JSON string (quotes included), and
/// as a client reads it, that string's content read back by serde_json.
#[cfg(test)]
pub(crate) fn written(value: &impl WriteJson) -> (String, String) {
    let sent = StringJson::of(value).finish();
    let text = serde_json::from_str(&sent).unwrap();
    (sent, text)
}

/// For tests: the example answer under `heading` in docs/api-contract.md, its layout (the
/// whitespace outside strings) left out: the bytes of the answer it shows.
#[cfg(test)]
#[cfg(feature = "http")]
pub(crate) fn contract_example(heading: &str) -> String {
    let doc = include_str!("../../docs/api-contract.md");
    let section = doc.split_once(heading).unwrap().1;
    let example = section.split_once("```json\n").unwrap().1;
    let example = example.split_once("\n```").unwrap().0;
    let (mut in_string, mut escaped) = (false, false);
    let mut bytes = String::new();
    for c in example.chars() {
        if in_string {
            (in_string, escaped) = (escaped || c != '"', !escaped && c == '\\');
        } else if c.is_whitespace() {
            continue;
        } else {
            in_string = c == '"';
        }
        bytes.push(c);
    }
    bytes
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{MediaType, Preview, Status};
    use serde_json::json;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// What a client reads of `view`.
    fn read(view: &impl WriteJson) -> serde_json::Value {
        serde_json::from_str(&written(view).1).unwrap()
    }

    /// The contract's example conversation (docs/api-contract.md, "GET conversations").
    pub(crate) fn conversation() -> InboxEntry {
        InboxEntry {
            id: 1,
            phone_number: "1234567890".into(),
            contact_name: Some("John Doe".into()),
            status: Status::Active,
            ai_enabled: true,
            last_message_at: ts("2024-01-15T14:30:25Z"),
            created_at: ts("2024-01-10T09:00:00Z"),
            last_message: Some(Preview {
                text: "Thank you for your help!".into(),
                sender_type: SenderType::Customer,
                created_at: ts("2024-01-15T14:30:25Z"),
            }),
            waiting_since: None,
        }
    }

    #[test]
    fn times_are_the_legacy_mysql_format_in_the_zone() {
        let utc = Presentation::default();
        assert_eq!(utc.time(ts("2024-01-05T04:03:02Z")), "2024-01-05 04:03:02");
        assert_eq!(utc.time(ts("0999-12-31T23:59:59Z")), "0999-12-31 23:59:59");
        assert_eq!(utc.time(ts("9999-12-30T00:00:00Z")), "9999-12-30 00:00:00");
        let bogota = Presentation {
            time_zone: jiff::tz::TimeZone::get("America/Bogota").unwrap(),
            ..Presentation::default()
        };
        assert_eq!(bogota.time(ts("2024-01-01T03:00:00Z")), "2023-12-31 22:00:00");
        let before_year_zero = ts("-000001-06-01T00:00:00Z");
        // As `format!("{:04}")` always wrote it: the sign counts in the width.
        assert_eq!(utc.time(before_year_zero), "-001-06-01 00:00:00");
    }

    #[test]
    fn conversation_is_written_in_the_contract_shape() {
        let c = conversation();
        let v = read(&Presentation::default().conversation(&c));
        assert_eq!(
            v,
            json!({
                "id": 1,
                "phone_number": "1234567890",
                "contact_name": "John Doe",
                "status": "active",
                "ai_enabled": 1,
                "last_message_at": "2024-01-15 14:30:25",
                "created_at": "2024-01-10 09:00:00",
                "last_message": "Thank you for your help!",
                "last_sender_type": "customer",
                "last_message_created_at": "2024-01-15 14:30:25"
            })
        );
    }

    #[test]
    fn conversation_without_messages_has_null_last_fields() {
        let mut c = conversation();
        c.last_message = None;
        c.contact_name = None;
        c.ai_enabled = false;
        let v = read(&Presentation::default().conversation(&c));
        assert_eq!(v["last_message"], json!(null));
        assert_eq!(v["last_sender_type"], json!(null));
        assert_eq!(v["last_message_created_at"], json!(null));
        assert_eq!(v["contact_name"], json!(null));
        assert_eq!(v["ai_enabled"], json!(0));
    }

    #[test]
    fn empty_contact_name_stays_empty() {
        let mut c = conversation();
        c.contact_name = Some(String::new());
        let v = read(&Presentation::default().conversation(&c));
        assert_eq!(v["contact_name"], json!(""));
    }

    #[test]
    fn message_is_written_in_the_contract_shape_in_the_configured_zone() {
        let m = Message {
            id: 46,
            conversation_id: 1,
            position: 1,
            sender_type: SenderType::Ai,
            message_text: "I'd be happy to help".into(),
            audio_url: None,
            media_type: MediaType::Text,
            context_used: Some("Order tracking".into()),
            confidence_score: Some(0.92),
            created_at: ts("2024-01-15T15:30:05Z"),
            whatsapp_id: Some("wamid.X".into()),
        };
        let p = Presentation {
            time_zone: TimeZone::get("America/Bogota").unwrap(),
            sender_names: SenderNames::UserBotHuman,
        };
        let v = read(&p.message(&m));
        assert_eq!(
            v,
            json!({
                "id": 46,
                "sender_type": "bot",
                "message_text": "I'd be happy to help",
                "audio_url": null,
                "media_type": "text",
                "context_used": "Order tracking",
                "confidence_score": 0.92,
                "created_at": "2024-01-15 10:30:05"
            })
        );
    }
    /// The room a view asks for holds what it writes, quotes included, when its texts
    /// need no escaping, with little to spare.
    fn room_fits(
        view: &impl WriteJson,
        written: &str,
        texts: &[Option<String>],
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        let plain = texts
            .iter()
            .flatten()
            .all(|t| t.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\'));
        if plain {
            proptest::prop_assert!(
                view.room() + 2 >= written.len(),
                "{} < {}",
                view.room(),
                written.len()
            );
            proptest::prop_assert!(
                view.room() <= written.len() + 80,
                "{} ≫ {}",
                view.room(),
                written.len()
            );
        }
        Ok(())
    }

    #[test]
    fn the_longest_fixed_parts_fit_their_room() {
        let time = Presentation::default().time(Timestamp::from_second(0).unwrap());
        let conversation = ConversationView {
            id: u64::MAX,
            phone_number: "",
            contact_name: Some(""),
            status: "pending_human",
            ai_enabled: 1,
            last_message_at: time,
            created_at: time,
            last_message: Some(""),
            last_sender_type: Some("customer"),
            last_message_created_at: Some(time),
            waiting_since: Some(time),
        };
        assert_eq!(written(&conversation).0.len(), conversation.room() + 2);
        let message = MessageView {
            id: u64::MAX,
            sender_type: "customer",
            message_text: "",
            audio_url: Some(""),
            media_type: "document",
            context_used: Some(""),
            confidence_score: Some(-1.2345678901234567e-300),
            created_at: time,
        };
        assert_eq!(written(&message).0.len(), message.room() + 2);
    }

    /// A number as serde_json writes it, read back as a client reads it.
    fn number(score: Option<f64>) -> serde_json::Value {
        serde_json::from_str(&serde_json::to_string(&score).unwrap()).unwrap()
    }

    proptest::proptest! {
        #[test]
        fn any_texts_read_back_as_they_were(
            texts in proptest::collection::vec(proptest::option::of(proptest::prelude::any::<String>()), 4),
            id in proptest::prelude::any::<u64>(),
            ai_enabled in 0u8..2,
            score in proptest::option::of(proptest::prelude::any::<f64>()),
            second in 0i64..253_402_300_799,
        ) {
            let text = |i: usize| texts[i].as_deref();
            let time = Presentation::default().time(Timestamp::from_second(second).unwrap());
            let conversation = ConversationView {
                id,
                phone_number: text(0).unwrap_or_default(),
                contact_name: text(1),
                status: "pending_human",
                ai_enabled,
                last_message_at: time,
                created_at: time,
                last_message: text(2),
                last_sender_type: text(3).map(|_| "customer"),
                last_message_created_at: text(3).map(|_| time),
                waiting_since: None,
            };
            proptest::prop_assert_eq!(
                read(&conversation),
                json!({
                    "id": id,
                    "phone_number": text(0).unwrap_or_default(),
                    "contact_name": text(1),
                    "status": "pending_human",
                    "ai_enabled": ai_enabled,
                    "last_message_at": time.as_str(),
                    "created_at": time.as_str(),
                    "last_message": text(2),
                    "last_sender_type": text(3).map(|_| "customer"),
                    "last_message_created_at": text(3).map(|_| time.as_str()),
                })
            );
            room_fits(&conversation, &written(&conversation).0, &texts)?;
            let message = MessageView {
                id,
                sender_type: "ai",
                message_text: text(0).unwrap_or_default(),
                audio_url: text(1),
                media_type: "audio",
                context_used: text(2),
                confidence_score: score,
                created_at: time,
            };
            proptest::prop_assert_eq!(
                read(&message),
                json!({
                    "id": id,
                    "sender_type": "ai",
                    "message_text": text(0).unwrap_or_default(),
                    "audio_url": text(1),
                    "media_type": "audio",
                    "context_used": text(2),
                    "confidence_score": number(score),
                    "created_at": time.as_str(),
                })
            );
            room_fits(&message, &written(&message).0, &texts)?;
        }
    }
}
