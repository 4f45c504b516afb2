//! What the legacy endpoints answered, computed from the legacy MySQL data with the legacy
//! queries' order (conversations by `last_message_at` desc, then `id` desc; messages by
//! `created_at`, then `id`), and a check that the API answers the same for every
//! conversation and every page: what a sync or a catch-up import must achieve.

use mysql_async::prelude::Queryable;
use serde_json::{Value, json};
use shared::Store;
use shared::http::App;

use crate::apigw::Target;
use crate::mariadb::LegacyDb;
use crate::sdk_config;

/// Messages a page of the comparison reads (the contract's maximum).
const PAGE: usize = 20;

/// The functions' handlers over `table`, configured as the legacy dashboard's stack
/// (`SENDER_TYPE_NAMES=user-bot-human`: the legacy column values), times in UTC.
pub async fn app_for(table: &str) -> App {
    let sdk = sdk_config().await;
    let config = shared::config::Config::from_lookup(|k| match k {
        "TABLE_NAME" => Some(table.to_string()),
        "SENDER_TYPE_NAMES" => Some("user-bot-human".into()),
        _ => None,
    })
    .expect("a valid configuration");
    App {
        store: Store::new(shared::client::dynamodb_client(&sdk), &config.table_name),
        config,
    }
}

/// `DATE_FORMAT` of a TIMESTAMP column in the session's zone (UTC here), as the API writes times.
fn time(column: &str) -> String {
    format!("DATE_FORMAT({column}, '%Y-%m-%d %H:%i:%s')")
}

fn text(v: Option<String>) -> Value {
    v.map_or(Value::Null, Value::String)
}

/// The inbox and every conversation's messages as the legacy data says, oldest first.
pub struct Expected {
    pub conversations: Vec<Value>,
    pub messages: Vec<(u64, Vec<Value>)>,
}

