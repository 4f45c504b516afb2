//! `GET /api/stats`: the conversation half of what the legacy dashboard's `get-stats.php`
//! answers, in its shape, with the two figures PHP never sent (`today`, `daily_messages`):
//! one Query of the tally's partition (`Store::stats`), summed for the days of
//! `APP_TIMEZONE` (`crate::stats`).

use aws_lambda_events::http::StatusCode;
use serde::Serialize;

use super::request::Request;
use super::response;
use super::{App, Failure, Handled, store_failure};
use crate::model::Tally;
use crate::stats::{self, DAYS, Daily};

#[derive(Serialize)]
struct Body {
    success: bool,
    stats: Stats,
}

#[derive(Serialize)]
struct Stats {
    conversations: Conversations,
    daily_messages: [i64; DAYS],
}

#[derive(Serialize)]
struct Conversations {
    total: i64,
    active: i64,
    pending_human: i64,
    total_messages: i64,
    today: i64,
}

fn body(tally: &Tally, daily: &Daily) -> Body {
    Body {
        success: true,
        stats: Stats {
            conversations: Conversations {
                total: tally.total(),
                active: tally.active,
                pending_human: tally.pending_human,
                total_messages: tally.messages,
                today: daily.conversations_today,
            },
            daily_messages: daily.messages,
        },
    }
}

pub(super) async fn handle(app: &App, _req: &Request) -> Result<Handled, Failure> {
    let starts = stats::day_starts(jiff::Timestamp::now(), &app.config.presentation.time_zone);
    let from_hour = starts[0].div_euclid(3600) * 3600;
    let ((tally, hours), cost) = app.store.stats(from_hour).await.map_err(store_failure)?;
    let daily = stats::daily(&hours, &starts);
    Ok((response::json(StatusCode::OK, &body(&tally, &daily)), Some(cost)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_get_stats_php_shape_with_today_and_the_week() {
        let tally = Tally {
            active: 3,
            pending_human: 1,
            closed: 2,
            messages: 40,
        };
        let daily = Daily {
            messages: [0, 1, 2, 3, 4, 5, 6],
            conversations_today: 2,
        };
        assert_eq!(
            serde_json::to_value(body(&tally, &daily)).unwrap(),
            serde_json::json!({
                "success": true,
                "stats": {
                    "conversations": {
                        "total": 6, "active": 3, "pending_human": 1, "total_messages": 40, "today": 2
                    },
                    "daily_messages": [0, 1, 2, 3, 4, 5, 6]
                }
            })
        );
    }
}
