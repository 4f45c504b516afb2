//! Domain values ⇄ DynamoDB items, mapped by `serde_dynamo`. Attribute names here are
//! the stored schema; keys come from `table`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::model::{Conversation, LastMessage, MediaType, Message, SenderType, Status};
use crate::table;

pub type Item = HashMap<String, AttributeValue>;

// Key attributes are written but not read back (`skip_deserializing`): the domain value
// has them in other fields, and the inbox query returns a hundred items at a time.
#[derive(Debug, Serialize, Deserialize)]
struct ConversationItem {
    #[serde(skip_deserializing)]
    pk: String,
    #[serde(skip_deserializing)]
    sk: String,
    #[serde(skip_deserializing)]
    inbox: String,
    status: Status,
    #[serde(skip_deserializing)]
    activity: String,
    #[serde(skip_deserializing)]
    changed: String,
    id: u64,
    phone_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    contact_name: Option<String>,
    ai_enabled: bool,
    last_message_at: Timestamp,
    created_at: Timestamp,
    /// Absent on items written before it existed: read as the later of the two times.
    #[serde(default)]
    updated_at: Option<Timestamp>,
    message_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_message_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_sender_type: Option<SenderType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_message_created_at: Option<Timestamp>,
}

#[derive(Debug, Serialize, Deserialize)]
struct MessageItem {
    #[serde(skip_deserializing)]
    pk: String,
    #[serde(skip_deserializing)]
    sk: String,
    id: u64,
    conversation_id: u64,
    position: u64,
    sender_type: SenderType,
    message_text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    audio_url: Option<String>,
    media_type: MediaType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    context_used: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    confidence_score: Option<f64>,
    created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    whatsapp_id: Option<String>,
}

/// A conversation as `by_change` projects it (`table::BY_CHANGE_ATTRIBUTES`).
#[derive(Debug, Deserialize)]
struct ChangedItem {
    id: u64,
    last_message_at: Timestamp,
    status: Status,
}

#[derive(Debug, Serialize, Deserialize)]
struct PhoneItem {
    pk: String,
    sk: String,
    phone_number: String,
    conversation_id: u64,
}

fn to_item<T: Serialize>(value: &T, what: &'static str) -> Result<Item, StoreError> {
    // These plain structs always serialise (every field maps to an attribute type); an
    // error is still an error, never a panic on a request path.
    serde_dynamo::to_item(value).map_err(|e| StoreError::BadItem {
        what,
        reason: e.to_string(),
    })
}

fn from_item<'a, T: Deserialize<'a>>(item: Item, what: &'static str) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::BadItem {
        what,
        reason: e.to_string(),
    })
}

pub fn conversation_to_item(c: &Conversation) -> Result<Item, StoreError> {
    let last = c.last_message.as_ref();
    to_item(
        &ConversationItem {
            pk: table::conversation_pk(c.id),
            sk: table::META_SK.to_string(),
            inbox: table::INBOX_ALL.to_string(),
            status: c.status,
            activity: table::activity(c.last_message_at, c.id),
            changed: table::changed(c.updated_at, c.last_message_at, c.id),
            id: c.id,
            phone_number: c.phone_number.clone(),
            contact_name: c.contact_name.clone(),
            ai_enabled: c.ai_enabled,
            last_message_at: c.last_message_at,
            created_at: c.created_at,
            updated_at: Some(c.updated_at),
            message_count: c.message_count,
            last_message_id: last.map(|m| m.id),
            last_message: last.map(|m| m.text.clone()),
            last_sender_type: last.map(|m| m.sender_type),
            last_message_created_at: last.map(|m| m.created_at),
        },
        "conversation",
    )
}

pub fn conversation_from_item(item: Item) -> Result<Conversation, StoreError> {
    let it: ConversationItem = from_item(item, "conversation")?;
    let last_message = match (
        it.last_message_id,
        it.last_message,
        it.last_sender_type,
        it.last_message_created_at,
    ) {
        (Some(id), Some(text), Some(sender_type), Some(created_at)) => Some(LastMessage {
            id,
            text,
            sender_type,
            created_at,
        }),
        _ => None,
    };
    Ok(Conversation {
        id: it.id,
        phone_number: it.phone_number,
        contact_name: it.contact_name,
        status: it.status,
        ai_enabled: it.ai_enabled,
        last_message_at: it.last_message_at,
        created_at: it.created_at,
        updated_at: it
            .updated_at
            .unwrap_or_else(|| it.last_message_at.max(it.created_at)),
        last_message,
        message_count: it.message_count,
    })
}

pub fn message_to_item(m: &Message) -> Result<Item, StoreError> {
    to_item(
        &MessageItem {
            pk: table::conversation_pk(m.conversation_id),
            sk: table::message_sk(m.position),
            id: m.id,
            conversation_id: m.conversation_id,
            position: m.position,
            sender_type: m.sender_type,
            message_text: m.message_text.clone(),
            audio_url: m.audio_url.clone(),
            media_type: m.media_type,
            context_used: m.context_used.clone(),
            confidence_score: m.confidence_score,
            created_at: m.created_at,
            whatsapp_id: m.whatsapp_id.clone(),
        },
        "message",
    )
}

pub fn message_from_item(item: Item) -> Result<Message, StoreError> {
    let it: MessageItem = from_item(item, "message")?;
    Ok(Message {
        id: it.id,
        conversation_id: it.conversation_id,
        position: it.position,
        sender_type: it.sender_type,
        message_text: it.message_text,
        audio_url: it.audio_url,
        media_type: it.media_type,
        context_used: it.context_used,
        confidence_score: it.confidence_score,
        created_at: it.created_at,
        whatsapp_id: it.whatsapp_id,
    })
}

/// A conversation of the `by_change` index: what a poll answers.
pub fn changed_from_item(item: Item) -> Result<crate::store::ChangedConversation, StoreError> {
    let it: ChangedItem = from_item(item, "changed conversation")?;
    Ok(crate::store::ChangedConversation {
        id: it.id,
        last_message_at: it.last_message_at,
        status: it.status,
    })
}

/// The item that makes a phone number unique: created with the conversation under a
/// `attribute_not_exists` condition.
pub fn phone_item(phone_number: &str, conversation_id: u64) -> Result<Item, StoreError> {
    to_item(
        &PhoneItem {
            pk: table::phone_pk(phone_number),
            sk: table::PHONE_SK.to_string(),
            phone_number: phone_number.to_string(),
            conversation_id,
        },
        "phone claim",
    )
}

/// The phone number of a phone claim and the conversation that owns it.
pub fn phone_owner(item: Item) -> Result<(String, u64), StoreError> {
    let it: PhoneItem = from_item(item, "phone claim")?;
    Ok((it.phone_number, it.conversation_id))
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

pub fn is_conversation(item: &Item) -> bool {
    matches!(item.get(table::SK), Some(AttributeValue::S(sk)) if sk == table::META_SK)
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
        };
        let item = conversation_to_item(&c).unwrap();
        assert_eq!(item["pk"], s("C#7"));
        assert_eq!(item["status"], s("pending_human"));
        assert_eq!(item["activity"], s("2024-01-15T14:30:25Z#0000000000000007"));
        assert_eq!(item["changed"], s("2024-01-15T14:31:00Z#0000000000000007"));
        assert!(!item.contains_key("contact_name"));
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
        let item = message_to_item(&m).unwrap();
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
        assert!(size(&message_to_item(&long).unwrap()) > 400 * 1024);
    }
}
