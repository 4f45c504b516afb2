//! `GET /api/conversations`: the inbox, newest activity first.

use aws_lambda_events::http::StatusCode;

use super::request::Request;
use serde::Serialize;

use super::params::{self, Params};
use super::response::{self, ApiError};
use super::{App, Failure, Handled, store_failure};
use crate::config::MAX_CONVERSATIONS_LIMIT;
use crate::cursor::ListCursor;
use crate::model::Status;
use crate::store::ListQuery;
use crate::string_json::{StringJson, WriteJson, object};
use crate::view::ConversationView;

/// Served written by hand (`WriteJson`); the serde form is what the tests hold it to.
#[derive(Serialize)]
struct Body<'a> {
    success: bool,
    conversations: Vec<ConversationView<'a>>,
    next_cursor: Option<String>,
}

impl WriteJson for Body<'_> {
    fn write_json(&self, out: &mut StringJson) {
        object!(
            out,
            "success" => &self.success,
            "conversations" => &self.conversations,
            "next_cursor" => &self.next_cursor,
        );
    }

    fn room(&self) -> usize {
        64 + self.conversations.room() + self.next_cursor.room()
    }
}

fn query(app: &App, req: &Request) -> Result<ListQuery, ApiError> {
    let p = Params::new(req);
    let status = match p.last("status") {
        None | Some("") => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            ApiError::invalid("status must be active, pending_human or closed (or empty for all)")
        })?),
    };
    let limit = params::limit(
        p.last("limit"),
        app.config.conversations_limit,
        MAX_CONVERSATIONS_LIMIT,
    )?;
    let after = match p.last("cursor") {
        None | Some("") => None,
        Some(c) => Some(ListCursor::decode(status, c).map_err(|_| {
            ApiError::invalid("cursor must be the next_cursor of a previous response with the same status")
        })?),
    };
    Ok(ListQuery { status, limit, after })
}

pub(super) async fn handle(app: &App, req: &Request) -> Result<Handled, Failure> {
    let q = query(app, req).map_err(|e| (e, None))?;
    let page = app.store.list_conversations(q).await.map_err(store_failure)?;
    let show = &app.config.presentation;
    let body = Body {
        success: true,
        conversations: page.conversations.iter().map(|c| show.conversation(c)).collect(),
        next_cursor: page.next.map(|c| c.encode(q.status)),
    };
    Ok((response::written(StatusCode::OK, &body), Some(page.cost)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{InboxEntry, Preview, SenderType};
    use crate::view::{Presentation, written_as_serde};

    #[test]
    fn the_body_is_written_as_serde_json_writes_it() {
        let entry = InboxEntry {
            id: 3,
            phone_number: "573001112233".into(),
            contact_name: Some("Ana \"la\" de\nBogotá".into()),
            status: Status::PendingHuman,
            ai_enabled: true,
            last_message_at: jiff::Timestamp::from_second(1_705_329_025).unwrap(),
            created_at: jiff::Timestamp::from_second(1_704_877_200).unwrap(),
            last_message: Some(Preview {
                text: "hola 👋\t</script>".into(),
                sender_type: SenderType::Customer,
                created_at: jiff::Timestamp::from_second(1_705_329_025).unwrap(),
            }),
        };
        let bare = InboxEntry {
            contact_name: None,
            last_message: None,
            ..entry.clone()
        };
        let show = Presentation::default();
        for (entries, next_cursor) in [
            (vec![], None),
            (vec![entry.clone()], None),
            (vec![entry, bare], Some("eyJ0IjoxfQ".to_string())),
        ] {
            let body = Body {
                success: true,
                conversations: entries.iter().map(|c| show.conversation(c)).collect(),
                next_cursor,
            };
            let written = written_as_serde(&body);
            assert!(
                body.room() + 2 >= written.len(),
                "{} < {}",
                body.room(),
                written.len()
            );
        }
    }
}
