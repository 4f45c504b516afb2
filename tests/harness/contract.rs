//! The contract suite: several hundred requests over the tricky data set in
//! `tests/fixtures/contract/`, each answer compared with what `docs/api-contract.md` says
//! it must be. The expected answers come from a small independent model of the contract
//! (plain sorting and slicing of the legacy rows), not from the code under test.

use std::collections::{BTreeMap, HashSet};

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use serde_json::{Value, json};

use crate::apigw::{Reply, Target};
use crate::workspace_root;

/// The zone the fixture's timestamps are written in (the legacy server's).
pub const FIXTURE_ZONE: &str = "America/Bogota";

pub fn fixture_path(name: &str) -> String {
    workspace_root()
        .join("tests/fixtures/contract")
        .join(name)
        .display()
        .to_string()
}

/// What the functions are configured with, which changes the expected answers.
#[derive(Debug, Clone)]
pub struct Setup {
    pub time_zone: TimeZone,
    pub legacy_sender_names: bool,
    pub conversations_limit: usize,
}

struct Conv {
    id: u64,
    json: Value,
    status: String,
    /// (last_message_at UTC seconds, id): the list order, descending.
    key: (i64, u64),
}

/// The data set, and the answers the contract requires for it.
pub struct Model {
    /// Newest activity first.
    conversations: Vec<Conv>,
    /// Per conversation, chronological (created_at, then id).
    messages: BTreeMap<u64, Vec<Value>>,
    setup: Setup,
}

fn rows(name: &str) -> Vec<Value> {
    std::fs::read_to_string(fixture_path(name))
        .expect("read the contract fixture")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("fixture rows are JSON"))
        .collect()
}

fn int(v: &Value) -> u64 {
    match v {
        Value::Number(n) => n.as_u64().expect("fixture integer"),
        Value::String(s) => s.parse().expect("fixture integer"),
        Value::Bool(b) => u64::from(*b),
        other => panic!("not an integer: {other}"),
    }
}

impl Model {
    pub fn load(setup: Setup) -> Model {
        let source = TimeZone::get(FIXTURE_ZONE).unwrap();
        let utc = |v: &Value| -> i64 {
            let dt: DateTime = DateTime::strptime("%Y-%m-%d %H:%M:%S", v.as_str().unwrap()).unwrap();
            dt.to_zoned(source.clone()).unwrap().timestamp().as_second()
        };
        let show = |secs: i64| -> String {
            let ts = jiff::Timestamp::from_second(secs).unwrap();
            ts.to_zoned(setup.time_zone.clone())
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string()
        };
        let sender = |s: &str| -> &'static str {
            let api = match s {
                "user" | "customer" => "customer",
                "bot" | "ai" => "ai",
                _ => "human",
            };
            match (setup.legacy_sender_names, api) {
                (true, "customer") => "user",
                (true, "ai") => "bot",
                _ => api,
            }
        };
        let mut messages: BTreeMap<u64, Vec<(i64, u64, Value)>> = BTreeMap::new();
        for m in rows("messages.jsonl") {
            let created = utc(&m["created_at"]);
            let id = int(&m["id"]);
            let json = json!({
                "id": id,
                "sender_type": sender(m["sender_type"].as_str().unwrap()),
                "message_text": m["message_text"],
                "audio_url": m["audio_url"],
                "media_type": m["media_type"],
                "context_used": m["context_used"],
                "confidence_score": m["confidence_score"].as_f64().map(|f| json!(f)).unwrap_or(Value::Null),
                "created_at": show(created),
            });
            messages
                .entry(int(&m["conversation_id"]))
                .or_default()
                .push((created, id, json));
        }
        let messages: BTreeMap<u64, Vec<Value>> = messages
            .into_iter()
            .map(|(cid, mut ms)| {
                ms.sort_by_key(|(t, id, _)| (*t, *id));
                (cid, ms.into_iter().map(|(_, _, j)| j).collect())
            })
            .collect();
        let mut conversations: Vec<Conv> = rows("conversations.jsonl")
            .into_iter()
            .map(|c| {
                let id = int(&c["id"]);
                let last = messages.get(&id).and_then(|ms| ms.last());
                let last_at = utc(&c["last_message_at"]);
                let json = json!({
                    "id": id,
                    "phone_number": c["phone_number"],
                    "contact_name": c["contact_name"],
                    "status": c["status"],
                    "ai_enabled": int(&c["ai_enabled"]),
                    "last_message_at": show(last_at),
                    "created_at": show(utc(&c["created_at"])),
                    "last_message": last.map_or(Value::Null, |m| m["message_text"].clone()),
                    "last_sender_type": last.map_or(Value::Null, |m| m["sender_type"].clone()),
                    "last_message_created_at": last.map_or(Value::Null, |m| m["created_at"].clone()),
                });
                Conv {
                    id,
                    status: c["status"].as_str().unwrap().to_string(),
                    key: (last_at, id),
                    json,
                }
            })
            .collect();
        conversations.sort_by_key(|c| std::cmp::Reverse(c.key));
        Model {
            conversations,
            messages,
            setup,
        }
    }

    fn inbox(&self, status: Option<&str>) -> Vec<&Value> {
        self.conversations
            .iter()
            .filter(|c| status.is_none_or(|s| c.status == s))
            .map(|c| &c.json)
            .collect()
    }

    fn history(&self, id: u64) -> &[Value] {
        self.messages.get(&id).map_or(&[], Vec::as_slice)
    }

    pub fn conversation_ids(&self) -> Vec<u64> {
        self.conversations.iter().map(|c| c.id).collect()
    }
}

