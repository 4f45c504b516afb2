//! Domain types. Timestamps are held in UTC (`jiff::Timestamp`, whole seconds as the
//! legacy MySQL `TIMESTAMP` columns); they are turned into the contract's local-time
//! strings only when a response is rendered (`crate::view`).

use jiff::Timestamp;

use crate::stats::StatsShare;

/// The largest id the API accepts: ids travel as JSON numbers, which stay exact up to 2^53 - 1.
pub const MAX_ID: u64 = (1 << 53) - 1;

/// An enum with a fixed name for each value, as stored and as the contract shows it:
/// `ALL` (in declaration order), `as_str` and `parse`, from one list of names. Exported
/// for the other crates' fixed-name enums (convo-admin's legacy tables).
#[macro_export]
macro_rules! named_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)+
        }

        impl $name {
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

named_enum! {
    pub enum Status {
        Active = "active",
        PendingHuman = "pending_human",
        Closed = "closed",
    }
}

named_enum! {
    /// Who sent a message. Stored under the API's names (`customer`, `ai`, `human`); the
    /// legacy database's `user` and `bot` are mapped on import and, when configured, on output.
    pub enum SenderType {
        Customer = "customer",
        Ai = "ai",
        Human = "human",
    }
}

impl SenderType {
    /// The name the legacy MySQL database stored (`ENUM('user','bot','human')`).
    pub fn legacy_name(self) -> &'static str {
        match self {
            SenderType::Customer => "user",
            SenderType::Ai => "bot",
            SenderType::Human => "human",
        }
    }

    /// Accepts both the API's names and the legacy database's.
    pub fn parse_any(s: &str) -> Option<SenderType> {
        SenderType::parse(s).or_else(|| SenderType::ALL.into_iter().find(|t| t.legacy_name() == s))
    }
}

named_enum! {
    pub enum MediaType {
        Text = "text",
        Audio = "audio",
        Image = "image",
        Video = "video",
        Document = "document",
    }
}

/// The newest message of a conversation, kept on the conversation so the inbox list
/// needs no second read.
#[derive(Debug, Clone, PartialEq)]
pub struct LastMessage {
    pub id: u64,
    pub text: String,
    pub sender_type: SenderType,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub id: u64,
    pub phone_number: String,
    pub contact_name: Option<String>,
    pub status: Status,
    pub ai_enabled: bool,
    /// Drives the inbox order. Set by every append; an import keeps the legacy row's value.
    pub last_message_at: Timestamp,
    pub created_at: Timestamp,
    /// The last change of any kind (status, `ai_enabled`, name, a new message), as MySQL's
    /// `ON UPDATE CURRENT_TIMESTAMP` kept the legacy column: what the dashboard's polls ask.
    pub updated_at: Timestamp,
    pub last_message: Option<LastMessage>,
    /// How many messages the conversation has; also the position the next message takes.
    pub message_count: u64,
    /// When the store last wrote a change of its messages (`write_stamp`, the writer's
    /// clock): what the per-conversation poll compares. `None` until then, and on items
    /// written before it was kept. The store sets it on writes that add or move messages;
    /// any other write carries it over.
    pub messages_changed: Option<Timestamp>,
    /// Whether it waits for an answer (the needs-reply queue), worked out by each writer
    /// of its messages from what the item held before (`Waiting::after`).
    pub waiting: Waiting,
    /// What it adds to the daily statistics (`crate::stats`), worked out by each writer of
    /// its messages from what the item added before; `None` on items written before the
    /// statistics existed, which add nothing until `convo-admin backfill` counts them.
    pub stats: Option<StatsShare>,
}

/// Whether a conversation waits for an answer: its newest message is the customer's.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// Not known: written before the queue existed, and no write since could tell
    /// (`convo-admin backfill` works it out from the messages).
    #[default]
    Unknown,
    /// Answered: its newest message is the AI's or a human's, or it has none.
    No,
    /// Since the oldest unanswered customer message (`at`, its `created_at`), the first of
    /// the trailing run of customer messages, at position `from`.
    Since { at: Timestamp, from: u64 },
}

