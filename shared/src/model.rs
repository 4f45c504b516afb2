//! Domain types. Timestamps are held in UTC (`jiff::Timestamp`, whole seconds as the
//! legacy MySQL `TIMESTAMP` columns); they are turned into the contract's local-time
//! strings only when a response is rendered (`crate::view`).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The largest id the API accepts: ids travel as JSON numbers, which stay exact up to 2^53 - 1.
pub const MAX_ID: u64 = (1 << 53) - 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    PendingHuman,
    Closed,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Active, Status::PendingHuman, Status::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::PendingHuman => "pending_human",
            Status::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// Who sent a message. Stored under the API's names (`customer`, `ai`, `human`); the
/// legacy database's `user` and `bot` are mapped on import and, when configured, on output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderType {
    Customer,
    Ai,
    Human,
}

impl SenderType {
    pub const ALL: [SenderType; 3] = [SenderType::Customer, SenderType::Ai, SenderType::Human];

    pub fn as_str(self) -> &'static str {
        match self {
            SenderType::Customer => "customer",
            SenderType::Ai => "ai",
            SenderType::Human => "human",
        }
    }

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
        match s {
            "customer" | "user" => Some(SenderType::Customer),
            "ai" | "bot" => Some(SenderType::Ai),
            "human" => Some(SenderType::Human),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaType {
    Text,
    Audio,
    Image,
    Video,
    Document,
}

impl MediaType {
    pub const ALL: [MediaType; 5] = [
        MediaType::Text,
        MediaType::Audio,
        MediaType::Image,
        MediaType::Video,
        MediaType::Document,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Text => "text",
            MediaType::Audio => "audio",
            MediaType::Image => "image",
            MediaType::Video => "video",
            MediaType::Document => "document",
        }
    }

    pub fn parse(s: &str) -> Option<MediaType> {
        MediaType::ALL.into_iter().find(|m| m.as_str() == s)
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
}

/// What a caller supplies to create a conversation; the store assigns the id.
#[derive(Debug, Clone)]
pub struct NewConversation {
    pub phone_number: String,
    pub contact_name: Option<String>,
    pub status: Status,
    pub ai_enabled: bool,
}

impl NewConversation {
    /// A new active conversation with AI answers on and no contact name yet: what the
    /// WhatsApp webhook creates on a first message.
    pub fn active(phone_number: impl Into<String>) -> NewConversation {
        NewConversation {
            phone_number: phone_number.into(),
            contact_name: None,
            status: Status::Active,
            ai_enabled: true,
        }
    }
}

/// What a caller supplies to append a message; the store assigns id and position.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub sender_type: SenderType,
    pub message_text: String,
    pub audio_url: Option<String>,
    pub media_type: MediaType,
    pub context_used: Option<String>,
    pub confidence_score: Option<f64>,
    pub whatsapp_id: Option<String>,
    /// When the message was sent; `None` means now. A time older than the conversation's
    /// newest message is raised to it, so positions always follow the chronological order.
    pub created_at: Option<Timestamp>,
}

impl NewMessage {
    pub fn text(sender_type: SenderType, text: impl Into<String>) -> NewMessage {
        NewMessage {
            sender_type,
            message_text: text.into(),
            audio_url: None,
            media_type: MediaType::Text,
            context_used: None,
            confidence_score: None,
            whatsapp_id: None,
            created_at: None,
        }
    }
}

/// The current time, truncated to whole seconds like every stored timestamp.
pub fn now_seconds() -> Timestamp {
    let now = Timestamp::now();
    Timestamp::from_second(now.as_second()).unwrap_or(now)
}
