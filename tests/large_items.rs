//! Pages of large items: DynamoDB stops a Query at 1 MB, so with production-sized texts
//! (40–60 KB per item) an inbox page or a page of 20 messages takes more than one answer.
//! Every page, cursor walk and `has_more` must be whole anyway, through the store and
//! through every route, at no more than `limit + 1` items read and one round trip per
//! started MB.

use integration_tests::apigw::{event, invoke};
use integration_tests::fixtures::large::{self, LARGE_CONVERSATION, LARGE_INBOX, LARGE_MESSAGES};
use integration_tests::{fresh_store, sdk_config};
use serde_json::{Value, json};
use shared::config::Config;
use shared::cursor::BeforeCursor;
use shared::http::App;
use shared::model::Status;
use shared::store::{ListQuery, ReadCost};
use shared::{Store, client};
use tokio::sync::OnceCell;

const MB: usize = 1024 * 1024;

/// One table with the large data set, shared by the tests here.
async fn store() -> &'static Store {
    static STORE: OnceCell<Store> = OnceCell::const_new();
    STORE
        .get_or_init(|| async {
            let store = fresh_store().await;
            large::load(&store).await;
            store
        })
        .await
}

async fn app() -> App {
    let store = store().await;
    let table = store.table_name().to_string();
    let config = Config::from_lookup(|k| (k == "TABLE_NAME").then(|| table.clone())).unwrap();
    App {
        store: Store::new(client::dynamodb_client(&sdk_config().await), &config.table_name),
        config,
    }
}

fn conversation_bytes(c: &shared::Conversation) -> usize {
    shared::item::size(&shared::item::conversation_to_item(
        c,
        jiff::Timestamp::UNIX_EPOCH,
    ))
}

