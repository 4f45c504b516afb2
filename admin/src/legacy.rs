//! Rows of the legacy MySQL tables and their ONE mapping into domain values. Every
//! source of legacy rows (JSON Lines, mysqldump) produces these rows and goes through
//! `map_conversation` / `map_message`, so sender types, time zones and validation are the
//! same whatever the source.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use serde::Deserialize;

use shared::model::{Conversation, MAX_ID, MediaType, Message, SenderType, Status};

/// A value as a legacy export may spell it: JSON exports of PHP/MySQL rows often quote
/// numbers ("7") and write booleans as 0/1.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

/// A row type of a legacy table: one `Option<Scalar>` per column, named as the column,
/// listed in the legacy schema's order (docs/api-contract.md, "Legacy data (for import)"),
/// which is the one place the column names are spelled. Rows deserialize from JSON Lines
/// (absent columns are `None`, others ignored) and build from a dump's (column, value)
/// pairs; `COLUMNS` is the order of an INSERT without a column list.
macro_rules! legacy_row {
    ($(#[$doc:meta])* $name:ident { $($column:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, Deserialize)]
        pub struct $name {
            $(pub $column: Option<Scalar>,)+
        }

        impl $name {
            /// The table's columns in the legacy schema's order.
            pub const COLUMNS: &'static [&'static str] = &[$(stringify!($column)),+];

            /// A row from (column, value) pairs, as an SQL dump gives them; other columns ignored.
            pub fn from_columns<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<Scalar>)>) -> Self {
                let mut row = $name::default();
                for (column, value) in pairs {
                    let slot = match column {
                        $(stringify!($column) => &mut row.$column,)+
                        _ => continue,
                    };
                    *slot = value;
                }
                row
            }
        }
    };
}

legacy_row! {
    /// One row of the legacy `conversations` table. `updated_at` (`ON UPDATE
    /// CURRENT_TIMESTAMP`) is the last change of the row; older exports may lack it.
    /// `last_bot_message_at` is read but not imported.
    ConversationRow {
        id,
        phone_number,
        contact_name,
        status,
        ai_enabled,
        last_message_at,
        last_bot_message_at,
        created_at,
        updated_at,
    }
}

legacy_row! {
    /// One row of the legacy `messages` table.
    MessageRow {
        id,
        conversation_id,
        message_id,
        sender_type,
        message_text,
        audio_url,
        media_type,
        context_used,
        confidence_score,
        created_at,
    }
}

/// Why a row cannot be imported; shown with the file and line it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{column}: {reason}")]
pub struct RowError {
    pub column: &'static str,
    pub reason: String,
}

fn err(column: &'static str, reason: impl Into<String>) -> RowError {
    RowError {
        column,
        reason: reason.into(),
    }
}

fn required<'a>(column: &'static str, v: &'a Option<Scalar>) -> Result<&'a Scalar, RowError> {
    v.as_ref().ok_or_else(|| err(column, "is missing or NULL"))
}

fn id(column: &'static str, v: &Option<Scalar>) -> Result<u64, RowError> {
    let n = match required(column, v)? {
        Scalar::Int(i) => u64::try_from(*i).ok(),
        Scalar::Text(t) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => t.parse().ok(),
        _ => None,
    };
    n.filter(|n| (1..=MAX_ID).contains(n)).ok_or_else(|| {
        err(
            column,
            format!("must be an integer from 1 to {MAX_ID}, got {}", show(v)),
        )
    })
}

fn text(column: &'static str, v: &Option<Scalar>) -> Result<String, RowError> {
    match required(column, v)? {
        Scalar::Text(t) => Ok(t.clone()),
        Scalar::Int(i) => Ok(i.to_string()),
        other => Err(err(
            column,
            format!("must be text, got {}", show(&Some(other.clone()))),
        )),
    }
}

fn optional_text(column: &'static str, v: &Option<Scalar>) -> Result<Option<String>, RowError> {
    match v {
        None => Ok(None),
        Some(_) => text(column, v).map(Some),
    }
}

fn flag(column: &'static str, v: &Option<Scalar>) -> Result<bool, RowError> {
    match required(column, v)? {
        Scalar::Bool(b) => Ok(*b),
        Scalar::Int(0) => Ok(false),
        Scalar::Int(1) => Ok(true),
        Scalar::Text(t) if t == "0" || t == "false" => Ok(false),
        Scalar::Text(t) if t == "1" || t == "true" => Ok(true),
        _ => Err(err(
            column,
            format!("must be 0, 1, true or false, got {}", show(v)),
        )),
    }
}