/// Counts requests and collects every mismatch (the suite reports them all at once).
pub struct Run<'a> {
    target: &'a Target<'a>,
    pub requests: usize,
    pub failures: Vec<String>,
}

impl<'a> Run<'a> {
    pub fn new(target: &'a Target<'a>) -> Run<'a> {
        Run {
            target,
            requests: 0,
            failures: Vec::new(),
        }
    }

    async fn get(&mut self, url: &str) -> Reply {
        self.requests += 1;
        let reply = self.target.get(url).await;
        let headers_ok = reply.header("content-type") == Some("application/json; charset=utf-8")
            && reply.header("cache-control") == Some("no-store")
            && reply.header("x-content-type-options") == Some("nosniff");
        if !headers_ok {
            self.failures
                .push(format!("{url}: missing contract headers: {:?}", reply.headers));
        }
        reply
    }

    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.failures.push(what());
        }
    }
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    k.sort_unstable();
    k
}

fn is_time(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| DateTime::strptime("%Y-%m-%d %H:%M:%S", s).is_ok())
}

/// Walks the inbox with `query` (no cursor) and compares every page.
async fn walk_inbox(
    run: &mut Run<'_>,
    model: &Model,
    path: &str,
    query: &str,
    status: Option<&str>,
    limit: usize,
) {
    let expected = model.inbox(status);
    let mut got = Vec::new();
    let mut url = format!("{path}?{query}");
    loop {
        let r = run.get(&url).await;
        if r.status != 200 || keys(&r.body) != ["conversations", "next_cursor", "success"] {
            run.failures.push(format!("{url}: {} {}", r.status, r.body));
            return;
        }
        let page = r.body["conversations"].as_array().cloned().unwrap_or_default();
        let start = got.len();
        let want: Vec<Value> = expected
            .iter()
            .skip(start)
            .take(limit)
            .map(|v| (*v).clone())
            .collect();
        run.check(page == want, || {
            format!("{url}: page at {start} differs\n got: {page:?}\nwant: {want:?}")
        });
        got.extend(page);
        match &r.body["next_cursor"] {
            Value::String(c) => {
                run.check(got.len() < expected.len(), || {
                    format!("{url}: next_cursor on the last page")
                });
                if got.len() >= expected.len() || got.len() == start {
                    return;
                }
                url = format!("{path}?{query}&cursor={c}");
            }
            Value::Null => break,
            other => {
                run.failures.push(format!("{url}: next_cursor {other}"));
                return;
            }
        }
    }
    run.check(got.len() == expected.len(), || {
        format!(
            "{path}?{query}: walked {} of {} conversations",
            got.len(),
            expected.len()
        )
    });
}

