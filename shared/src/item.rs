//! Domain values ⇄ DynamoDB items, attribute by attribute, by the names `table` spells.
//! Written by hand rather than through serde: no name is spelled a second time (a serde
//! field is one), and an item read is turned straight into the domain value, with no
//! intermediate representation. Key attributes are written but not read back: the domain
//! value has them in other fields.

use std::borrow::Cow;
use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use jiff::Timestamp;

use crate::error::StoreError;
use crate::model::{
    Conversation, InboxEntry, LastMessage, MediaType, Message, Placed, Preview, SenderType, Status,
    SyncCheckpoint, Tally, Waiting,
};
use crate::stats::{HourCounts, StatsShare};
use crate::table::{self, *};

pub type Item = HashMap<String, AttributeValue>;

/// An item as read: its attributes in any form, a map of the SDK's values (GetItem,
/// BatchGetItem) or the pairs of a Query answer read from the wire (`store::wire`), whose
/// texts borrow from the answer (`'a`).
pub trait Attributes<'a>: IntoIterator<Item = (Self::Name, Self::Value)> {
    type Name: Into<Name>;
    type Value: Into<Value<'a>>;
}
impl<'a, N: Into<Name>, V: Into<Value<'a>>, T: IntoIterator<Item = (N, V)>> Attributes<'a> for T {
    type Name = N;
    type Value = V;
}

/// An attribute value as the readers below take it. Strings and numbers are text that a
/// Query answer read by `store::wire` lends from its body: a reader parses a number, a
/// time or a name from it where it lies, and copies only the strings the domain value
/// keeps. An inbox page was 2,500 allocations (and as many frees), a fifth of a warm
/// invocation's instructions (callgrind), when every value was an SDK `AttributeValue`
/// owning its text. Any other type is the SDK's value, boxed: a `Value` is then 32 bytes,
/// and an item's list of 13 pairs fits the allocator's per-thread cache (see
/// `store::wire`).
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    S(Cow<'a, str>),
    N(Cow<'a, str>),
    Bool(bool),
    Null,
    Other(Box<AttributeValue>),
}

impl From<AttributeValue> for Value<'static> {
    fn from(value: AttributeValue) -> Value<'static> {
        match value {
            AttributeValue::S(v) => Value::S(Cow::Owned(v)),
            AttributeValue::N(v) => Value::N(Cow::Owned(v)),
            AttributeValue::Bool(v) => Value::Bool(v),
            AttributeValue::Null(_) => Value::Null,
            other => Value::Other(Box::new(other)),
        }
    }
}

impl Value<'_> {
    /// The SDK's value, owning its text.
    pub fn into_attribute(self) -> AttributeValue {
        match self {
            Value::S(v) => AttributeValue::S(v.into_owned()),
            Value::N(v) => AttributeValue::N(v.into_owned()),
            Value::Bool(v) => AttributeValue::Bool(v),
            Value::Null => AttributeValue::Null(true),
            Value::Other(v) => *v,
        }
    }
}

/// An attribute's name in an item being read: the SDK's maps own theirs; a Query answer
/// read by `store::wire` borrows the names this project writes (`known_name`) rather than
/// allocating each of them again (13 per conversation, 1,300 per inbox page).
pub type Name = Cow<'static, str>;

/// The `'static` copy of an attribute name this project writes, if `name` is one.
pub fn known_name(name: &str) -> Option<&'static str> {
    Some(match name {
        PK => PK,
        SK => SK,
        INBOX => INBOX,
        STATUS => STATUS,
        ACTIVITY => ACTIVITY,
        CHANGED => CHANGED,
        MESSAGES_CHANGED => MESSAGES_CHANGED,
        ID => ID,
        PHONE_NUMBER => PHONE_NUMBER,
        CONTACT_NAME => CONTACT_NAME,
        AI_ENABLED => AI_ENABLED,
        LAST_MESSAGE_AT => LAST_MESSAGE_AT,
        CREATED_AT => CREATED_AT,
        UPDATED_AT => UPDATED_AT,
        MESSAGE_COUNT => MESSAGE_COUNT,
        LAST_MESSAGE_ID => LAST_MESSAGE_ID,
        LAST_MESSAGE => LAST_MESSAGE,
        LAST_SENDER_TYPE => LAST_SENDER_TYPE,
        LAST_MESSAGE_CREATED_AT => LAST_MESSAGE_CREATED_AT,
        CONVERSATION_ID => CONVERSATION_ID,
        POSITION => POSITION,
        SENDER_TYPE => SENDER_TYPE,
        MESSAGE_TEXT => MESSAGE_TEXT,
        AUDIO_URL => AUDIO_URL,
        MEDIA_TYPE => MEDIA_TYPE,
        CONTEXT_USED => CONTEXT_USED,
        CONFIDENCE_SCORE => CONFIDENCE_SCORE,
        WHATSAPP_ID => WHATSAPP_ID,
        NEXT_ID => NEXT_ID,
        _ => return None,
    })
}

