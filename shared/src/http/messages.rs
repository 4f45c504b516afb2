//! `GET /api/conversations/{id}/messages`: one conversation's history, paged.

use aws_lambda_events::http::StatusCode;

use super::request::Request;
use serde::Serialize;

use super::params::{self, Params};
use super::response::{self, ApiError};
use super::{App, Failure, Handled, store_failure};
use crate::cursor::BeforeCursor;
use crate::model::now_seconds;
use crate::view::{MessageView, ShownTime};

/// The legacy endpoint's maximum (and default) page size.
const MAX_LIMIT: u32 = 20;

#[derive(Serialize)]
struct Body<'a> {
    success: bool,
    messages: Vec<MessageView<'a>>,
    has_more: bool,
    total: u64,
    server_time: ShownTime,
    before_cursor: Option<String>,
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
    let page = match q.page {
        Page::Offset(offset) => app.store.message_page(q.id, offset, q.limit).await,
        Page::Before(cursor) => app.store.messages_before(q.id, cursor, q.limit).await,
    }
    .map_err(store_failure)?;
    let show = &app.config.presentation;
    let body = Body {
        success: true,
        messages: page.messages.iter().map(|m| show.message(m)).collect(),
        has_more: page.has_more,
        total: page.total,
        server_time: show.time(now_seconds()),
        before_cursor: page.before.map(|c| c.encode(q.id)),
    };
    Ok((response::json(StatusCode::OK, &body), Some(page.cost)))
}