pub async fn expected(db: &LegacyDb) -> Expected {
    let mut conn = db.admin().await;
    conn.query_drop("SET time_zone = '+00:00'")
        .await
        .expect("set time_zone");
    let newest = |column: &str| {
        format!(
            "(SELECT {column} FROM messages m WHERE m.conversation_id = c.id \
             ORDER BY m.created_at DESC, m.id DESC LIMIT 1)"
        )
    };
    let sql = format!(
        "SELECT c.id, c.phone_number, c.contact_name, c.status, c.ai_enabled, {}, {}, {}, {}, {} \
         FROM conversations c ORDER BY c.last_message_at DESC, c.id DESC",
        time("c.last_message_at"),
        time("c.created_at"),
        newest("m.message_text"),
        newest("m.sender_type"),
        newest(&time("m.created_at")),
    );
    type Row = (
        u64,
        String,
        Option<String>,
        String,
        u8,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = conn.query(sql).await.expect("the legacy inbox query");
    let mut messages = Vec::new();
    let mut conversations = Vec::new();
    for (id, phone, name, status, ai, last_at, created, last, sender, last_created) in rows {
        conversations.push(json!({
            "id": id, "phone_number": phone, "contact_name": text(name), "status": status,
            "ai_enabled": ai, "last_message_at": last_at, "created_at": created,
            "last_message": text(last), "last_sender_type": text(sender),
            "last_message_created_at": text(last_created),
        }));
        let sql = format!(
            "SELECT id, sender_type, message_text, audio_url, media_type, context_used, \
             confidence_score, {} FROM messages WHERE conversation_id = {id} ORDER BY created_at, id",
            time("created_at")
        );
        type MessageRow = (
            u64,
            String,
            String,
            Option<String>,
            String,
            Option<String>,
            Option<String>,
            String,
        );
        let rows: Vec<MessageRow> = conn.query(sql).await.expect("the legacy messages query");
        let list = rows
            .into_iter()
            .map(|(mid, sender, body, audio, media, context, score, created)| {
                let score = score.map_or(Value::Null, |s| json!(s.parse::<f64>().expect("a FLOAT")));
                json!({
                    "id": mid, "sender_type": sender, "message_text": body, "audio_url": text(audio),
                    "media_type": media, "context_used": text(context), "confidence_score": score,
                    "created_at": created,
                })
            })
            .collect();
        messages.push((id, list));
    }
    conn.disconnect().await.expect("disconnect");
    Expected {
        conversations,
        messages,
    }
}

/// The fields of `got` that `want` names, for a readable difference.
fn pick(got: &Value, want: &Value) -> Value {
    let keys = want.as_object().expect("an object");
    Value::Object(keys.keys().map(|k| (k.clone(), got[k].clone())).collect())
}

/// `/api/stats` against the legacy data: the counts, and messages per day and conversations
/// with a message today in the app's zone; and the table's statistics consistent with its
/// own items (`stats_consistent`), every conversation counted.
async fn stats_match(
    app: &App,
    api: &Target<'_>,
    want: &Expected,
    want_counts: &Value,
    want_messages: usize,
) -> Result<(), String> {
    let zone = &app.config.presentation.time_zone;
    let daily_at = |now: jiff::Timestamp| {
        let mut hours = Vec::new();
        for (_, messages) in &want.messages {
            let times = messages.iter().map(|m| {
                let text = m["created_at"].as_str().expect("a time");
                jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", text)
                    .expect("a legacy time")
                    .to_zoned(jiff::tz::TimeZone::UTC)
                    .expect("a UTC time")
                    .timestamp()
            });
            let share = shared::stats::StatsShare::of(times, now);
            hours.extend(shared::stats::change(&Default::default(), &share, now));
        }
        shared::stats::daily(&hours, &shared::stats::day_starts(now, zone))
    };
    let before = daily_at(jiff::Timestamp::now());
    let got = api.get("/api/stats").await;
    let after = daily_at(jiff::Timestamp::now());
    let stats = &got.body["stats"];
    let conversations = &stats["conversations"];
    for (field, want) in [
        ("total", &want_counts["total"]),
        ("active", &want_counts["active"]),
        ("pending_human", &want_counts["pending_human"]),
    ] {
        if &conversations[field] != want {
            return Err(format!(
                "stats: {field} {} where the legacy data has {want}",
                conversations[field]
            ));
        }
    }
    if conversations["total_messages"] != json!(want_messages) {
        return Err(format!(
            "stats: {} messages where the legacy data has {want_messages}",
            conversations["total_messages"]
        ));
    }
    // A day that ended between the two is either's.
    let matches = |d: &shared::stats::Daily| {
        stats["daily_messages"] == json!(d.messages) && conversations["today"] == json!(d.conversations_today)
    };
    if !matches(&before) && !matches(&after) {
        return Err(format!(
            "stats: API {}, the legacy data makes {before:?}",
            got.body
        ));
    }
    match crate::stats_consistent(&app.store).await? {
        0 => Ok(()),
        n => Err(format!("stats: {n} conversations not counted")),
    }
}

/// Whether every answer of the API (the whole inbox, every page of every conversation's
/// messages) equals the legacy data's; the first difference otherwise.
pub async fn api_matches(app: &App, want: &Expected) -> Result<(), String> {
    let api = Target::InProcess(app);
    let inbox = api.get("/api/conversations?limit=1000").await;
    let got = inbox.body["conversations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if got.len() != want.conversations.len() {
        return Err(format!(
            "inbox: {} conversations, the legacy data has {}",
            got.len(),
            want.conversations.len()
        ));
    }
    for (i, (g, w)) in got.iter().zip(&want.conversations).enumerate() {
        let g = pick(g, w);
        if &g != w {
            return Err(format!("inbox row {i}: API {g}\nlegacy {w}"));
        }
    }
    // The counts: each conversation once under its status, every message once.
    let counts = api.get("/api/conversations/counts").await;
    let mut want_counts =
        json!({ "active": 0, "pending_human": 0, "closed": 0, "total": want.conversations.len() });
    for c in &want.conversations {
        let status = c["status"].as_str().unwrap_or_default();
        want_counts[status] = json!(want_counts[status].as_u64().unwrap_or(0) + 1);
    }
    let want_messages: usize = want.messages.iter().map(|(_, m)| m.len()).sum();
    if counts.body["counts"] != want_counts || counts.body["messages"] != json!(want_messages) {
        return Err(format!(
            "counts: API {}, the legacy data has {want_counts} and {want_messages} messages",
            counts.body
        ));
    }
    stats_match(app, &api, want, &want_counts, want_messages).await?;
    queue_matches(&api, want, None).await?;
    queue_matches(&api, want, Some("active")).await?;
    for (id, messages) in &want.messages {
        let total = messages.len();
        let mut offset = 0;
        loop {
            let page = api
                .get(&format!(
                    "/api/conversations/{id}/messages?limit={PAGE}&offset={offset}"
                ))
                .await;
            if page.status != 200 {
                return Err(format!("conversation {id} offset {offset}: HTTP {}", page.status));
            }
            if page.body["total"] != json!(total) {
                return Err(format!(
                    "conversation {id}: total {} where the legacy data has {total}",
                    page.body["total"]
                ));
            }
            let got = page.body["messages"].as_array().cloned().unwrap_or_default();
            let end = total.saturating_sub(offset);
            let want = &messages[end.saturating_sub(PAGE)..end];
            if got.len() != want.len() {
                return Err(format!(
                    "conversation {id} offset {offset}: {} messages, the legacy data has {}",
                    got.len(),
                    want.len()
                ));
            }
            for (g, w) in got.iter().zip(want) {
                let g = pick(g, w);
                if &g != w {
                    return Err(format!("conversation {id} offset {offset}: API {g}\nlegacy {w}"));
                }
            }
            offset += PAGE;
            if offset >= total {
                break;
            }
        }
    }
    Ok(())
}

/// The needs-reply queue the legacy data implies: conversations whose newest message is the
/// customer's (`user`), since the first of their trailing run of customer messages, oldest
/// first, ties by id.
fn expected_queue(want: &Expected, status: Option<&str>) -> Vec<(u64, String)> {
    let mut queue: Vec<(String, u64)> = want
        .messages
        .iter()
        .filter(|(id, _)| {
            status.is_none_or(|s| {
                want.conversations
                    .iter()
                    .any(|c| c["id"] == json!(id) && c["status"] == json!(s))
            })
        })
        .filter_map(|(id, messages)| {
            let first_of_run = messages
                .iter()
                .rev()
                .take_while(|m| m["sender_type"] == "user")
                .last()?;
            Some((first_of_run["created_at"].as_str()?.to_string(), *id))
        })
        .collect();
    queue.sort();
    queue.into_iter().map(|(since, id)| (id, since)).collect()
}

/// Whether `?waiting=customer` (with `status`), followed page by page, lists what the legacy
/// data implies.
async fn queue_matches(api: &Target<'_>, want: &Expected, status: Option<&str>) -> Result<(), String> {
    let mut got = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = api
            .get(&format!(
                "/api/conversations?waiting=customer&limit=7&status={}&cursor={cursor}",
                status.unwrap_or_default()
            ))
            .await;
        if page.status != 200 {
            return Err(format!(
                "needs-reply queue ({status:?}): HTTP {} {}",
                page.status, page.body
            ));
        }
        for c in page.body["conversations"].as_array().cloned().unwrap_or_default() {
            got.push((
                c["id"].as_u64().unwrap_or_default(),
                c["waiting_since"].as_str().unwrap_or_default().to_string(),
            ));
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    let want = expected_queue(want, status);
    if got != want {
        return Err(format!(
            "needs-reply queue ({status:?}): API {got:?}\nlegacy {want:?}"
        ));
    }
    Ok(())
}