/// An item being built: optional values are left out (NULL is an absent attribute).
struct Builder(Item);

impl Builder {
    fn new(capacity: usize) -> Builder {
        Builder(Item::with_capacity(capacity))
    }

    fn set(&mut self, name: &str, value: AttributeValue) -> &mut Builder {
        self.0.insert(name.to_string(), value);
        self
    }

    fn set_opt(&mut self, name: &str, value: Option<AttributeValue>) -> &mut Builder {
        if let Some(value) = value {
            self.set(name, value);
        }
        self
    }

    fn done(&mut self) -> Item {
        std::mem::take(&mut self.0)
    }
}

fn time(t: Timestamp) -> AttributeValue {
    s(t.to_string())
}

/// An RFC 3339 time as the store writes it. The store writes every time as `Timestamp`
/// displays a whole second, `YYYY-MM-DDTHH:MM:SSZ`, and that form is read here by hand;
/// anything else (fractions, offsets, lower case) by jiff's parser, as before.
// Kept (issue 27): jiff's general parser costs a warm inbox page more than hand-written code must save.
fn parse_time(text: &str) -> Option<Timestamp> {
    whole_second_utc(text).or_else(|| text.parse().ok())
}

/// `YYYY-MM-DDTHH:MM:SSZ`, or `None` for anything else, including dates that do not
/// exist and leap seconds (jiff then decides).
fn whole_second_utc(text: &str) -> Option<Timestamp> {
    let bytes: &[u8; 20] = text.as_bytes().try_into().ok()?;
    #[rustfmt::skip]
    let [y0, y1, y2, y3, b'-', mo0, mo1, b'-', d0, d1, b'T', h0, h1, b':', mi0, mi1, b':', s0, s1, b'Z'] =
        *bytes
    else {
        return None;
    };
    let digit = |c: u8| c.is_ascii_digit().then(|| i64::from(c - b'0'));
    let two = |tens: u8, units: u8| Some(digit(tens)? * 10 + digit(units)?);
    let year = two(y0, y1)? * 100 + two(y2, y3)?;
    let (month, day) = (two(mo0, mo1)?, two(d0, d1)?);
    let (hour, minute, second) = (two(h0, h1)?, two(mi0, mi1)?, two(s0, s1)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=days_in_month).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Days from 1970-01-01 to the date: Howard Hinnant's `days_from_civil`, on a calendar
    // whose years start in March, so that the leap day ends one.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    // Out of jiff's range (the last days of 9999): `None`, and jiff says why.
    Timestamp::from_second(days * 86_400 + hour * 3_600 + minute * 60 + second).ok()
}

/// An item being read: each attribute is taken out of it (no copy of its text). Held as a
/// list, not the SDK's map: finding one of ~18 short names by comparison is cheaper than
/// SipHashing it again, which showed in `make profile`.
struct Reader<'a> {
    item: Vec<(Name, Value<'a>)>,
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn bad(&self, name: &str, reason: &str) -> StoreError {
        StoreError::BadItem {
            what: self.what,
            reason: format!("{name}: {reason}"),
        }
    }

    fn take(&mut self, name: &str) -> Option<Value<'a>> {
        let at = self.item.iter().position(|(k, _)| k == name)?;
        Some(self.item.swap_remove(at).1)
    }

    /// A string attribute's text, borrowed where the item lends it.
    fn opt_text(&mut self, name: &str) -> Result<Option<Cow<'a, str>>, StoreError> {
        match self.take(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::S(v)) => Ok(Some(v)),
            Some(_) => Err(self.bad(name, "not a string")),
        }
    }

    fn opt_string(&mut self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.opt_text(name)?.map(Cow::into_owned))
    }

    fn string(&mut self, name: &str) -> Result<String, StoreError> {
        self.opt_string(name)?.ok_or_else(|| self.bad(name, "missing"))
    }

    fn opt_number<T: std::str::FromStr>(&mut self, name: &str) -> Result<Option<T>, StoreError> {
        match self.take(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::N(v)) => v
                .parse()
                .map(Some)
                .map_err(|_| self.bad(name, "not a number of its kind")),
            Some(_) => Err(self.bad(name, "not a number")),
        }
    }

    fn number<T: std::str::FromStr>(&mut self, name: &str) -> Result<T, StoreError> {
        self.opt_number(name)?.ok_or_else(|| self.bad(name, "missing"))
    }

    fn boolean(&mut self, name: &str) -> Result<bool, StoreError> {
        match self.take(name) {
            Some(Value::Bool(v)) => Ok(v),
            None => Err(self.bad(name, "missing")),
            Some(_) => Err(self.bad(name, "not a boolean")),
        }
    }

    fn opt_time(&mut self, name: &str) -> Result<Option<Timestamp>, StoreError> {
        self.opt_text(name)?
            .map(|v| parse_time(&v).ok_or_else(|| self.bad(name, "not an RFC 3339 time")))
            .transpose()
    }

    fn time(&mut self, name: &str) -> Result<Timestamp, StoreError> {
        self.opt_time(name)?.ok_or_else(|| self.bad(name, "missing"))
    }

    /// A named value (`Status`, `SenderType`, `MediaType`) by its `parse`.
    fn opt_named<T>(&mut self, name: &str, parse: fn(&str) -> Option<T>) -> Result<Option<T>, StoreError> {
        self.opt_text(name)?
            .map(|v| parse(&v).ok_or_else(|| self.bad(name, "not one of its names")))
            .transpose()
    }

    fn named<T>(&mut self, name: &str, parse: fn(&str) -> Option<T>) -> Result<T, StoreError> {
        self.opt_named(name, parse)?
            .ok_or_else(|| self.bad(name, "missing"))
    }
}