async fn message_page(run: &mut Run<'_>, model: &Model, url: &str, id: u64, offset: usize, limit: usize) {
    let all = model.history(id);
    let total = all.len();
    let r = run.get(url).await;
    if r.status != 200
        || keys(&r.body)
            != [
                "before_cursor",
                "has_more",
                "messages",
                "server_time",
                "success",
                "total",
            ]
    {
        run.failures.push(format!("{url}: {} {}", r.status, r.body));
        return;
    }
    let end = total.saturating_sub(offset);
    let start = end.saturating_sub(limit);
    let want = &all[start..end];
    let got = r.body["messages"].as_array().cloned().unwrap_or_default();
    run.check(got == want, || {
        format!("{url}: messages differ\n got: {got:?}\nwant: {want:?}")
    });
    run.check(r.body["total"] == json!(total), || {
        format!("{url}: total {}", r.body["total"])
    });
    run.check(r.body["has_more"] == json!(offset + limit < total), || {
        format!("{url}: has_more {}", r.body["has_more"])
    });
    run.check(r.body["success"] == json!(true), || format!("{url}: success"));
    run.check(is_time(&r.body["server_time"]), || {
        format!("{url}: server_time {}", r.body["server_time"])
    });
    let older_exist = !want.is_empty() && start > 0;
    run.check(r.body["before_cursor"].is_string() == older_exist, || {
        format!("{url}: before_cursor {}", r.body["before_cursor"])
    });
}

/// Follows `before_cursor` from the newest page to the oldest: every message exactly once.
async fn walk_back(run: &mut Run<'_>, model: &Model, id: u64, limit: usize) {
    let all = model.history(id);
    let mut seen: Vec<Value> = Vec::new();
    let mut url = format!("/api/conversations/{id}/messages?limit={limit}");
    loop {
        let r = run.get(&url).await;
        if r.status != 200 {
            run.failures.push(format!("{url}: {} {}", r.status, r.body));
            return;
        }
        let mut page = r.body["messages"].as_array().cloned().unwrap_or_default();
        run.check(r.body["total"] == json!(all.len()), || format!("{url}: total"));
        page.extend(seen);
        seen = page;
        match &r.body["before_cursor"] {
            Value::String(c) => {
                run.check(r.body["has_more"] == json!(true), || {
                    format!("{url}: has_more with a cursor")
                });
                if seen.len() >= all.len() {
                    run.failures
                        .push(format!("{url}: before_cursor after the first message"));
                    return;
                }
                url = format!("/api/get-conversation-messages.php?id={id}&limit={limit}&before={c}");
            }
            _ => break,
        }
    }
    run.check(seen == all, || {
        format!(
            "conversation {id}: walking back with limit {limit} saw {} of {} messages in order",
            seen.len(),
            all.len()
        )
    });
}

async fn expect_error(run: &mut Run<'_>, url: &str, status: u16, code: &str, detail_part: &str) {
    let r = run.get(url).await;
    let legacy = if url.contains("/api/check-") {
        "Error al verificar actualizaciones"
    } else if url.contains("messages") {
        "Error al obtener mensajes"
    } else {
        "Error al obtener conversaciones"
    };
    let ok = r.status == status
        && keys(&r.body) == ["code", "detail", "error", "success"]
        && r.body["success"] == json!(false)
        && r.body["error"] == json!(legacy)
        && r.body["code"] == json!(code)
        && r.body["detail"].as_str().is_some_and(|d| d.contains(detail_part));
    run.check(ok, || {
        format!(
            "{url}: want {status} {code} ~{detail_part:?}, got {} {}",
            r.status, r.body
        )
    });
}

