//! The original dashboard's live updates (`api/check-updates.php`,
//! `api/check-conversation-updates.php` of the legacy PHP): "what became readable after
//! `last_check`?" (`store::poll`: by when it was written, not by its legacy times), each at
//! the cost of what it answers.

use aws_lambda_events::http::StatusCode;

use super::request::Request;
use serde::Serialize;

use super::params::{self, Params};
use super::response::{self, ApiError};
use super::{App, Failure, Handled, store_failure};
use crate::model::now_seconds;
use crate::store::ReadCost;
use crate::view::{Presentation, ShownTime};

/// Most conversations an inbox-wide poll lists: for a `last_check` long ago (a laptop
/// woken from sleep) the answer stays one small read, the most recently changed first, and
/// `has_updates` is true; the dashboard then reloads the whole inbox anyway.
pub const POLL_LIMIT: usize = 100;

#[derive(Serialize)]
struct Baseline {
    success: bool,
    has_update: bool,
    has_updates: bool,
    server_time: ShownTime,
}

#[derive(Serialize)]
struct OneConversation<'a> {
    success: bool,
    has_update: bool,
    /// Echoed as the client sent it, as PHP did.
    conversation_id: &'a str,
    server_time: ShownTime,
}

#[derive(Serialize)]
struct Inbox<T> {
    success: bool,
    has_updates: bool,
    updated_conversations: Vec<T>,
    server_time: ShownTime,
}

#[derive(Serialize)]
struct ChangedView {
    id: u64,
    last_message_at: ShownTime,
    status: &'static str,
}

/// `server_time` is taken before DynamoDB is read: whatever is written after it is
/// reported by the next poll, which sends it back as its `last_check`.
fn server_time(show: &Presentation) -> ShownTime {
    show.time(now_seconds())
}

/// `last_check`, absent or empty as `None`.
fn last_check(app: &App, p: &Params<'_>) -> Result<Option<jiff::Timestamp>, ApiError> {
    match p.last("last_check") {
        None | Some("") => Ok(None),
        Some(v) => params::last_check(v, &app.config.presentation.time_zone).map(Some),
    }
}

fn ok(body: &impl Serialize, cost: Option<ReadCost>) -> Handled {
    (response::json(StatusCode::OK, body), cost)
}

/// `GET /api/check-updates.php`: without `last_check`, only `server_time` (the page's
/// baseline); with `conversation_id`, whether that conversation has new messages; else
/// which conversations changed.
pub(super) async fn check_updates(app: &App, req: &Request) -> Result<Handled, Failure> {
    let p = Params::new(req);
    let show = &app.config.presentation;
    let since = last_check(app, &p).map_err(|e| (e, None))?;
    let conversation = match p.last("conversation_id") {
        None | Some("") => None,
        Some(raw) => Some((
            raw,
            params::conversation_id(raw, "conversation_id").map_err(|e| (e, None))?,
        )),
    };
    let server_time = server_time(show);
    let Some(since) = since else {
        let body = Baseline {
            success: true,
            has_update: false,
            has_updates: false,
            server_time,
        };
        return Ok(ok(&body, None));
    };
    match conversation {
        Some((raw, id)) => {
            let (has_update, cost) = app
                .store
                .has_message_after(id, since)
                .await
                .map_err(store_failure)?;
            let body = OneConversation {
                success: true,
                has_update,
                conversation_id: raw,
                server_time,
            };
            Ok(ok(&body, Some(cost)))
        }
        None => {
            let changes = app
                .store
                .conversations_changed_after(since, POLL_LIMIT)
                .await
                .map_err(store_failure)?;
            let body = Inbox {
                success: true,
                has_updates: !changes.conversations.is_empty(),
                updated_conversations: changes.conversations.iter().map(|c| c.id).collect::<Vec<_>>(),
                server_time,
            };
            Ok(ok(&body, Some(changes.cost)))
        }
    }
}

/// `GET /api/check-conversation-updates.php?last_check=T`: the conversations changed after
/// `T` in any way (a new message, status, `ai_enabled`, name, a new conversation), newest
/// `last_message_at` first, at most `POLL_LIMIT`.
pub(super) async fn conversation_updates(app: &App, req: &Request) -> Result<Handled, Failure> {
    let p = Params::new(req);
    let show = &app.config.presentation;
    let since = last_check(app, &p)
        .and_then(|t| {
            t.ok_or_else(|| ApiError::invalid("last_check is required: the server_time of an earlier answer"))
        })
        .map_err(|e| (e, None))?;
    let server_time = server_time(show);
    let changes = app
        .store
        .conversations_changed_after(since, POLL_LIMIT)
        .await
        .map_err(store_failure)?;
    let body = Inbox {
        success: true,
        has_updates: !changes.conversations.is_empty(),
        updated_conversations: changes
            .conversations
            .iter()
            .map(|c| ChangedView {
                id: c.id,
                last_message_at: show.time(c.last_message_at),
                status: c.status.as_str(),
            })
            .collect(),
        server_time,
    };
    Ok(ok(&body, Some(changes.cost)))
}
