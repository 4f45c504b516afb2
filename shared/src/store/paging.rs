//! The one way the store runs a Query on a request path: DynamoDB stops a Query after 1 MB
//! of items (before `Limit` is reached) and says so with `LastEvaluatedKey`; a page built
//! from the first answer alone would silently lose rows whenever items are large (64 KB
//! legacy texts, a conversation item carrying its newest message). So the query is
//! followed from that key until it has what the page needs or its key range ends: one
//! round trip per started MB of the page, never more items than asked for.

use std::time::Instant;

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
use aws_smithy_types::body::SdkBody;

use super::ReadCost;
use super::wire::{self, Fence, Pairs, QueryPage};
use crate::error::StoreError;
use crate::item::Item;

/// Items an answer's list is made room for at most before it is read: an inbox page of
/// 100 and its extra item. Larger pages grow the list as they read.
const ROOM: usize = 128;

/// Whether answers are read by the SDK's own deserializer (`--features sdk-reader`, which
/// the tests run too) rather than by `wire`.
const SDK_READER: bool = cfg!(feature = "sdk-reader");

/// Runs `query` (everything set but `Limit` and `ExclusiveStartKey`, which this sets) from
/// `start` (a page cursor's key, or the beginning) until `want` items are in or the key
/// range is exhausted, adding each answer's cost to `cost`. Each follow-up asks only for
/// the items still missing, so the items read stay ≤ `want`. Answers are read by
/// `wire` (their items as attribute pairs, not the SDK's maps), and each item is turned
/// by `read` into what the caller keeps while its answer's body, which it borrows from, is
/// still there.
///
/// Each request is one round trip in `cost`, whatever the SDK's attempts: an attempt whose
/// answer was cut mid-way is retried by the SDK (`wire::Fence`), and what it had cost
/// DynamoDB was never read; the items and units counted are those of the answer read.
pub(super) async fn query_items<T>(
    query: QueryFluentBuilder,
    start: Option<Item>,
    want: usize,
    cost: &mut ReadCost,
    mut read: impl FnMut(Pairs<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut items: Vec<T> = Vec::new();
    let mut start = start;
    while items.len() < want {
        let missing = want - items.len();
        let started = Instant::now();
        let fence = if SDK_READER { Fence::sdk() } else { Fence::wire() };
        let sent = query
            .clone()
            .limit(i32::try_from(missing).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .customize()
            .interceptor(fence.clone())
            .send()
            .await;
        let fail = |cost: &mut ReadCost, e: StoreError| {
            cost.add(0, None, started);
            Err(e)
        };
        let sdk_output = match sent {
            Ok(out) => out,
            Err(e) => return fail(cost, wire::query_error(e)),
        };
        let body = fence.take_body();
        let page = match body.as_ref().and_then(SdkBody::bytes) {
            Some(body) => QueryPage::read(body, missing.min(ROOM), &mut read),
            // Not taken (`sdk-reader`, or the SDK's reader could not be wrapped): the SDK
            // read the answer itself, so its output is the page.
            None => QueryPage::from_output(sdk_output, &mut read),
        };
        let page = match page {
            Ok(page) => page,
            Err(e) => return fail(cost, e),
        };
        cost.add_units(page.scanned_count.max(page.count), page.capacity_units, started);
        if let Some(e) = page.refused {
            return Err(e);
        }
        if items.is_empty() {
            items = page.items;
        } else {
            items.extend(page.items);
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    //! Query answers from a small endpoint of canned answers, through the production client
    //! (`client::config_loader`: its time-outs, retry mode and attempts), read by whichever
    //! reader this build has (`sdk-reader` or not): both must behave the same.

    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{Shutdown, TcpListener};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_sdk_dynamodb::config::{Credentials, Region};
    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;
    use crate::client::{self, MAX_ATTEMPTS};
    use crate::item::Value;

    /// A Query answer of two items, as DynamoDB writes it.
    const PAGE: &str = r#"{"Count":2,"Items":[{"pk":{"S":"C#1"},"n":{"N":"1"}},{"pk":{"S":"C#2"},"n":{"N":"2"}}],"ScannedCount":3,"ConsumedCapacity":{"TableName":"t","CapacityUnits":0.5}}"#;

    /// What the endpoint does with one request.
    #[derive(Debug, Clone, Copy)]
    enum Answer {
        /// `PAGE`, whole, with this Content-Type (`None`: without one).
        Whole(Option<&'static str>),
        /// `PAGE`'s head and half its body, then the connection closes.
        Cut,
    }

    struct Endpoint {
        url: String,
        requests: Arc<AtomicUsize>,
    }

    /// Serves each request (one per connection) as `plan(n)` says, n counting from 0; a
    /// request is counted once read, before it is answered.
    fn endpoint(plan: impl Fn(usize) -> Answer + Send + Sync + 'static) -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        let plan = Arc::new(plan);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { break };
                let (counter, plan) = (Arc::clone(&counter), Arc::clone(&plan));
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut length = 0;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let line = line.trim_end();
                        if line.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = value.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    let (content_type, sent) = match plan(n) {
                        Answer::Whole(content_type) => (content_type, PAGE.len()),
                        Answer::Cut => (Some(wire::DYNAMODB_JSON), PAGE.len() / 2),
                    };
                    let content_type = content_type.map(|t| format!("Content-Type: {t}\r\n"));
                    let head = format!(
                        "HTTP/1.1 200 OK\r\n{}x-amzn-RequestId: R{n}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        content_type.unwrap_or_default(),
                        PAGE.len()
                    );
                    let _ = conn.write_all(head.as_bytes());
                    let _ = conn.write_all(&PAGE.as_bytes()[..sent]);
                    let _ = conn.flush();
                    let _ = conn.shutdown(Shutdown::Both);
                });
            }
        });
        Endpoint { url, requests }
    }

    impl Endpoint {
        fn requests(&self) -> usize {
            self.requests.load(Ordering::SeqCst)
        }

        /// The items' `pk` of one page query through this endpoint, and what it cost.
        async fn query(&self) -> (Result<Vec<String>, StoreError>, ReadCost) {
            let sdk = client::config_loader()
                .endpoint_url(&self.url)
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
                .load()
                .await;
            let query = client::dynamodb_client(&sdk)
                .query()
                .table_name("t")
                .key_condition_expression("#p = :p")
                .expression_attribute_names("#p", "pk")
                .expression_attribute_values(":p", AttributeValue::S("C".into()));
            let mut cost = ReadCost::default();
            let items = query_items(query, None, 10, &mut cost, |pairs| {
                match pairs.iter().find(|(name, _)| name == "pk") {
                    Some((_, Value::S(pk))) => Ok(pk.to_string()),
                    _ => Err(StoreError::Dynamo("an item without pk".into())),
                }
            })
            .await;
            (items, cost)
        }
    }

    #[tokio::test]
    async fn the_wire_fence_takes_the_body_the_sdk_read_and_the_sdk_fence_leaves_it() {
        let endpoint = endpoint(|_| Answer::Whole(Some(wire::DYNAMODB_JSON)));
        let sdk = client::config_loader()
            .endpoint_url(&endpoint.url)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
            .load()
            .await;
        let query = client::dynamodb_client(&sdk).query().table_name("t");
        let fence = Fence::wire();
        let out = query
            .clone()
            .customize()
            .interceptor(fence.clone())
            .send()
            .await
            .unwrap();
        let body = fence.take_body().expect("the body, taken");
        assert_eq!(body.bytes(), Some(PAGE.as_bytes()));
        assert_eq!(out.count, 0, "the SDK read an empty object in its place");
        assert_eq!(out.items, None);

        let fence = Fence::sdk();
        let out = query.customize().interceptor(fence.clone()).send().await.unwrap();
        assert!(fence.take_body().is_none());
        assert_eq!((out.count, out.scanned_count), (2, 3), "the SDK read the answer");
    }

    /// The cost of one request that read `PAGE`.
    fn assert_one_page_read(cost: &ReadCost) {
        assert_eq!((cost.round_trips, cost.sequential_trips), (1, 1), "{cost:?}");
        assert_eq!(cost.items_read, 3, "PAGE's ScannedCount: {cost:?}");
        assert_eq!(cost.capacity_units, 0.5, "{cost:?}");
    }

    #[tokio::test]
    async fn an_answer_in_dynamodbs_media_type_is_read() {
        for content_type in [
            wire::DYNAMODB_JSON,
            "application/x-amz-json-1.0; charset=UTF-8",
            "Application/X-Amz-Json-1.0",
        ] {
            let endpoint = endpoint(move |_| Answer::Whole(Some(content_type)));
            let (items, cost) = endpoint.query().await;
            assert_eq!(items.unwrap(), ["C#1", "C#2"], "{content_type}");
            assert_one_page_read(&cost);
            assert_eq!(endpoint.requests(), 1);
        }
    }

    #[tokio::test]
    async fn a_successful_answer_in_another_media_type_is_refused_unread_and_not_retried() {
        for (content_type, named) in [
            (Some("text/html; charset=utf-8"), "\"text/html; charset=utf-8\""),
            (Some("application/json"), "\"application/json\""),
            (
                Some("application/x-amz-json-1.1"),
                "\"application/x-amz-json-1.1\"",
            ),
            (None, "without a Content-Type"),
        ] {
            // The body is a valid page: only the media type refuses it.
            let endpoint = endpoint(move |_| Answer::Whole(content_type));
            let (items, cost) = endpoint.query().await;
            let Err(StoreError::Dynamo(message)) = items else {
                panic!("{content_type:?}: {items:?}");
            };
            assert!(message.contains(named), "{content_type:?}: {message}");
            assert!(message.contains("application/x-amz-json-1.0"), "{message}");
            assert_eq!(endpoint.requests(), 1, "{content_type:?}: not retried");
            assert_eq!((cost.round_trips, cost.items_read), (1, 0), "{cost:?}");
            assert_eq!(cost.capacity_units, 0.0);
        }
    }

    #[tokio::test]
    async fn a_body_cut_mid_way_is_read_again_once() {
        let endpoint = endpoint(|n| {
            if n == 0 {
                Answer::Cut
            } else {
                Answer::Whole(Some(wire::DYNAMODB_JSON))
            }
        });
        let (items, cost) = endpoint.query().await;
        assert_eq!(items.unwrap(), ["C#1", "C#2"]);
        assert_eq!(
            endpoint.requests(),
            2,
            "the cut answer's request was sent again, once"
        );
        // One request of the store's, the SDK's second attempt included; what the cut answer
        // cost was never read, the answer read is counted.
        assert_one_page_read(&cost);
    }

    #[tokio::test]
    async fn a_body_cut_on_every_attempt_is_unavailable_after_the_sdks_attempts() {
        let endpoint = endpoint(|_| Answer::Cut);
        let (items, cost) = endpoint.query().await;
        assert!(matches!(items, Err(StoreError::Unavailable(_))), "{items:?}");
        assert_eq!(endpoint.requests(), MAX_ATTEMPTS as usize);
        assert_eq!((cost.round_trips, cost.items_read), (1, 0), "{cost:?}");
    }
}