/// The whole suite. Returns the number of requests made; every mismatch is in `run.failures`.
pub async fn run_suite(run: &mut Run<'_>, model: &Model) {
    let list_paths = [
        "/api/conversations",
        "/api/get-conversations",
        "/api/get-conversations.php",
    ];
    let default_limit = model.setup.conversations_limit;

    // The inbox: every status filter and several page sizes, cursors to the end.
    for (query, status) in [
        ("", None),
        ("status=", None),
        ("status=active", Some("active")),
        ("status=pending_human", Some("pending_human")),
        ("status=closed", Some("closed")),
    ] {
        for (lq, limit) in [
            ("", default_limit),
            ("limit=1", 1),
            ("limit=7", 7),
            ("limit=25", 25),
            ("limit=5000", 1000),
        ] {
            let q = [query, lq]
                .iter()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join("&");
            walk_inbox(run, model, "/api/conversations", &q, status, limit).await;
        }
        for path in &list_paths[1..] {
            walk_inbox(run, model, path, query, status, default_limit).await;
        }
    }
    // A repeated parameter: the last value wins.
    walk_inbox(
        run,
        model,
        "/api/conversations",
        "status=closed&status=active&limit=3&limit=10",
        Some("active"),
        10,
    )
    .await;

    // The newest page of every conversation, through each way of naming it.
    for (i, id) in model.conversation_ids().into_iter().enumerate() {
        let url = match i % 4 {
            0 => format!("/api/conversations/{id}/messages"),
            1 => format!("/api/get-conversation-messages.php?id={id}"),
            2 => format!("/api/get-conversation-messages?id={id}&offset=0&limit=20"),
            _ => format!("/api/conversations/{id}/messages?id=1"),
        };
        message_page(run, model, &url, id, 0, 20).await;
    }
    // Offsets and limits of the 250-message conversation, at and around every edge.
    for offset in [0usize, 1, 19, 20, 21, 100, 229, 230, 231, 249, 250, 251, 1000] {
        for (lq, limit) in [
            ("", 20usize),
            ("&limit=1", 1),
            ("&limit=5", 5),
            ("&limit=20", 20),
            ("&limit=21", 20),
            ("&limit=100000000000000000000000", 20),
        ] {
            let url = format!("/api/get-conversation-messages.php?id=1&offset={offset}{lq}");
            message_page(run, model, &url, 1, offset, limit).await;
        }
    }
    message_page(
        run,
        model,
        "/api/conversations/4/messages?offset=abc&id=7&offset=1",
        4,
        1,
        20,
    )
    .await;
    message_page(run, model, "/api/conversations/2/messages", 2, 0, 20).await;
    message_page(
        run,
        model,
        "/api/conversations/9007199254740991/messages?limit=3",
        9007199254740991,
        0,
        3,
    )
    .await;

    // Scrolling up with `before` cursors visits every message exactly once.
    for (id, limit) in [(1u64, 20usize), (1, 7), (3, 20), (4, 20), (5, 20), (6, 1)] {
        walk_back(run, model, id, limit).await;
    }

    // Every error case: status, code, and a detail that says what to fix.
    let cases: &[(&str, u16, &str, &str)] = &[
        (
            "/api/conversations?status=open",
            400,
            "invalid_parameter",
            "status must be",
        ),
        (
            "/api/conversations?status=ACTIVE",
            400,
            "invalid_parameter",
            "status must be",
        ),
        (
            "/api/get-conversations.php?status=active%00",
            400,
            "invalid_parameter",
            "status",
        ),
        (
            "/api/conversations?limit=0",
            400,
            "invalid_parameter",
            "limit must be an integer >= 1",
        ),
        ("/api/conversations?limit=-1", 400, "invalid_parameter", "limit"),
        ("/api/conversations?limit=1.5", 400, "invalid_parameter", "limit"),
        ("/api/conversations?limit=%2B5", 400, "invalid_parameter", "limit"),
        ("/api/conversations?limit=1e2", 400, "invalid_parameter", "limit"),
        ("/api/conversations?limit=", 400, "invalid_parameter", "limit"),
        (
            "/api/conversations?cursor=abc",
            400,
            "invalid_parameter",
            "cursor",
        ),
        (
            "/api/get-conversation-messages.php",
            400,
            "invalid_parameter",
            "id is required",
        ),
        (
            "/api/get-conversation-messages?offset=3",
            400,
            "invalid_parameter",
            "id is required",
        ),
        (
            "/api/get-conversation-messages.php?id=",
            400,
            "invalid_parameter",
            "id must be",
        ),
        (
            "/api/get-conversation-messages.php?id=abc",
            400,
            "invalid_parameter",
            "id must be",
        ),
        (
            "/api/get-conversation-messages.php?id=0",
            400,
            "invalid_parameter",
            "id must be",
        ),
        (
            "/api/get-conversation-messages.php?id=-7",
            400,
            "invalid_parameter",
            "id must be",
        ),
        (
            "/api/get-conversation-messages.php?id=0x10",
            400,
            "invalid_parameter",
            "id must be",
        ),
        (
            "/api/get-conversation-messages.php?id=%207",
            400,
            "invalid_parameter",
            "id must be",
        ),
        (
            "/api/get-conversation-messages.php?id=9007199254740992",
            400,
            "invalid_parameter",
            "id must be",
        ),
        (
            "/api/conversations/abc/messages?id=1",
            400,
            "invalid_parameter",
            "the id in the path",
        ),
        (
            "/api/conversations/0/messages",
            400,
            "invalid_parameter",
            "the id in the path",
        ),
        (
            "/api/conversations/1/messages?offset=-1",
            400,
            "invalid_parameter",
            "offset must be",
        ),
        (
            "/api/conversations/1/messages?offset=1.0",
            400,
            "invalid_parameter",
            "offset must be",
        ),
        (
            "/api/conversations/1/messages?limit=0",
            400,
            "invalid_parameter",
            "limit must be an integer >= 1",
        ),
        (
            "/api/conversations/1/messages?limit=abc",
            400,
            "invalid_parameter",
            "limit",
        ),
        (
            "/api/conversations/1/messages?before=zzz",
            400,
            "invalid_parameter",
            "before must be",
        ),
        (
            "/api/conversations/12345/messages",
            404,
            "not_found",
            "conversation 12345 does not exist",
        ),
        (
            "/api/get-conversation-messages.php?id=777777",
            404,
            "not_found",
            "does not exist",
        ),
    ];
    for (url, status, code, detail) in cases {
        expect_error(run, url, *status, code, detail).await;
    }

    // Cursors are bound to their query.
    let r = run.get("/api/conversations?status=active&limit=2").await;
    if let Some(c) = r.body["next_cursor"].as_str() {
        let c = c.to_string();
        expect_error(
            run,
            &format!("/api/conversations?status=closed&limit=2&cursor={c}"),
            400,
            "invalid_parameter",
            "cursor",
        )
        .await;
        expect_error(
            run,
            &format!("/api/conversations?limit=2&cursor={c}"),
            400,
            "invalid_parameter",
            "cursor",
        )
        .await;
        let mut altered = c.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'0' { b'1' } else { b'0' };
        let altered = String::from_utf8(altered).unwrap();
        expect_error(
            run,
            &format!("/api/conversations?status=active&limit=2&cursor={altered}"),
            400,
            "invalid_parameter",
            "cursor",
        )
        .await;
    } else {
        run.failures
            .push("no next_cursor for status=active&limit=2".into());
    }
    let r = run.get("/api/conversations/1/messages?limit=5").await;
    if let Some(c) = r.body["before_cursor"].as_str() {
        let c = c.to_string();
        expect_error(
            run,
            &format!("/api/conversations/3/messages?before={c}"),
            400,
            "invalid_parameter",
            "before must be",
        )
        .await;
        expect_error(
            run,
            &format!("/api/conversations/1/messages?before={c}&offset=5"),
            400,
            "invalid_parameter",
            "non-zero offset",
        )
        .await;
        // `offset=0` combines with `before`.
        let r = run
            .get(&format!(
                "/api/conversations/1/messages?before={c}&offset=0&limit=5"
            ))
            .await;
        let all = model.history(1);
        let want = &all[all.len() - 10..all.len() - 5];
        let got = r.body["messages"].as_array().cloned().unwrap_or_default();
        run.check(got == want, || "before page with offset=0 differs".into());
    } else {
        run.failures.push("no before_cursor for conversation 1".into());
    }
    let seen: HashSet<u64> = model.conversation_ids().into_iter().collect();
    run.check(seen.len() == model.conversations.len(), || {
        "conversation ids unique".into()
    });
    polling(run, model).await;
}