fn show(v: &Option<Scalar>) -> String {
    match v {
        None => "NULL".into(),
        Some(Scalar::Bool(b)) => b.to_string(),
        Some(Scalar::Int(i)) => i.to_string(),
        Some(Scalar::Float(f)) => f.to_string(),
        Some(Scalar::Text(t)) => {
            let short: String = t.chars().take(40).collect();
            format!("{short:?}")
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS` in the source zone → UTC.
pub fn timestamp(column: &'static str, v: &Option<Scalar>, zone: &TimeZone) -> Result<Timestamp, RowError> {
    let Scalar::Text(t) = required(column, v)? else {
        return Err(err(
            column,
            format!("must be a 'YYYY-MM-DD HH:MM:SS' string, got {}", show(v)),
        ));
    };
    let civil = DateTime::strptime("%Y-%m-%d %H:%M:%S", t)
        .map_err(|_| err(column, format!("must be 'YYYY-MM-DD HH:MM:SS', got {}", show(v))))?;
    civil
        .to_zoned(zone.clone())
        .map(|z| z.timestamp())
        .map_err(|e| err(column, format!("{t:?} is not a time in the source zone: {e}")))
}

/// A legacy conversation row as a conversation without messages (the import plan adds
/// the count and the summary of the newest message).
pub fn map_conversation(row: &ConversationRow, zone: &TimeZone) -> Result<Conversation, RowError> {
    let status = text("status", &row.status)?;
    let status = Status::parse(&status).ok_or_else(|| {
        err(
            "status",
            format!("must be active, pending_human or closed, got {status:?}"),
        )
    })?;
    let phone_number = text("phone_number", &row.phone_number)?;
    if phone_number.is_empty() {
        return Err(err("phone_number", "is empty"));
    }
    let last_message_at = timestamp("last_message_at", &row.last_message_at, zone)?;
    let created_at = timestamp("created_at", &row.created_at, zone)?;
    // A row without the column (an older export, or NULL) changed last when it was last
    // written to: its newest message or its creation.
    let updated_at = match &row.updated_at {
        None => last_message_at.max(created_at),
        Some(_) => timestamp("updated_at", &row.updated_at, zone)?,
    };
    Ok(Conversation {
        id: id("id", &row.id)?,
        phone_number,
        contact_name: optional_text("contact_name", &row.contact_name)?,
        status,
        ai_enabled: flag("ai_enabled", &row.ai_enabled)?,
        last_message_at,
        created_at,
        updated_at,
        last_message: None,
        message_count: 0,
        messages_changed: None,
        // Worked out from the messages by the import plan or the sync.
        waiting: shared::model::Waiting::Unknown,
        stats: None,
    })
}

/// A legacy message row as a message; its position is set by the import plan.
pub fn map_message(row: &MessageRow, zone: &TimeZone) -> Result<Message, RowError> {
    let sender = text("sender_type", &row.sender_type)?;
    let sender_type = SenderType::parse_any(&sender).ok_or_else(|| {
        err(
            "sender_type",
            format!("must be user, bot, human (or customer, ai), got {sender:?}"),
        )
    })?;
    let media = text("media_type", &row.media_type)?;
    let media_type = MediaType::parse(&media).ok_or_else(|| {
        err(
            "media_type",
            format!("must be text, audio, image, video or document, got {media:?}"),
        )
    })?;
    let confidence_score = match &row.confidence_score {
        None => None,
        Some(Scalar::Int(i)) => Some(*i as f64),
        Some(Scalar::Float(f)) => Some(*f),
        Some(Scalar::Text(t)) => Some(
            t.parse::<f64>()
                .map_err(|_| err("confidence_score", format!("must be a number, got {t:?}")))?,
        ),
        Some(Scalar::Bool(_)) => return Err(err("confidence_score", "must be a number")),
    };
    if let Some(c) = confidence_score
        && !(0.0..=1.0).contains(&c)
    {
        return Err(err(
            "confidence_score",
            format!("must be between 0 and 1, got {c}"),
        ));
    }
    Ok(Message {
        id: id("id", &row.id)?,
        conversation_id: id("conversation_id", &row.conversation_id)?,
        position: 0,
        sender_type,
        message_text: text("message_text", &row.message_text)?,
        audio_url: optional_text("audio_url", &row.audio_url)?,
        media_type,
        context_used: optional_text("context_used", &row.context_used)?,
        confidence_score,
        created_at: timestamp("created_at", &row.created_at, zone)?,
        whatsapp_id: optional_text("message_id", &row.message_id)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conversation_row(v: serde_json::Value) -> ConversationRow {
        serde_json::from_value(v).unwrap()
    }

    fn message_row(v: serde_json::Value) -> MessageRow {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn conversation_times_are_read_in_the_source_zone() {
        let row = conversation_row(json!({
            "id": "7", "phone_number": "573001112233", "contact_name": null, "status": "pending_human",
            "ai_enabled": 0, "last_message_at": "2024-01-15 09:30:25", "created_at": "2024-01-10 09:00:00",
            "last_bot_message_at": null, "updated_at": "2024-01-15 09:30:25"
        }));
        let c = map_conversation(&row, &TimeZone::get("America/Bogota").unwrap()).unwrap();
        assert_eq!(c.id, 7);
        assert_eq!(c.contact_name, None);
        assert!(!c.ai_enabled);
        assert_eq!(c.status, Status::PendingHuman);
        assert_eq!(c.last_message_at.to_string(), "2024-01-15T14:30:25Z");
    }

    #[test]
    fn ai_enabled_accepts_numbers_and_booleans() {
        for (v, expected) in [
            (json!(1), true),
            (json!(true), true),
            (json!("0"), false),
            (json!(false), false),
        ] {
            let row = conversation_row(json!({
                "id": 1, "phone_number": "1", "status": "active", "ai_enabled": v,
                "last_message_at": "2024-01-15 09:30:25", "created_at": "2024-01-10 09:00:00"
            }));
            assert_eq!(
                map_conversation(&row, &TimeZone::UTC).unwrap().ai_enabled,
                expected
            );
        }
        let row = conversation_row(json!({
            "id": 1, "phone_number": "1", "status": "active", "ai_enabled": 2,
            "last_message_at": "2024-01-15 09:30:25", "created_at": "2024-01-10 09:00:00"
        }));
        assert_eq!(
            map_conversation(&row, &TimeZone::UTC).unwrap_err().column,
            "ai_enabled"
        );
    }

    #[test]
    fn legacy_sender_types_are_mapped() {
        for (legacy, expected) in [
            ("user", SenderType::Customer),
            ("bot", SenderType::Ai),
            ("human", SenderType::Human),
            ("customer", SenderType::Customer),
            ("ai", SenderType::Ai),
        ] {
            let row = message_row(json!({
                "id": 1, "conversation_id": 2, "sender_type": legacy, "message_text": "hola",
                "media_type": "text", "created_at": "2024-01-15 09:30:25", "confidence_score": "0.92"
            }));
            let m = map_message(&row, &TimeZone::UTC).unwrap();
            assert_eq!(m.sender_type, expected);
            assert_eq!(m.confidence_score, Some(0.92));
        }
    }

    #[test]
    fn bad_values_name_their_column() {
        let cases = [
            (json!({"id": 0}), "id"),
            (json!({"id": -3}), "id"),
            (json!({"id": "12a"}), "id"),
            (json!({"sender_type": "robot"}), "sender_type"),
            (json!({"media_type": "gif"}), "media_type"),
            (json!({"created_at": "2024-01-15T09:30:25"}), "created_at"),
            (json!({"created_at": "0000-00-00 00:00:00"}), "created_at"),
            (json!({"message_text": null}), "message_text"),
            (json!({"confidence_score": 1.5}), "confidence_score"),
        ];
        for (patch, column) in cases {
            let mut v = json!({
                "id": 1, "conversation_id": 2, "sender_type": "user", "message_text": "hola",
                "media_type": "text", "created_at": "2024-01-15 09:30:25"
            });
            for (k, val) in patch.as_object().unwrap() {
                v[k] = val.clone();
            }
            let e = map_message(&message_row(v), &TimeZone::UTC).unwrap_err();
            assert_eq!(e.column, column, "{e}");
        }
    }
}
