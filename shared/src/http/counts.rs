//! `GET /api/conversations/counts`: how many conversations each inbox tab holds, and how
//! many messages, from the tally (`Store::tally`: one Query of its few shards), never a
//! count over the conversations.

use aws_lambda_events::http::StatusCode;
use serde::Serialize;

use super::request::Request;
use super::response;
use super::{App, Failure, Handled, store_failure};
use crate::model::Tally;

#[derive(Serialize)]
struct Body {
    success: bool,
    counts: Counts,
    messages: i64,
}

#[derive(Serialize)]
struct Counts {
    active: i64,
    pending_human: i64,
    closed: i64,
    total: i64,
}

fn body(tally: &Tally) -> Body {
    Body {
        success: true,
        counts: Counts {
            active: tally.active,
            pending_human: tally.pending_human,
            closed: tally.closed,
            total: tally.total(),
        },
        messages: tally.messages,
    }
}

pub(super) async fn handle(app: &App, _req: &Request) -> Result<Handled, Failure> {
    let (tally, cost) = app.store.tally().await.map_err(store_failure)?;
    Ok((response::json(StatusCode::OK, &body(&tally)), Some(cost)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_the_legacy_envelope_with_the_total() {
        let tally = Tally {
            active: 3,
            pending_human: 1,
            closed: 2,
            messages: 40,
        };
        assert_eq!(
            serde_json::to_value(body(&tally)).unwrap(),
            serde_json::json!({
                "success": true,
                "counts": { "active": 3, "pending_human": 1, "closed": 2, "total": 6 },
                "messages": 40
            })
        );
    }
}