fn reader<'a>(item: impl Attributes<'a>, what: &'static str) -> Reader<'a> {
    Reader {
        // In place when the item is already a list of `Name`s and `Value`s (a Query
        // answer's).
        item: item
            .into_iter()
            .map(|(name, value)| (name.into(), value.into()))
            .collect(),
        what,
    }
}

/// The item of `c` as a write stamped `written` (`model::write_stamp`) puts it: `changed`
/// is that stamp; `messages_changed` is `c`'s (the writer sets it where messages change).
pub fn conversation_to_item(c: &Conversation, written: Timestamp) -> Item {
    let last = c.last_message.as_ref();
    Builder::new(20)
        .set(PK, s(table::conversation_pk(c.id)))
        .set(SK, s(META_SK))
        .set(INBOX, s(INBOX_ALL))
        .set(STATUS, s(c.status.as_str()))
        .set(ACTIVITY, s(table::activity(c.last_message_at, c.id)))
        .set(CHANGED, s(table::changed(written, c.id)))
        .set(ID, n(c.id))
        .set(PHONE_NUMBER, s(c.phone_number.as_str()))
        .set_opt(CONTACT_NAME, c.contact_name.as_deref().map(s))
        .set(AI_ENABLED, AttributeValue::Bool(c.ai_enabled))
        .set(LAST_MESSAGE_AT, time(c.last_message_at))
        .set(CREATED_AT, time(c.created_at))
        .set(UPDATED_AT, time(c.updated_at))
        .set(MESSAGE_COUNT, n(c.message_count))
        .set_opt(LAST_MESSAGE_ID, last.map(|m| n(m.id)))
        .set_opt(LAST_MESSAGE, last.map(|m| s(m.text.as_str())))
        .set_opt(LAST_SENDER_TYPE, last.map(|m| s(m.sender_type.as_str())))
        .set_opt(LAST_MESSAGE_CREATED_AT, last.map(|m| time(m.created_at)))
        .set_opt(MESSAGES_CHANGED, c.messages_changed.map(|t| s(table::stamp(t))))
        .set_opt(
            WAITING_KNOWN,
            (c.waiting != Waiting::Unknown).then_some(AttributeValue::Bool(true)),
        )
        .set_opt(WAITING, c.waiting.since().map(|at| s(table::activity(at, c.id))))
        .set_opt(WAITING_SINCE, c.waiting.since().map(time))
        .set_opt(
            WAITING_FROM,
            match c.waiting {
                Waiting::Since { from, .. } => Some(n(from)),
                _ => None,
            },
        )
        .set_opt(STATS_SHARE, c.stats.as_ref().map(|share| s(share.encode())))
        // Every writer of a whole conversation item adds it to the tally in the same
        // transaction (writer::tally).
        .set(COUNTED, AttributeValue::Bool(true))
        .done()
}