impl Waiting {
    /// The state after a write that leaves positions below `first` as they were and puts
    /// `run` (position, sender, `created_at`, oldest first) from `first` on, `self` being
    /// the state of the `count` messages before. Messages are never deleted, so positions
    /// `first..count` reappear in `run`: an answer among them decides what the prefix
    /// cannot.
    pub fn after(
        self,
        count: u64,
        first: u64,
        run: impl IntoIterator<Item = (u64, SenderType, Timestamp)>,
    ) -> Waiting {
        // The state of positions `..first` alone.
        let mut state = match self {
            _ if first == 0 => Waiting::No,
            Waiting::Since { from, .. } if from == first => Waiting::No,
            Waiting::Since { from, .. } if from > first => Waiting::Unknown,
            Waiting::No if first < count => Waiting::Unknown,
            state => state,
        };
        for (position, sender, at) in run {
            state = match (sender, state) {
                (SenderType::Customer, Waiting::No) => Waiting::Since { at, from: position },
                (SenderType::Customer, state) => state,
                _ => Waiting::No,
            };
        }
        state
    }

    /// The state of a whole conversation, its messages oldest first.
    pub fn of<'a>(messages: impl IntoIterator<Item = &'a Message>) -> Waiting {
        Waiting::No.after(0, 0, messages.into_iter().map(Message::waiting_key))
    }

    pub fn since(self) -> Option<Timestamp> {
        match self {
            Waiting::Since { at, .. } => Some(at),
            _ => None,
        }
    }
}

impl Conversation {
    /// Whether `other` holds what this holds, whatever either's write stamp: a source's
    /// copy (never stamped) against the table's.
    pub fn same_content(&self, other: &Conversation) -> bool {
        // Destructured, so that a field added later is compared or left out on purpose.
        let Conversation {
            id,
            phone_number,
            contact_name,
            status,
            ai_enabled,
            last_message_at,
            created_at,
            updated_at,
            last_message,
            message_count,
            messages_changed: _,
            waiting,
            // Bookkeeping of the table's, as the stamp: no source has it.
            stats: _,
        } = self;
        *id == other.id
            && *phone_number == other.phone_number
            && *contact_name == other.contact_name
            && *status == other.status
            && *ai_enabled == other.ai_enabled
            && *last_message_at == other.last_message_at
            && *created_at == other.created_at
            && *updated_at == other.updated_at
            && *last_message == other.last_message
            && *message_count == other.message_count
            && *waiting == other.waiting
    }
}

/// A conversation as the inbox lists it: what the list shows and is ordered by. The
/// bookkeeping only writers and polls read (`updated_at`, `message_count`, the last
/// message's id) is left out, and so left on the server: an inbox page reads three
/// attributes fewer per conversation (`make bench-instructions` measures what it saves).
#[derive(Debug, Clone, PartialEq)]
pub struct InboxEntry {
    pub id: u64,
    pub phone_number: String,
    pub contact_name: Option<String>,
    pub status: Status,
    pub ai_enabled: bool,
    pub last_message_at: Timestamp,
    pub created_at: Timestamp,
    pub last_message: Option<Preview>,
    /// In the needs-reply queue only: since when it waits (`Waiting::Since`).
    pub waiting_since: Option<Timestamp>,
}

/// The newest message as the inbox shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Preview {
    pub text: String,
    pub sender_type: SenderType,
    pub created_at: Timestamp,
}

