//! `GET /api/conversations`: the inbox, newest activity first.

use aws_lambda_events::http::StatusCode;

use super::request::Request;

use super::params::{self, Params};
use super::response::{self, ApiError};
use super::{App, Failure, Handled, store_failure};
use crate::config::MAX_CONVERSATIONS_LIMIT;
use crate::cursor::ListCursor;
use crate::model::Status;
use crate::store::ListQuery;
use crate::string_json::{StringJson, WriteJson, object};
use crate::view::ConversationView;

/// Written by hand (`WriteJson`), as its views are.
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

/// What a request asks of the inbox.
enum Ask {
    Page(ListQuery),
    /// `?phone=`: the conversation with that number, when it has the status asked for.
    Phone {
        phone: String,
        status: Option<Status>,
    },
}

fn ask(app: &App, req: &Request) -> Result<Ask, ApiError> {
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
    let cursor = p.last("cursor").filter(|c| !c.is_empty());
    let waiting = match p.last("waiting") {
        None | Some("") => false,
        Some("customer") => true,
        Some(_) => {
            return Err(ApiError::invalid(
                "waiting must be customer (the conversations whose newest message is the customer's), or empty",
            ));
        }
    };
    if let Some(phone) = p.last("phone") {
        let phone = params::phone(phone)?;
        if cursor.is_some() {
            return Err(ApiError::invalid(
                "cursor does not go with phone: a phone number has one conversation at most",
            ));
        }
        if waiting {
            return Err(ApiError::invalid(
                "waiting does not go with phone: ask for the conversation, its newest message says whether it waits",
            ));
        }
        return Ok(Ask::Phone { phone, status });
    }
    let after = match cursor {
        None => None,
        Some(c) => Some(ListCursor::decode(status, waiting, c).map_err(|_| {
            ApiError::invalid(
                "cursor must be the next_cursor of a previous response with the same status and waiting",
            )
        })?),
    };
    Ok(Ask::Page(ListQuery {
        status,
        waiting,
        limit,
        after,
    }))
}

pub(super) async fn handle(app: &App, req: &Request) -> Result<Handled, Failure> {
    let show = &app.config.presentation;
    let (body, cost) = match ask(app, req).map_err(|e| (e, None))? {
        Ask::Page(q) => {
            let page = app.store.list_conversations(q).await.map_err(store_failure)?;
            let body = Body {
                success: true,
                conversations: page.conversations.iter().map(|c| show.conversation(c)).collect(),
                next_cursor: page.next.map(|c| c.encode(q.status, q.waiting)),
            };
            (response::written(StatusCode::OK, &body), page.cost)
        }
        Ask::Phone { phone, status } => {
            let (found, cost) = app
                .store
                .conversation_by_phone(&phone)
                .await
                .map_err(store_failure)?;
            let found: Vec<_> = found
                .into_iter()
                .filter(|c| status.is_none_or(|s| c.status == s))
                .collect();
            let body = Body {
                success: true,
                conversations: found.iter().map(|c| show.conversation(c)).collect(),
                next_cursor: None,
            };
            (response::written(StatusCode::OK, &body), cost)
        }
    };
    Ok((body, Some(cost)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{InboxEntry, Preview, SenderType};
    use crate::view::{Presentation, contract_example, written};

    #[test]
    fn the_body_is_the_contracts_example() {
        let entry = crate::view::tests::conversation();
        let body = Body {
            success: true,
            conversations: vec![Presentation::default().conversation(&entry)],
            next_cursor: None,
        };
        assert_eq!(written(&body).1, contract_example("## GET conversations\n"));
    }

    #[test]
    fn texts_read_back_as_they_were_and_the_room_holds_the_body() {
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
            waiting_since: None,
        };
        let waiting = InboxEntry {
            waiting_since: Some(jiff::Timestamp::from_second(1_705_329_025).unwrap()),
            ..entry.clone()
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
            (vec![waiting], None),
        ] {
            let body = Body {
                success: true,
                conversations: entries.iter().map(|c| show.conversation(c)).collect(),
                next_cursor: next_cursor.clone(),
            };
            let (sent, text) = written(&body);
            let read: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(read["next_cursor"].as_str(), next_cursor.as_deref());
            let read = read["conversations"].as_array().unwrap();
            assert_eq!(read.len(), entries.len());
            for (read, entry) in read.iter().zip(&entries) {
                assert_eq!(read["id"], entry.id);
                assert_eq!(read["contact_name"].as_str(), entry.contact_name.as_deref());
                let last = entry.last_message.as_ref().map(|m| m.text.as_str());
                assert_eq!(read["last_message"].as_str(), last);
            }
            assert!(body.room() + 2 >= sent.len(), "{} < {}", body.room(), sent.len());
        }
    }
}