/// `YYYY-MM-DD HH:MM:SS` in the setup's zone, `secs` seconds after `legacy` (also such a
/// string), URL-encoded: a `last_check` as the dashboard sends it.
fn last_check(model: &Model, legacy: &str, secs: i64) -> String {
    let dt = DateTime::strptime("%Y-%m-%d %H:%M:%S", legacy).unwrap();
    let t = dt.to_zoned(model.setup.time_zone.clone()).unwrap().timestamp()
        + jiff::SignedDuration::from_secs(secs);
    t.to_zoned(model.setup.time_zone.clone())
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
        .replace(' ', "%20")
        .replace(':', "%3A")
}

/// The polling endpoints over the same data: each conversation's poll for a `last_check`
/// before the data was written (it reports the conversations with messages, whatever
/// their legacy times) and one past the baseline's `server_time` (nothing was written
/// since), the inbox-wide answers for a `last_check` before everything and after
/// everything, and their errors.
async fn polling(run: &mut Run<'_>, model: &Model) {
    let baseline = run.get("/api/check-updates.php").await;
    run.check(
        baseline.status == 200
            && keys(&baseline.body) == ["has_update", "has_updates", "server_time", "success"]
            && baseline.body["has_update"] == json!(false)
            && is_time(&baseline.body["server_time"]),
        || format!("check-updates.php baseline: {}", baseline.body),
    );
    let early = "2000-01-01%2000%3A00%3A00";
    // Two seconds past the baseline: beyond what the polls look back (0.4 s).
    let quiet = baseline.body["server_time"]
        .as_str()
        .map(|t| last_check(model, t, 2));
    for c in &model.conversations {
        let id = c.id;
        let has_messages = !c.json["last_message_created_at"].is_null();
        let mut cases = vec![(early.to_string(), has_messages)];
        cases.extend(quiet.clone().map(|t| (t, false)));
        for (t, want) in cases {
            let url = format!("/api/check-updates.php?last_check={t}&conversation_id={id}");
            let r = run.get(&url).await;
            run.check(
                r.status == 200
                    && r.body["has_update"] == json!(want)
                    && r.body["conversation_id"] == json!(id.to_string()),
                || format!("{url}: want has_update {want}, got {} {}", r.status, r.body),
            );
        }
    }
    // Before everything: every conversation (up to the bound), newest last_message_at
    // first; their ids alone for check-updates.php.
    let bound = shared::http::POLL_LIMIT;
    let want: Vec<Value> = model
        .conversations
        .iter()
        .take(bound)
        .map(
            |c| json!({"id": c.id, "last_message_at": c.json["last_message_at"], "status": c.json["status"]}),
        )
        .collect();
    let url = format!("/api/check-conversation-updates.php?last_check={early}");
    let r = run.get(&url).await;
    run.check(
        r.status == 200
            && r.body["updated_conversations"] == json!(want)
            && r.body["has_updates"] == json!(true),
        || format!("{url}: got {} {}", r.status, r.body),
    );
    let ids: Vec<Value> = model
        .conversations
        .iter()
        .take(bound)
        .map(|c| json!(c.id))
        .collect();
    let url = format!("/api/check-updates.php?last_check={early}");
    let r = run.get(&url).await;
    run.check(
        r.status == 200 && r.body["updated_conversations"] == json!(ids),
        || format!("{url}: got {} {}", r.status, r.body),
    );
    // After everything (the fixture's data is years old).
    for url in [
        "/api/check-conversation-updates.php?last_check=2099-01-01T00%3A00%3A00Z",
        "/api/check-updates.php?last_check=2099-01-01%2000%3A00%3A00",
    ] {
        let r = run.get(url).await;
        run.check(
            r.status == 200
                && r.body["has_updates"] == json!(false)
                && r.body["updated_conversations"] == json!([]),
            || format!("{url}: got {} {}", r.status, r.body),
        );
    }
    expect_error(
        run,
        "/api/check-conversation-updates.php",
        400,
        "invalid_parameter",
        "last_check is required",
    )
    .await;
    expect_error(
        run,
        "/api/check-conversation-updates.php?last_check=soon",
        400,
        "invalid_parameter",
        "last_check must be",
    )
    .await;
    expect_error(
        run,
        "/api/check-updates.php?last_check=2024-01-15%2010%3A00%3A00&conversation_id=-1",
        400,
        "invalid_parameter",
        "conversation_id",
    )
    .await;
}
