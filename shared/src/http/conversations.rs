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
use crate::view::ConversationView;

#[derive(Serialize)]
struct Body<'a> {
    success: bool,
    conversations: Vec<ConversationView<'a>>,
    next_cursor: Option<String>,
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
    Ok((response::json(StatusCode::OK, &body), Some(page.cost)))
}