impl From<&Conversation> for InboxEntry {
    fn from(c: &Conversation) -> InboxEntry {
        InboxEntry {
            id: c.id,
            phone_number: c.phone_number.clone(),
            contact_name: c.contact_name.clone(),
            status: c.status,
            ai_enabled: c.ai_enabled,
            last_message_at: c.last_message_at,
            created_at: c.created_at,
            last_message: c.last_message.as_ref().map(|m| Preview {
                text: m.text.clone(),
                sender_type: m.sender_type,
                created_at: m.created_at,
            }),
            waiting_since: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: u64,
    pub conversation_id: u64,
    /// 0 for the oldest message of the conversation, `message_count - 1` for the newest.
    pub position: u64,
    pub sender_type: SenderType,
    pub message_text: String,
    pub audio_url: Option<String>,
    pub media_type: MediaType,
    pub context_used: Option<String>,
    pub confidence_score: Option<f64>,
    pub created_at: Timestamp,
    /// The WhatsApp message id (legacy `message_id` column); not part of the API's output.
    pub whatsapp_id: Option<String>,
}

impl Message {
    pub fn summary(&self) -> LastMessage {
        LastMessage {
            id: self.id,
            text: self.message_text.clone(),
            sender_type: self.sender_type,
            created_at: self.created_at,
        }
    }

    /// Chronological order of the contract: `created_at`, then `id`.
    pub fn chronological_key(&self) -> (Timestamp, u64) {
        (self.created_at, self.id)
    }

    /// What `Waiting::after` takes of a message.
    pub fn waiting_key(&self) -> (u64, SenderType, Timestamp) {
        (self.position, self.sender_type, self.created_at)
    }
}

/// Where a message is in its conversation, as far as ordering goes: what a sync compares
/// of the messages already in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    pub id: u64,
    pub position: u64,
    pub created_at: Timestamp,
}

impl Placed {
    /// The contract's order, as `Message::chronological_key`.
    pub fn chronological_key(&self) -> (Timestamp, u64) {
        (self.created_at, self.id)
    }
}

/// How far `convo-admin sync` has brought the table: every legacy message with an id up to
/// Conversations per status and messages, as the tally holds them (or a change to it).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub active: i64,
    pub pending_human: i64,
    pub closed: i64,
    pub messages: i64,
}

impl Tally {
    pub fn total(&self) -> i64 {
        self.active + self.pending_human + self.closed
    }

    /// The count of one status.
    pub fn get(&self, status: Status) -> i64 {
        match status {
            Status::Active => self.active,
            Status::PendingHuman => self.pending_human,
            Status::Closed => self.closed,
        }
    }

    /// The count of one status, to change.
    pub fn of(&mut self, status: Status) -> &mut i64 {
        match status {
            Status::Active => &mut self.active,
            Status::PendingHuman => &mut self.pending_human,
            Status::Closed => &mut self.closed,
        }
    }

    pub fn add(&mut self, other: &Tally) {
        self.active += other.active;
        self.pending_human += other.pending_human;
        self.closed += other.closed;
        self.messages += other.messages;
    }

    pub fn is_zero(&self) -> bool {
        *self == Tally::default()
    }
}

/// `settled_message_id` is applied, and every conversation row changed before
/// `conversations_since` (by the legacy `updated_at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncCheckpoint {
    pub settled_message_id: u64,
    pub conversations_since: Timestamp,
    pub saved_at: Timestamp,
}

/// A phone number as logs and messages show it: its first and last four characters around
/// `•••` (`573001234567` → `5730•••4567`), so that a journal or a terminal never holds a
/// customer's number. At least four characters are always hidden: a shorter number shows
/// fewer at each end (`5550102` → `5•••2`), one of four or fewer none (`•••`).
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    let shown = (chars.len().saturating_sub(4) / 2).min(4);
    let head: String = chars.iter().take(shown).collect();
    let tail: String = chars.iter().skip(chars.len() - shown).collect();
    format!("{head}•••{tail}")
}

/// The time a write is stamped with (`table::stamp`): this machine's clock, to the
/// millisecond. Polls compare stamps with `server_time`s of the functions' clocks
/// (`store::poll` says what skew that tolerates).
pub fn write_stamp() -> Timestamp {
    let now = Timestamp::now();
    Timestamp::from_millisecond(now.as_millisecond()).unwrap_or(now)
}

