//! `GET /api/conversations/{id}/messages`: one conversation's history, paged.

use aws_lambda_events::http::StatusCode;

use super::request::Request;

use super::params::{self, Params};
use super::response::{self, ApiError};
use super::{App, Failure, Handled, store_failure};
use crate::cursor::BeforeCursor;
use crate::model::now_seconds;
use crate::string_json::{StringJson, WriteJson, object};
use crate::view::{MessageView, ShownTime};

/// The legacy endpoint's maximum (and default) page size.
const MAX_LIMIT: u32 = 20;

/// Written by hand (`WriteJson`), as its views are.
struct Body<'a> {
    success: bool,
    messages: Vec<MessageView<'a>>,
    has_more: bool,
    total: u64,
    server_time: ShownTime,
    before_cursor: Option<String>,
}

impl WriteJson for Body<'_> {
    fn write_json(&self, out: &mut StringJson) {
        object!(
            out,
            "success" => &self.success,
            "messages" => &self.messages,
            "has_more" => &self.has_more,
            "total" => &self.total,
            "server_time" => &self.server_time,
            "before_cursor" => &self.before_cursor,
        );
    }

    fn room(&self) -> usize {
        160 + self.messages.room() + self.before_cursor.room()
    }
}

enum Page {
    Offset(u64),
    Before(BeforeCursor),
}

struct Query {
    id: u64,
    limit: u32,
    page: Page,
}

fn query(req: &Request) -> Result<Query, ApiError> {
    let p = Params::new(req);
    // The path id wins; a malformed path id is a 400 whatever `?id=` says.
    let id = match params::path_id(req) {
        Some(path_id) => params::conversation_id(&path_id, "the id in the path")?,
        None => match p.last("id") {
            Some(q) => params::conversation_id(q, "id")?,
            None => {
                return Err(ApiError::invalid(
                    "id is required: use /api/conversations/{id}/messages or ?id={id}",
                ));
            }
        },
    };
    let offset = params::offset(p.last("offset"))?;
    let limit = params::limit(p.last("limit"), MAX_LIMIT, MAX_LIMIT)?;
    let page = match p.last("before") {
        None | Some("") => Page::Offset(offset),
        Some(_) if offset != 0 => {
            return Err(ApiError::invalid(
                "before cannot be combined with a non-zero offset",
            ));
        }
        Some(c) => Page::Before(
            BeforeCursor::decode(id, c).map_err(|_| ApiError::invalid(response::BAD_BEFORE_CURSOR))?,
        ),
    };
    Ok(Query { id, limit, page })
}

pub(super) async fn handle(app: &App, req: &Request) -> Result<Handled, Failure> {
    let q = query(req).map_err(|e| (e, None))?;
    let show = &app.config.presentation;
    // Before DynamoDB is read, as the polls take theirs: the page sends it back as its next
    // `last_check`, so whatever is written after it must be reported by the next poll.
    let server_time = show.time(now_seconds());
    let page = match q.page {
        Page::Offset(offset) => app.store.message_page(q.id, offset, q.limit).await,
        Page::Before(cursor) => app.store.messages_before(q.id, cursor, q.limit).await,
    }
    .map_err(store_failure)?;
    let body = Body {
        success: true,
        messages: page.messages.iter().map(|m| show.message(m)).collect(),
        has_more: page.has_more,
        total: page.total,
        server_time,
        before_cursor: page.before.map(|c| c.encode(q.id)),
    };
    Ok((response::written(StatusCode::OK, &body), Some(page.cost)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MediaType, Message, SenderType};
    use crate::view::{Presentation, contract_example, written};

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_body_is_the_contracts_example() {
        let message = Message {
            id: 45,
            conversation_id: 1,
            position: 0,
            sender_type: SenderType::Customer,
            message_text: "Hello, I have a question about my order".into(),
            audio_url: None,
            media_type: MediaType::Text,
            context_used: None,
            confidence_score: None,
            created_at: ts("2024-01-15T10:30:00Z"),
            whatsapp_id: None,
        };
        let show = Presentation::default();
        let body = Body {
            success: true,
            messages: vec![show.message(&message)],
            has_more: false,
            total: 3,
            server_time: show.time(ts("2024-01-15T14:45:30Z")),
            before_cursor: None,
        };
        assert_eq!(written(&body).1, contract_example("## GET messages\n"));
    }

    #[test]
    fn texts_read_back_as_they_were_and_the_room_holds_the_body() {
        let message = Message {
            id: 46,
            conversation_id: 1,
            position: 1,
            sender_type: SenderType::Ai,
            message_text: "Claro: \"envío\" en 2–3 días\r\n\u{1}".into(),
            audio_url: Some("/uploads/audio/a.ogg".into()),
            media_type: MediaType::Audio,
            context_used: Some("Shipping policy\\FAQ".into()),
            confidence_score: Some(0.87),
            created_at: jiff::Timestamp::from_second(1_705_332_605).unwrap(),
            whatsapp_id: None,
        };
        let bare = Message {
            audio_url: None,
            context_used: None,
            confidence_score: None,
            ..message.clone()
        };
        let show = Presentation::default();
        for (messages, before_cursor) in [
            (vec![], None),
            (vec![message.clone()], None),
            (vec![message, bare], Some("eyJwIjoxfQ".to_string())),
        ] {
            let body = Body {
                success: true,
                messages: messages.iter().map(|m| show.message(m)).collect(),
                has_more: before_cursor.is_some(),
                total: 1_234,
                server_time: show.time(now_seconds()),
                before_cursor: before_cursor.clone(),
            };
            let (sent, text) = written(&body);
            let read: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(read["before_cursor"].as_str(), before_cursor.as_deref());
            assert_eq!(read["total"], 1_234);
            let read = read["messages"].as_array().unwrap();
            assert_eq!(read.len(), messages.len());
            for (read, message) in read.iter().zip(&messages) {
                assert_eq!(read["message_text"], message.message_text);
                assert_eq!(read["audio_url"].as_str(), message.audio_url.as_deref());
                assert_eq!(read["context_used"].as_str(), message.context_used.as_deref());
                assert_eq!(read["confidence_score"].as_f64(), message.confidence_score);
            }
            assert!(body.room() + 2 >= sent.len(), "{} < {}", body.room(), sent.len());
        }
    }
}