/// The attributes `inbox_entry_from_item` reads: what the inbox's Query asks for
/// (`projection`). The key and index attributes (pk, sk, inbox, activity, changed) and the
/// bookkeeping the inbox does not show stay on the server: fewer bytes on the wire and to
/// read. Read units are the same (DynamoDB charges for the whole item).
pub const INBOX_ATTRIBUTES: [&str; 10] = [
    ID,
    PHONE_NUMBER,
    CONTACT_NAME,
    STATUS,
    AI_ENABLED,
    LAST_MESSAGE_AT,
    CREATED_AT,
    LAST_MESSAGE,
    LAST_SENDER_TYPE,
    LAST_MESSAGE_CREATED_AT,
];

/// A `ProjectionExpression` of `names` through placeholders `#a0`, `#a1`, … (several are
/// DynamoDB reserved words, `status` among them), with the placeholders' bindings.
pub fn projection(names: &[&'static str]) -> (String, Vec<(String, &'static str)>) {
    let bindings: Vec<(String, &'static str)> = names
        .iter()
        .enumerate()
        .map(|(i, name)| (format!("#a{i}"), *name))
        .collect();
    let expression = bindings
        .iter()
        .map(|(placeholder, _)| placeholder.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    (expression, bindings)
}

pub fn inbox_entry_from_item<'a>(item: impl Attributes<'a>) -> Result<InboxEntry, StoreError> {
    inbox_entry(&mut reader(item, "conversation"))
}

/// The waiting state of a conversation item (`conversation_to_item`).
fn waiting(it: &mut Reader<'_>) -> Result<Waiting, StoreError> {
    let known = matches!(it.take(WAITING_KNOWN), Some(Value::Bool(true)));
    match (known, it.opt_time(WAITING_SINCE)?, it.opt_number(WAITING_FROM)?) {
        (false, _, _) => Ok(Waiting::Unknown),
        (true, Some(at), Some(from)) => Ok(Waiting::Since { at, from }),
        (true, None, None) => Ok(Waiting::No),
        _ => Err(it.bad(WAITING_SINCE, "waiting_since and waiting_from go together")),
    }
}

/// The inbox's part of a conversation item (`INBOX_ATTRIBUTES`, and `waiting_since` when
/// the queue's projection has it), taken out of `it`.
fn inbox_entry(it: &mut Reader<'_>) -> Result<InboxEntry, StoreError> {
    let last_message = match (
        it.opt_string(LAST_MESSAGE)?,
        it.opt_named(LAST_SENDER_TYPE, SenderType::parse)?,
        it.opt_time(LAST_MESSAGE_CREATED_AT)?,
    ) {
        (Some(text), Some(sender_type), Some(created_at)) => Some(Preview {
            text,
            sender_type,
            created_at,
        }),
        _ => None,
    };
    Ok(InboxEntry {
        id: it.number(ID)?,
        phone_number: it.string(PHONE_NUMBER)?,
        contact_name: it.opt_string(CONTACT_NAME)?,
        status: it.named(STATUS, Status::parse)?,
        ai_enabled: it.boolean(AI_ENABLED)?,
        last_message_at: it.time(LAST_MESSAGE_AT)?,
        created_at: it.time(CREATED_AT)?,
        last_message,
        waiting_since: it.opt_time(WAITING_SINCE)?,
    })
}

pub fn conversation_from_item<'a>(item: impl Attributes<'a>) -> Result<Conversation, StoreError> {
    let mut it = reader(item, "conversation");
    let last_message_id = it.opt_number(LAST_MESSAGE_ID)?;
    // Before the inbox's part, which would take `waiting_since` for itself.
    let waiting = waiting(&mut it)?;
    let stats = match it.opt_string(STATS_SHARE)? {
        Some(text) => {
            Some(StatsShare::parse(&text).ok_or_else(|| it.bad(STATS_SHARE, "not a statistics share"))?)
        }
        None => None,
    };
    let entry = inbox_entry(&mut it)?;
    Ok(Conversation {
        // Absent on items written before it existed: read as the later of the two times.
        updated_at: it
            .opt_time(UPDATED_AT)?
            .unwrap_or_else(|| entry.last_message_at.max(entry.created_at)),
        message_count: it.number(MESSAGE_COUNT)?,
        messages_changed: it.opt_time(MESSAGES_CHANGED)?,
        waiting,
        stats,
        id: entry.id,
        phone_number: entry.phone_number,
        contact_name: entry.contact_name,
        status: entry.status,
        ai_enabled: entry.ai_enabled,
        last_message_at: entry.last_message_at,
        created_at: entry.created_at,
        last_message: last_message_id
            .zip(entry.last_message)
            .map(|(id, m)| LastMessage {
                id,
                text: m.text,
                sender_type: m.sender_type,
                created_at: m.created_at,
            }),
    })
}