/// The current time, truncated to whole seconds like every stored timestamp.
pub fn now_seconds() -> Timestamp {
    let now = Timestamp::now();
    Timestamp::from_second(now.as_second()).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_masked_keeping_at_most_four_characters_at_each_end() {
        assert_eq!(mask_phone("573001234567"), "5730•••4567");
        assert_eq!(mask_phone("+573001234567"), "+573•••4567");
        assert_eq!(mask_phone("15551234567"), "155•••567");
        assert_eq!(mask_phone("5550102"), "5•••2");
        assert_eq!(mask_phone("12345"), "•••");
        assert_eq!(mask_phone("1"), "•••");
        assert_eq!(mask_phone(""), "•••");
        // Characters, not bytes.
        assert_eq!(mask_phone("٥٧٣٠٠١٢٣٤٥٦٧"), "٥٧٣٠•••٤٥٦٧");
    }

    #[test]
    fn content_is_compared_without_the_write_stamp() {
        let t = Timestamp::from_second(1_700_000_000).unwrap();
        let c = Conversation {
            id: 1,
            phone_number: "573001112233".into(),
            contact_name: None,
            status: Status::Active,
            ai_enabled: true,
            last_message_at: t,
            created_at: t,
            updated_at: t,
            last_message: None,
            message_count: 0,
            messages_changed: None,
            waiting: Waiting::No,
            stats: None,
        };
        let stamped = Conversation {
            messages_changed: Some(write_stamp()),
            ..c.clone()
        };
        assert!(c.same_content(&stamped) && stamped.same_content(&c));
        assert!(!c.same_content(&Conversation {
            status: Status::Closed,
            ..stamped.clone()
        }));
        assert!(!c.same_content(&Conversation {
            message_count: 1,
            ..stamped.clone()
        }));
        assert!(!c.same_content(&Conversation {
            waiting: Waiting::Unknown,
            ..stamped
        }));
    }

    fn key(position: u64, sender: SenderType, secs: i64) -> (u64, SenderType, Timestamp) {
        (position, sender, Timestamp::from_second(secs).unwrap())
    }

    fn since(secs: i64, from: u64) -> Waiting {
        Waiting::Since {
            at: Timestamp::from_second(secs).unwrap(),
            from,
        }
    }

    #[test]
    fn a_conversation_waits_from_the_first_customer_message_after_the_last_answer() {
        use SenderType::{Ai, Customer, Human};
        let of = |senders: &[SenderType]| {
            Waiting::No.after(
                0,
                0,
                senders
                    .iter()
                    .enumerate()
                    .map(|(i, s)| key(i as u64, *s, 10 * i as i64)),
            )
        };
        assert_eq!(of(&[]), Waiting::No);
        assert_eq!(of(&[Customer]), since(0, 0));
        assert_eq!(of(&[Customer, Customer]), since(0, 0));
        assert_eq!(of(&[Customer, Ai]), Waiting::No);
        assert_eq!(of(&[Customer, Human, Customer, Customer]), since(20, 2));
        // Appends, one message at a time, from the state alone.
        let mut state = Waiting::No;
        for (i, s) in [Customer, Customer, Ai, Customer].into_iter().enumerate() {
            state = state.after(i as u64, i as u64, [key(i as u64, s, 10 * i as i64)]);
        }
        assert_eq!(state, since(30, 3));
        // Nothing written: as it was.
        assert_eq!(since(5, 1).after(4, 4, []), since(5, 1));
        // Unknown stays unknown until an answer settles it.
        assert_eq!(
            Waiting::Unknown.after(4, 4, [key(4, Customer, 1)]),
            Waiting::Unknown
        );
        assert_eq!(
            Waiting::Unknown.after(4, 4, [key(4, Ai, 1), key(5, Customer, 2)]),
            since(2, 5)
        );
    }

    #[test]
    fn a_rewritten_run_is_decided_by_the_answers_it_carries_again() {
        use SenderType::{Ai, Customer};
        // Positions 0..5: C A C C C, waiting since position 2. A late customer message
        // lands at 3, moving 3 and 4 up: the run from 3 on is all customer.
        let before = since(20, 2);
        let run = [key(3, Customer, 25), key(4, Customer, 30), key(5, Customer, 40)];
        assert_eq!(before.after(5, 3, run), since(20, 2));
        // A late answer lands at 3: the wait starts after it.
        let run = [key(3, Ai, 25), key(4, Customer, 30), key(5, Customer, 40)];
        assert_eq!(before.after(5, 3, run), since(30, 4));
        // The run starts where the wait did: position 1 (an answer) is before it.
        assert_eq!(
            before.after(5, 2, [key(2, Customer, 15), key(3, Customer, 20)]),
            since(15, 2)
        );
        // Answered at 4 (C C C C A); a late customer message at 2 moves 2..5 up, the answer
        // among them: still answered.
        let run = [
            key(2, Customer, 5),
            key(3, Customer, 20),
            key(4, Customer, 30),
            key(5, Ai, 40),
        ];
        assert_eq!(Waiting::No.after(5, 2, run), Waiting::No);
        // A late answer at 2 of a conversation waiting since 0: waits from 3.
        let run = [key(2, Ai, 5), key(3, Customer, 20), key(4, Customer, 30)];
        assert_eq!(since(0, 0).after(4, 2, run), since(20, 3));
    }
}