/// The page's budget: `limit + 1` items, one round trip per started MB that the query read
/// (plus `gets`, the GetItems beside it).
fn assert_budget(cost: &ReadCost, items_budget: usize, bytes_read: usize, gets: usize, what: &str) {
    assert!(cost.items_read as usize <= items_budget, "{what}: {cost:?}");
    assert!(
        cost.round_trips as usize <= bytes_read.div_ceil(MB) + gets,
        "{what}: {cost:?} for {bytes_read} bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbox_over_one_mb_is_listed_whole_and_its_cursors_visit_each_once() {
    let store = store().await;
    let expected = large::conversations();
    let ids: Vec<u64> = expected.iter().map(|c| c.id).collect();
    let all_bytes: usize = expected.iter().map(conversation_bytes).sum();
    // Each item's whole size, by id: what a page's entries cost to read.
    let bytes_of: std::collections::HashMap<u64, usize> =
        expected.iter().map(|c| (c.id, conversation_bytes(c))).collect();
    let item_bytes = |c: &shared::InboxEntry| bytes_of[&c.id];
    assert!(all_bytes > MB, "the inbox is {all_bytes} bytes");

    let page = store
        .list_conversations(ListQuery {
            waiting: false,
            status: None,
            limit: 1000,
            after: None,
        })
        .await
        .unwrap();
    let entries: Vec<shared::InboxEntry> = expected.iter().map(Into::into).collect();
    assert_eq!(page.conversations, entries);
    assert!(page.next.is_none());
    assert!(page.cost.round_trips >= 2, "{:?}", page.cost);
    assert_budget(&page.cost, 1001, all_bytes, 0, "limit 1000");

    // Cursor walks at several limits, whole status inboxes too.
    for status in [
        None,
        Some(Status::Active),
        Some(Status::PendingHuman),
        Some(Status::Closed),
    ] {
        let want: Vec<u64> = expected
            .iter()
            .filter(|c| status.is_none_or(|s| c.status == s))
            .map(|c| c.id)
            .collect();
        for limit in [1u32, 7, 25, 100] {
            let mut seen = Vec::new();
            let mut after = None;
            loop {
                let page = store
                    .list_conversations(ListQuery {
                        waiting: false,
                        status,
                        limit,
                        after,
                    })
                    .await
                    .unwrap();
                let bytes: usize = page.conversations.iter().map(item_bytes).sum::<usize>()
                    + page.conversations.first().map_or(0, item_bytes);
                assert_budget(&page.cost, limit as usize + 1, bytes, 0, "inbox page");
                assert!(page.conversations.len() <= limit as usize);
                seen.extend(page.conversations.iter().map(|c| c.id));
                match page.next {
                    Some(next) => {
                        assert_eq!(page.conversations.len(), limit as usize);
                        after = Some(next);
                    }
                    None => break,
                }
            }
            assert_eq!(seen, want, "status {status:?}, limit {limit}");
        }
    }
    assert_eq!(ids.len() as u64, LARGE_INBOX + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_pages_over_one_mb_are_whole_at_every_offset_and_before_cursor() {
    let store = store().await;
    let all = large::messages();
    let page_bytes = |page: &[shared::Message]| -> usize {
        page.iter()
            .map(|m| shared::item::size(&shared::item::message_to_item(m)))
            .sum()
    };
    for offset in [0u64, 20, 40, 50, 59] {
        let page = store.message_page(LARGE_CONVERSATION, offset, 20).await.unwrap();
        let end = (LARGE_MESSAGES - offset) as usize;
        let start = end.saturating_sub(20);
        assert_eq!(page.messages, all[start..end], "offset {offset}");
        assert_eq!(page.total, LARGE_MESSAGES);
        assert_eq!(page.has_more, offset + 20 < LARGE_MESSAGES, "offset {offset}");
        // Offset 0 reads the conversation in the same query; other offsets GetItem it.
        let (with_conversation, gets) = if offset == 0 { (64 * 1024, 0) } else { (0, 1) };
        assert_budget(
            &page.cost,
            21,
            page_bytes(&page.messages) + with_conversation,
            gets,
            &format!("offset {offset}"),
        );
        if offset == 0 {
            assert!(page.cost.round_trips >= 2, "a page over 1 MB: {:?}", page.cost);
        }
    }
    // The before cursors walk back to the first message, each exactly once.
    let first = store.message_page(LARGE_CONVERSATION, 0, 20).await.unwrap();
    let mut seen = first.messages.clone();
    let mut cursor = first.before;
    while let Some(c) = cursor {
        let page = store.messages_before(LARGE_CONVERSATION, c, 20).await.unwrap();
        assert_eq!(page.messages.len(), 20);
        assert_eq!(page.has_more, page.before.is_some());
        assert_eq!(
            page.cost.sequential_trips as usize,
            page_bytes(&page.messages).div_ceil(MB)
        );
        let mut older = page.messages;
        older.extend(seen);
        seen = older;
        cursor = page.before;
    }
    assert_eq!(seen, all);
    // A one-message page of the newest: still whole.
    let page = store
        .messages_before(LARGE_CONVERSATION, BeforeCursor { position: 1 }, 20)
        .await
        .unwrap();
    assert_eq!(page.messages, all[..1]);
    assert!(!page.has_more);
}

async fn get(app: &App, url: &str) -> Value {
    let reply = invoke(app, &event("GET", url)).await;
    assert_eq!(reply.status, 200, "{url}: {}", reply.body);
    integration_tests::openapi::OpenApi::get()
        .check(url, &reply)
        .unwrap();
    reply.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_pages_the_large_data_whole() {
    let app = app().await;
    let ids: Vec<Value> = large::conversations().iter().map(|c| json!(c.id)).collect();
    let listed = |body: &Value| -> Vec<Value> {
        body["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].clone())
            .collect()
    };
    // The whole inbox on each list route (the legacy ones default to 100).
    for url in [
        "/api/conversations?limit=1000",
        "/api/get-conversations",
        "/api/get-conversations.php",
    ] {
        let body = get(&app, url).await;
        assert_eq!(listed(&body), ids, "{url}");
        assert_eq!(body["next_cursor"], json!(null), "{url}");
    }
    // limit=25: a page of 25, then the other 16 through next_cursor.
    let first = get(&app, "/api/conversations?limit=25").await;
    let cursor = first["next_cursor"].as_str().expect("a next cursor").to_string();
    let second = get(&app, &format!("/api/conversations?limit=25&cursor={cursor}")).await;
    let mut walked = listed(&first);
    walked.extend(listed(&second));
    assert_eq!(walked, ids);
    assert_eq!(second["next_cursor"], json!(null));

    // Offset pages, the original dashboard's way to scroll, on each messages route.
    let texts = |body: &Value| -> Vec<String> {
        body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["message_text"].as_str().unwrap().to_string())
            .collect()
    };
    let all: Vec<String> = large::messages().into_iter().map(|m| m.message_text).collect();
    for route in [
        format!("/api/conversations/{LARGE_CONVERSATION}/messages?"),
        format!("/api/get-conversation-messages?id={LARGE_CONVERSATION}&"),
        format!("/api/get-conversation-messages.php?id={LARGE_CONVERSATION}&"),
    ] {
        let mut scrolled: Vec<String> = Vec::new();
        for (offset, has_more) in [(0, true), (20, true), (40, false)] {
            let body = get(&app, &format!("{route}offset={offset}&limit=20")).await;
            assert_eq!(body["total"], json!(LARGE_MESSAGES), "{route} {offset}");
            assert_eq!(body["has_more"], json!(has_more), "{route} {offset}");
            let mut older = texts(&body);
            assert_eq!(older.len(), 20, "{route} offset {offset}");
            older.extend(scrolled);
            scrolled = older;
        }
        assert_eq!(scrolled, all, "{route}");
        // The same history through before_cursor.
        let mut body = get(&app, &format!("{route}limit=20")).await;
        let mut walked = texts(&body);
        while let Some(c) = body["before_cursor"].as_str().map(str::to_string) {
            body = get(&app, &format!("{route}limit=20&before={c}")).await;
            let mut older = texts(&body);
            older.extend(walked);
            walked = older;
        }
        assert_eq!(walked, all, "{route} by before_cursor");
    }
}