pub fn message_to_item(m: &Message) -> Item {
    Builder::new(13)
        .set(PK, s(table::conversation_pk(m.conversation_id)))
        .set(SK, s(table::message_sk(m.position)))
        .set(ID, n(m.id))
        .set(CONVERSATION_ID, n(m.conversation_id))
        .set(POSITION, n(m.position))
        .set(SENDER_TYPE, s(m.sender_type.as_str()))
        .set(MESSAGE_TEXT, s(m.message_text.as_str()))
        .set_opt(AUDIO_URL, m.audio_url.as_deref().map(s))
        .set(MEDIA_TYPE, s(m.media_type.as_str()))
        .set_opt(CONTEXT_USED, m.context_used.as_deref().map(s))
        .set_opt(CONFIDENCE_SCORE, m.confidence_score.map(n))
        .set(CREATED_AT, time(m.created_at))
        .set_opt(WHATSAPP_ID, m.whatsapp_id.as_deref().map(s))
        .done()
}

pub fn message_from_item<'a>(item: impl Attributes<'a>) -> Result<Message, StoreError> {
    let mut it = reader(item, "message");
    Ok(Message {
        id: it.number(ID)?,
        conversation_id: it.number(CONVERSATION_ID)?,
        position: it.number(POSITION)?,
        sender_type: it.named(SENDER_TYPE, SenderType::parse)?,
        message_text: it.string(MESSAGE_TEXT)?,
        audio_url: it.opt_string(AUDIO_URL)?,
        media_type: it.named(MEDIA_TYPE, MediaType::parse)?,
        context_used: it.opt_string(CONTEXT_USED)?,
        confidence_score: it.opt_number(CONFIDENCE_SCORE)?,
        created_at: it.time(CREATED_AT)?,
        whatsapp_id: it.opt_string(WHATSAPP_ID)?,
    })
}

/// The attributes `placed_from_item` reads: a message's place, without its texts.
pub const PLACED_ATTRIBUTES: [&str; 3] = [ID, POSITION, CREATED_AT];

pub fn placed_from_item<'a>(item: impl Attributes<'a>) -> Result<Placed, StoreError> {
    let mut it = reader(item, "message");
    Ok(Placed {
        id: it.number(ID)?,
        position: it.number(POSITION)?,
        created_at: it.time(CREATED_AT)?,
    })
}

/// What `Waiting::after` takes of a message item: position, sender, `created_at`.
pub fn waiting_key_from_item<'a>(
    item: impl Attributes<'a>,
) -> Result<(u64, SenderType, Timestamp), StoreError> {
    let mut it = reader(item, "message");
    Ok((
        it.number(POSITION)?,
        it.named(SENDER_TYPE, SenderType::parse)?,
        it.time(CREATED_AT)?,
    ))
}

pub fn checkpoint_to_item(sk: &str, c: &SyncCheckpoint) -> Item {
    Builder::new(5)
        .set(PK, s(SYNC_PK))
        .set(SK, s(sk))
        .set(SYNC_MESSAGE_ID, n(c.settled_message_id))
        .set(SYNC_CONVERSATIONS_SINCE, time(c.conversations_since))
        .set(SYNC_SAVED_AT, time(c.saved_at))
        .done()
}

pub fn checkpoint_from_item<'a>(item: impl Attributes<'a>) -> Result<SyncCheckpoint, StoreError> {
    let mut it = reader(item, "sync checkpoint");
    Ok(SyncCheckpoint {
        settled_message_id: it.number(SYNC_MESSAGE_ID)?,
        conversations_since: it.time(SYNC_CONVERSATIONS_SINCE)?,
        saved_at: it.time(SYNC_SAVED_AT)?,
    })
}

/// A conversation of the `by_change` index (`table::BY_CHANGE_ATTRIBUTES`): what a poll
/// answers.
pub fn changed_from_item<'a>(
    item: impl Attributes<'a>,
) -> Result<crate::store::ChangedConversation, StoreError> {
    let mut it = reader(item, "changed conversation");
    Ok(crate::store::ChangedConversation {
        id: it.number(ID)?,
        last_message_at: it.time(LAST_MESSAGE_AT)?,
        status: it.named(STATUS, Status::parse)?,
    })
}

/// The item that makes a phone number unique: created with the conversation under a
/// `attribute_not_exists` condition.
pub fn phone_item(phone_number: &str, conversation_id: u64) -> Item {
    Builder::new(4)
        .set(PK, s(table::phone_pk(phone_number)))
        .set(SK, s(PHONE_SK))
        .set(PHONE_NUMBER, s(phone_number))
        .set(CONVERSATION_ID, n(conversation_id))
        .done()
}

/// A number attribute of an item, when it is one.
pub fn number_of(item: &Item, name: &str) -> Option<u64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

/// A tally shard's counts (an attribute not written yet is 0).
pub fn tally_from_item<'a>(item: impl Attributes<'a>) -> Result<Tally, StoreError> {
    shard(&mut reader(item, "tally shard"))
}

fn shard(it: &mut Reader<'_>) -> Result<Tally, StoreError> {
    let mut tally = Tally::default();
    for status in Status::ALL {
        *tally.of(status) = it.opt_number(status.as_str())?.unwrap_or(0);
    }
    tally.messages = it.opt_number(TALLY_MESSAGES)?.unwrap_or(0);
    Ok(tally)
}

/// An item of the tally's partition: a shard, or an hour of the daily statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TallyItem {
    Shard(Tally),
    Hour(HourCounts),
}

pub fn tally_item_from_item<'a>(item: impl Attributes<'a>) -> Result<TallyItem, StoreError> {
    let mut it = reader(item, "tally item");
    let sk = it.string(SK)?;
    if !sk.starts_with(table::STATS_HOUR_PREFIX) {
        return Ok(TallyItem::Shard(shard(&mut it)?));
    }
    let mut hour = HourCounts {
        hour: it.number(STATS_HOUR)?,
        ..HourCounts::default()
    };
    for (q, (messages, newest)) in hour.messages.iter_mut().zip(&mut hour.newest).enumerate() {
        *messages = it.opt_number(&table::stats_messages(q))?.unwrap_or(0);
        *newest = it.opt_number(&table::stats_newest(q))?.unwrap_or(0);
    }
    Ok(TallyItem::Hour(hour))
}

/// What a conversation item adds to the tally: one of its status and its messages; nothing
/// when it is not counted (written before the tally existed, and not since).
pub fn tally_share(item: &Item) -> Result<Tally, StoreError> {
    let mut share = Tally::default();
    if item.get(COUNTED) != Some(&AttributeValue::Bool(true)) {
        return Ok(share);
    }
    let mut it = reader(
        [STATUS, MESSAGE_COUNT]
            .into_iter()
            .filter_map(|name| Some((name.to_string(), item.get(name)?.clone()))),
        "conversation",
    );
    *share.of(it.named(STATUS, Status::parse)?) += 1;
    share.messages = it.number(MESSAGE_COUNT)?;
    Ok(share)
}

/// What a phone claim holds (besides its key).
pub const PHONE_CLAIM_ATTRIBUTES: [&str; 2] = [PHONE_NUMBER, CONVERSATION_ID];

/// The phone number of a phone claim and the conversation that owns it.
pub fn phone_owner(item: Item) -> Result<(String, u64), StoreError> {
    let mut it = reader(item, "phone claim");
    Ok((it.string(PHONE_NUMBER)?, it.number(CONVERSATION_ID)?))
}

/// Whether an item (an old image a failed condition returned) is the one with this `id`.
pub fn has_id(item: &Item, id: u64) -> bool {
    item.get(ID) == Some(&n(id))
}

/// An item's size as DynamoDB counts it against its 400 KB limit and bills it: attribute
/// names plus values (strings and binaries by their bytes, numbers about one byte per two
/// digits plus one, 1 byte for a boolean or null, 3 bytes of overhead plus 1 per element
/// for lists and maps).
pub fn size(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &AttributeValue) -> usize {
    use AttributeValue as V;
    let number = |n: &str| {
        n.trim_start_matches(['-', '0'])
            .replace('.', "")
            .len()
            .div_ceil(2)
            + 1
    };
    match value {
        V::S(s) => s.len(),
        V::N(n) => number(n),
        V::B(b) => b.as_ref().len(),
        V::Ss(v) => v.iter().map(String::len).sum(),
        V::Ns(v) => v.iter().map(|n| number(n)).sum(),
        V::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        V::L(v) => 3 + v.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        V::M(m) => 3 + m.iter().map(|(k, e)| 1 + k.len() + value_size(e)).sum::<usize>(),
        _ => 1,
    }
}

pub fn is_conversation(item: &[(Name, Value<'_>)]) -> bool {
    item.iter()
        .any(|(name, value)| name == table::SK && matches!(value, Value::S(sk) if sk == table::META_SK))
}

pub fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([
        (table::PK.to_string(), AttributeValue::S(pk)),
        (table::SK.to_string(), AttributeValue::S(sk.into())),
    ])
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_by_hand_are_jiffs() {
        // Every day from year 0 to 9999 at a time that moves through the day, leap days
        // and century years included.
        let mut t = Timestamp::from_second(-62_167_219_200).unwrap(); // 0000-01-01
        let end: Timestamp = "9999-12-30T00:00:00Z".parse().unwrap();
        let mut step = 86_400 + 3_607;
        while t < end {
            let text = t.to_string();
            assert_eq!(whole_second_utc(&text), Some(t), "{text}");
            let Ok(next) = t.checked_add(jiff::SignedDuration::from_secs(step)) else {
                break;
            };
            t = next;
            step = if step > 86_400 * 9 {
                86_400 + 3_607
            } else {
                step + 172_799
            };
        }
        for text in [
            "2000-02-29T23:59:59Z",
            "1900-03-01T00:00:00Z",
            "1970-01-01T00:00:00Z",
            "2024-12-31T12:00:00Z",
        ] {
            assert_eq!(whole_second_utc(text), Some(text.parse().unwrap()), "{text}");
        }
    }

    #[test]
    fn other_times_are_left_to_jiff() {
        for text in [
            "2024-02-30T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:60:00Z",
            "2016-12-31T23:59:60Z",
            "2024-01-01t00:00:00Z",
            "2024-01-01T00:00:00z",
            "2024-01-01T00:00:00+01:00",
            "2024-01-01T00:00:00.5Z",
            "+2024-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "2024-0a-01T00:00:00Z",
            "",
        ] {
            assert_eq!(whole_second_utc(text), None, "{text}");
            assert_eq!(parse_time(text), text.parse().ok(), "{text}");
        }
        assert_eq!(
            parse_time("2024-01-01T00:00:00.5Z"),
            Some("2024-01-01T00:00:00.5Z".parse().unwrap())
        );
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn conversation_round_trips_through_an_item() {
        let c = Conversation {
            id: 7,
            phone_number: "573001112233".into(),
            contact_name: None,
            status: Status::PendingHuman,
            ai_enabled: false,
            last_message_at: ts("2024-01-15T14:30:25Z"),
            created_at: ts("2024-01-10T09:00:00Z"),
            updated_at: ts("2024-01-15T14:31:00Z"),
            last_message: Some(LastMessage {
                id: 70,
                text: "hola 👋".into(),
                sender_type: SenderType::Customer,
                created_at: ts("2024-01-15T14:30:25Z"),
            }),
            message_count: 12,
            messages_changed: Some(ts("2024-01-15T14:31:02.5Z")),
            waiting: Waiting::Since {
                at: ts("2024-01-15T14:29:00Z"),
                from: 10,
            },
            stats: Some(crate::stats::StatsShare::of(
                [ts("2024-01-15T14:29:00Z"), ts("2024-01-15T14:30:25Z")],
                ts("2024-01-16T00:00:00Z"),
            )),
        };
        let written = ts("2024-01-15T14:31:03.25Z");
        let item = conversation_to_item(&c, written);
        assert_eq!(item["waiting"], s("2024-01-15T14:29:00Z#0000000000000007"));
        for waiting in [Waiting::Unknown, Waiting::No] {
            let other = Conversation { waiting, ..c.clone() };
            let it = conversation_to_item(&other, written);
            assert!(!it.contains_key("waiting") && !it.contains_key("waiting_since"));
            assert_eq!(conversation_from_item(it).unwrap(), other);
        }
        assert_eq!(item["pk"], s("C#7"));
        assert_eq!(item["status"], s("pending_human"));
        assert_eq!(item["activity"], s("2024-01-15T14:30:25Z#0000000000000007"));
        // When the write ran, not a legacy time.
        assert_eq!(item["changed"], s("2024-01-15T14:31:03.250Z#0000000000000007"));
        assert_eq!(item["messages_changed"], s("2024-01-15T14:31:02.500Z"));
        assert!(!item.contains_key("contact_name"));
        assert_eq!(conversation_from_item(item.clone()).unwrap(), c);
        // What the inbox's projection returns is the conversation's inbox entry, with or
        // without a contact name, with or without a last message.
        let projected = |item: &Item| -> Item {
            item.iter()
                .filter(|(name, _)| INBOX_ATTRIBUTES.contains(&name.as_str()))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect()
        };
        assert_eq!(projected(&item).len(), INBOX_ATTRIBUTES.len() - 1);
        assert_eq!(
            inbox_entry_from_item(projected(&item)).unwrap(),
            InboxEntry::from(&c)
        );
        for other in [
            Conversation {
                contact_name: Some("Ana".into()),
                ..c.clone()
            },
            Conversation {
                last_message: None,
                messages_changed: None,
                ..c.clone()
            },
        ] {
            let item = conversation_to_item(&other, written);
            assert_eq!(conversation_from_item(item.clone()).unwrap(), other);
            assert_eq!(
                inbox_entry_from_item(projected(&item)).unwrap(),
                InboxEntry::from(&other)
            );
        }
    }

    #[test]
    fn a_projection_names_every_attribute_through_a_placeholder() {
        let (expression, names) = projection(&[STATUS, ID]);
        assert_eq!(expression, "#a0, #a1");
        assert_eq!(names, vec![("#a0".to_string(), STATUS), ("#a1".to_string(), ID)]);
    }

    #[test]
    fn an_item_missing_an_attribute_or_of_another_type_is_named_in_the_error() {
        let m = Message {
            id: 5,
            conversation_id: 7,
            position: 3,
            sender_type: SenderType::Ai,
            message_text: "hola".into(),
            audio_url: None,
            media_type: MediaType::Text,
            context_used: None,
            confidence_score: None,
            created_at: ts("2024-01-15T14:30:25Z"),
            whatsapp_id: None,
        };
        let mut item = message_to_item(&m);
        item.remove(MESSAGE_TEXT);
        let e = message_from_item(item).unwrap_err().to_string();
        assert!(e.contains("message_text: missing"), "{e}");
        let mut item = message_to_item(&m);
        item.insert(MEDIA_TYPE.into(), s("sticker"));
        let e = message_from_item(item).unwrap_err().to_string();
        assert!(e.contains("media_type: not one of its names"), "{e}");
        let mut item = message_to_item(&m);
        item.insert(POSITION.into(), s("3"));
        let e = message_from_item(item).unwrap_err().to_string();
        assert!(e.contains("position: not a number"), "{e}");
    }

    #[test]
    fn a_conversation_written_before_updated_at_existed_reads_the_later_time() {
        let c = Conversation {
            id: 7,
            phone_number: "1".into(),
            contact_name: Some(String::new()),
            status: Status::Closed,
            ai_enabled: true,
            last_message_at: ts("2024-01-15T14:30:25Z"),
            created_at: ts("2024-01-10T09:00:00Z"),
            updated_at: ts("2024-01-15T14:30:25Z"),
            last_message: None,
            message_count: 0,
            messages_changed: None,
            waiting: Waiting::Unknown,
            stats: None,
        };
        let mut item = conversation_to_item(&c, ts("2024-01-15T14:30:25Z"));
        assert_eq!(item[CONTACT_NAME], s(""));
        assert!(!item.contains_key(MESSAGES_CHANGED));
        item.remove(UPDATED_AT);
        assert_eq!(conversation_from_item(item).unwrap(), c);
    }

    #[test]
    fn message_round_trips_through_an_item() {
        let m = Message {
            id: 5,
            conversation_id: 7,
            position: 3,
            sender_type: SenderType::Ai,
            message_text: String::new(),
            audio_url: Some("https://x/a.ogg".into()),
            media_type: MediaType::Audio,
            context_used: Some("ctx".into()),
            confidence_score: Some(0.5),
            created_at: ts("2024-01-15T14:30:25Z"),
            whatsapp_id: None,
        };
        let item = message_to_item(&m);
        assert_eq!(item["sk"], s("M#0000000000000003"));
        assert_eq!(message_from_item(item).unwrap(), m);
    }

    #[test]
    fn size_counts_names_and_values_as_dynamodb_does() {
        let item: Item = HashMap::from([
            ("pk".to_string(), s("C#7")),                   // 2 + 3
            ("n".to_string(), n(12345)),                    // 1 + 3 + 1
            ("ok".to_string(), AttributeValue::Bool(true)), // 2 + 1
            ("text".to_string(), s("hola 👋")),             // 4 + 9 bytes of UTF-8
        ]);
        assert_eq!(size(&item), 5 + 5 + 3 + 13);
        let long = Message {
            id: 1,
            conversation_id: 1,
            position: 0,
            sender_type: SenderType::Ai,
            message_text: "x".repeat(300 * 1024),
            audio_url: None,
            media_type: MediaType::Text,
            context_used: Some("y".repeat(100 * 1024)),
            confidence_score: None,
            created_at: ts("2024-01-15T14:30:25Z"),
            whatsapp_id: None,
        };
        assert!(size(&message_to_item(&long)) > 400 * 1024);
    }
}

#[cfg(test)]
mod value_size {
    /// What `store::wire::PAIRS` is sized for.
    #[test]
    fn a_pair_is_56_bytes() {
        assert_eq!(std::mem::size_of::<super::Value<'_>>(), 32);
        assert_eq!(std::mem::size_of::<(super::Name, super::Value<'_>)>(), 56);
    }
}
