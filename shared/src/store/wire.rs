//! A Query's answer read straight from DynamoDB's JSON. The SDK would parse it into a
//! `HashMap<String, AttributeValue>` per item, SipHashing every attribute name, with a
//! token-by-token JSON reader: most of a warm inbox invocation's CPU (`make profile`,
//! docs/performance.md). Here the SDK still builds, signs, sends and retries the request,
//! reads the answer's body inside its attempt (so a body cut mid-way is retried like any
//! transient failure) and reads every error answer; only a successful answer's body, in
//! DynamoDB's own media type and nothing else ([`Fence`]), is kept from the SDK's
//! deserializer (which reads `{}` in its place) and read with serde_json. Each item
//! becomes the (name, value) pairs `item`'s readers take, in the order DynamoDB sent them,
//! each string or number borrowed from the body (`item::Value`) unless it holds escapes,
//! and is handed to the caller's reader as soon as it is parsed. With the `sdk-reader`
//! feature the store reads every answer with the SDK's deserializer instead
//! ([`QueryPage::from_output`]), behind the same fence: the tests hold both to the same
//! answers.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, FrozenLayer, Intercept, RuntimeComponents, RuntimePlugin};
use aws_sdk_dynamodb::error::{BoxError, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::{Query, QueryOutput};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::client::interceptors::context::{Error as OperationError, Output};
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, OrchestratorError};
use aws_smithy_runtime_api::client::ser_de::{DeserializeResponse, SharedResponseDeserializer};
use aws_smithy_types::body::SdkBody;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::{StoreError, classify, error_chain};
use crate::item::{self, Item, Name, Value};

/// An item's attributes as a Query answer lists them, their texts borrowed from it (`'a`).
pub type Pairs<'a> = Vec<(Name, Value<'a>)>;

/// What one Query answer says, its items each turned by the caller's reader into a `T`
/// as the answer is read: one item's attribute pairs at a time, never the whole page's
/// (100 conversations' pairs were a third of the memory a cold inbox request touched).
#[derive(Debug)]
pub struct QueryPage<T> {
    pub items: Vec<T>,
    /// The reader's error for the first item it refused; the items after it are not
    /// read. The rest of the answer is, so that what the request cost is still known.
    pub refused: Option<StoreError>,
    pub count: usize,
    pub scanned_count: usize,
    /// As the SDK's map, owning its texts: the next request's `ExclusiveStartKey`.
    pub last_evaluated_key: Option<Item>,
    pub capacity_units: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireCapacity {
    #[serde(default)]
    capacity_units: Option<f64>,
}

/// Room for an item's attributes before its list grows: the 13 a conversation or a message
/// has. 16 pairs of 56 bytes stay under glibc's per-thread cache limit (1,032 bytes), so
/// the list of each item is taken from and given back to that cache; 20 pairs of 88 bytes
/// (before `item::Value` boxed other types) went to the general allocator each time.
const PAIRS: usize = 16;

/// One item (or key) of an answer: its attributes in the answer's order.
#[derive(Debug, Default)]
struct WireItem<'a>(Pairs<'a>);

impl<T> QueryPage<T> {
    /// An answer's body as DynamoDB documents it, each item read by `read` with its texts
    /// borrowed from `body`, into a list with room for `expected` items (what was asked
    /// for, at most: a list grown from empty to 101 inbox entries was copied five times).
    /// UTF-8 is checked once for the whole body, then read as text: serde_json's byte
    /// reader checks every string again.
    pub fn read<'b>(
        body: &'b [u8],
        expected: usize,
        read: &mut impl FnMut(Pairs<'b>) -> Result<T, StoreError>,
    ) -> Result<QueryPage<T>, StoreError> {
        let invalid = |e: &dyn std::fmt::Display| {
            StoreError::Dynamo(format!("DynamoDB's Query answer is not what it documents: {e}"))
        };
        let text = std::str::from_utf8(body).map_err(|e| invalid(&e))?;
        let mut deserializer = serde_json::Deserializer::from_str(text);
        de::DeserializeSeed::deserialize(Page { read, expected }, &mut deserializer)
            .and_then(|page| deserializer.end().map(|()| page))
            .map_err(|e| invalid(&e))
    }

    /// The page of an answer the SDK read itself.
    pub fn from_output(
        out: QueryOutput,
        read: &mut impl FnMut(Pairs<'static>) -> Result<T, StoreError>,
    ) -> Result<QueryPage<T>, StoreError> {
        let pairs = |item: Item| -> Pairs<'static> {
            item.into_iter()
                .map(|(k, v)| (Name::Owned(k), Value::from(v)))
                .collect()
        };
        let mut items = Vec::new();
        let mut refused = None;
        for item in out.items.unwrap_or_default() {
            match read(pairs(item)) {
                Ok(item) => items.push(item),
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
        Ok(QueryPage {
            count: usize::try_from(out.count).unwrap_or(0),
            scanned_count: usize::try_from(out.scanned_count).unwrap_or(0),
            capacity_units: out.consumed_capacity.and_then(|c| c.capacity_units),
            items,
            refused,
            last_evaluated_key: out.last_evaluated_key,
        })
    }
}

impl WireItem<'_> {
    /// As the SDK's map, owning its texts.
    fn into_item(self) -> Item {
        self.0
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.into_attribute()))
            .collect()
    }
}

/// The answer's object, read with the caller's item reader.
struct Page<'r, F> {
    read: &'r mut F,
    expected: usize,
}

impl<'de, T, F: FnMut(Pairs<'de>) -> Result<T, StoreError>> de::DeserializeSeed<'de> for Page<'_, F> {
    type Value = QueryPage<T>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<QueryPage<T>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T, F: FnMut(Pairs<'de>) -> Result<T, StoreError>> Visitor<'de> for Page<'_, F> {
    type Value = QueryPage<T>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a Query answer: an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<QueryPage<T>, A::Error> {
        let mut page = QueryPage {
            items: Vec::with_capacity(self.expected),
            refused: None,
            count: 0,
            scanned_count: 0,
            last_evaluated_key: None,
            capacity_units: None,
        };
        while let Some(Text(key)) = map.next_key::<Text>()? {
            match key.as_ref() {
                "Items" => map.next_value_seed(Items {
                    read: &mut *self.read,
                    out: &mut page.items,
                    refused: &mut page.refused,
                })?,
                "Count" => page.count = map.next_value()?,
                "ScannedCount" => page.scanned_count = map.next_value()?,
                "LastEvaluatedKey" => {
                    page.last_evaluated_key = map.next_value::<Option<WireItem>>()?.map(WireItem::into_item);
                }
                "ConsumedCapacity" => {
                    page.capacity_units = map
                        .next_value::<Option<WireCapacity>>()?
                        .and_then(|c| c.capacity_units);
                }
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        Ok(page)
    }
}

/// `Items`: each item read by the caller's reader as soon as it is parsed, until the
/// reader refuses one (its error kept in `refused`, the rest skipped).
struct Items<'r, T, F> {
    read: &'r mut F,
    out: &'r mut Vec<T>,
    refused: &'r mut Option<StoreError>,
}

impl<'de, T, F: FnMut(Pairs<'de>) -> Result<T, StoreError>> de::DeserializeSeed<'de> for Items<'_, T, F> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, T, F: FnMut(Pairs<'de>) -> Result<T, StoreError>> Visitor<'de> for Items<'_, T, F> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of DynamoDB items")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(WireItem(pairs)) = seq.next_element()? {
            match (self.read)(pairs) {
                Ok(item) => self.out.push(item),
                Err(e) => {
                    *self.refused = Some(e);
                    while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// The media type of DynamoDB's answers (its `awsJson1_0` protocol): the only one a
/// successful answer is read in.
pub const DYNAMODB_JSON: &str = "application/x-amz-json-1.0";

/// A successful answer in another media type than DynamoDB's (a proxy's or a captive
/// portal's page, a misrouted endpoint): refused before its body is read, saying what came.
#[derive(Debug)]
pub struct NotDynamoJson {
    status: u16,
    /// As it came, cut to 100 characters; `None` without the header.
    content_type: Option<String>,
}

impl std::fmt::Display for NotDynamoJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.status;
        match &self.content_type {
            Some(t) => write!(
                f,
                "DynamoDB answered {status} with Content-Type {t:?}, not {DYNAMODB_JSON:?}"
            ),
            None => write!(
                f,
                "DynamoDB answered {status} without a Content-Type, not {DYNAMODB_JSON:?}"
            ),
        }
    }
}

impl std::error::Error for NotDynamoJson {}

/// Whether `content_type` is DynamoDB's JSON: the media type compared as HTTP compares
/// them (case aside), parameters (`; charset=…`) ignored.
fn is_dynamodb_json(content_type: &str) -> bool {
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    media_type.eq_ignore_ascii_case(DYNAMODB_JSON)
}

/// The check a successful answer passes before it is deserialized, by either reader.
fn check_content_type(response: &HttpResponse) -> Result<(), NotDynamoJson> {
    let content_type = response.headers().get("content-type");
    if content_type.is_some_and(is_dynamodb_json) {
        return Ok(());
    }
    Err(NotDynamoJson {
        status: response.status().as_u16(),
        content_type: content_type.map(|t| t.chars().take(100).collect()),
    })
}

/// The SDK's own reader of Query answers, the one its `Query` operation installs (its
/// configuration layer, built once): what [`Collect`] hands error answers and the empty
/// object to.
fn sdk_query_deserializer() -> Option<&'static SharedResponseDeserializer> {
    static QUERY: LazyLock<Option<FrozenLayer>> = LazyLock::new(|| RuntimePlugin::config(&Query::new()));
    QUERY.as_ref()?.load::<SharedResponseDeserializer>()
}

/// What a Query sends its answers through (`customize().interceptor(…)`), one per request:
///
/// - A successful answer whose Content-Type is not [`DYNAMODB_JSON`] is refused with
///   [`NotDynamoJson`], before its body is read; the SDK does not retry it (a store error
///   naming what came: [`query_error`]). Error answers are left to the SDK as always.
/// - With [`Fence::wire`], a successful answer's body is read by the SDK itself, inside its
///   attempt (its time-out, and its retries: a body cut mid-way, a connection reset, is a
///   transient error the SDK sends the request again for), and then taken
///   ([`Fence::take_body`]) instead of deserialized, the SDK reading `{}` in its place.
///   [`Fence::sdk`] leaves the body to the SDK's deserializer (`--features sdk-reader`).
#[derive(Debug, Clone)]
pub struct Fence {
    /// Whether the body is taken ([`Fence::wire`]).
    take: bool,
    body: Arc<Mutex<Option<SdkBody>>>,
}

impl Fence {
    /// The answer's body taken for [`QueryPage::read`].
    pub fn wire() -> Fence {
        Fence {
            take: true,
            body: Arc::default(),
        }
    }

    /// The answer read by the SDK's own deserializer, into its `QueryOutput`.
    pub fn sdk() -> Fence {
        Fence {
            take: false,
            body: Arc::default(),
        }
    }

    /// The body of the successful answer, read whole by the SDK's attempt that received it;
    /// `None` when none was taken (`Fence::sdk`, or the SDK's reader could not be wrapped:
    /// the SDK's output is the page then).
    pub fn take_body(&self) -> Option<SdkBody> {
        self.body.lock().ok().and_then(|mut slot| slot.take())
    }
}

impl Intercept for Fence {
    fn name(&self) -> &'static str {
        "Fence"
    }

    /// Once per operation, before its attempts: the SDK's reader of the answer is replaced
    /// by [`Collect`] (the orchestrator takes it from the configuration, this layer first).
    fn read_before_execution(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.take
            && let Some(sdk) = sdk_query_deserializer()
        {
            cfg.interceptor_state()
                .store_put(SharedResponseDeserializer::new(Collect {
                    sdk,
                    body: Arc::clone(&self.body),
                }));
        }
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response();
        if response.status().is_success() {
            check_content_type(response)?;
        }
        Ok(())
    }
}

/// The SDK's reader of Query answers, except that a successful answer's body (which the
/// SDK has read whole by then, inside the attempt) is kept for [`QueryPage::read`] and the
/// SDK reads an empty object in its place (its output then says nothing; the page is read
/// from the body). Error answers go to the SDK's reader untouched.
#[derive(Debug)]
struct Collect {
    sdk: &'static SharedResponseDeserializer,
    body: Arc<Mutex<Option<SdkBody>>>,
}

impl DeserializeResponse for Collect {
    fn deserialize_streaming_with_config(
        &self,
        response: &mut HttpResponse,
        cfg: &ConfigBag,
    ) -> Option<Result<Output, OrchestratorError<OperationError>>> {
        self.sdk.deserialize_streaming_with_config(response, cfg)
    }

    fn deserialize_nonstreaming_with_config(
        &self,
        response: &HttpResponse,
        cfg: &ConfigBag,
    ) -> Result<Output, OrchestratorError<OperationError>> {
        if !response.status().is_success() {
            return self.sdk.deserialize_nonstreaming_with_config(response, cfg);
        }
        // In memory by now (the SDK read it): a clone shares its bytes.
        let body = response.body().try_clone().filter(|b| b.bytes().is_some());
        let (Some(body), Ok(mut slot)) = (body, self.body.lock()) else {
            return self.sdk.deserialize_nonstreaming_with_config(response, cfg);
        };
        *slot = Some(body);
        let mut empty = HttpResponse::new(response.status(), SdkBody::from("{}"));
        if let Some(id) = response.headers().get(REQUEST_ID) {
            empty.headers_mut().insert(REQUEST_ID, id.to_string());
        }
        self.sdk.deserialize_nonstreaming_with_config(&empty, cfg)
    }
}

/// The header DynamoDB names its answer with, which the SDK's output keeps.
const REQUEST_ID: &str = "x-amzn-requestid";

/// A Query that failed, as the store reports it: an answer refused for its media type is
/// that ([`StoreError::Dynamo`], naming what came); any other answer the SDK could not
/// read — its body cut off, the connection reset mid-way, after the SDK's attempts — is
/// DynamoDB unavailable, like a connection that failed before the answer
/// ([`StoreError::Unavailable`]); the rest as `error::classify` sorts it.
pub fn query_error<E>(err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = source {
        if e.is::<NotDynamoJson>() {
            return StoreError::Dynamo(error_chain(&err));
        }
        source = e.source();
    }
    match err {
        SdkError::ResponseError(_) => StoreError::Unavailable(format!(
            "DynamoDB's answer could not be read: {}",
            error_chain(&err)
        )),
        err => classify(err),
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for WireItem<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Attributes<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Attributes<'a> {
            type Value = WireItem<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a DynamoDB item: an object of attribute values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireItem<'a>, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(PAIRS));
                while let Some(AttributeName(name)) = map.next_key()? {
                    let Wire(value) = map.next_value()?;
                    pairs.push((name, value));
                }
                Ok(WireItem(pairs))
            }
        }
        deserializer.deserialize_map(Attributes(std::marker::PhantomData))
    }
}

/// An attribute's name: one of this project's, borrowed, or else its own copy.
struct AttributeName(Name);

impl<'de> Deserialize<'de> for AttributeName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Named;
        impl<'de> Visitor<'de> for Named {
            type Value = AttributeName;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an attribute name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<AttributeName, E> {
                Ok(AttributeName(match item::known_name(name) {
                    Some(known) => Name::Borrowed(known),
                    None => Name::Owned(name.to_string()),
                }))
            }
        }
        deserializer.deserialize_str(Named)
    }
}

/// A string's text: borrowed from the answer, unless JSON escapes in it had to be undone.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Texts<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Texts<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(Texts(std::marker::PhantomData))
    }
}

/// One attribute value in DynamoDB's JSON: an object with one member naming its type.
struct Wire<'a>(Value<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for Wire<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Typed<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Typed<'a> {
            type Value = Wire<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a DynamoDB attribute value such as {\"S\": \"…\"}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Wire<'a>, A::Error> {
                // Read as `Text`: serde's own `Cow<str>` would copy every type name.
                let Some(Text(kind)) = map.next_key::<Text>()? else {
                    return Err(de::Error::custom("an attribute value without a type"));
                };
                let value = match kind.as_ref() {
                    "S" => Value::S(map.next_value::<Text>()?.0),
                    "N" => Value::N(map.next_value::<Text>()?.0),
                    "BOOL" => Value::Bool(map.next_value()?),
                    "NULL" => {
                        map.next_value::<bool>()?;
                        Value::Null
                    }
                    other => Value::Other(Box::new(sdk_value(other, &mut map)?)),
                };
                if map.next_key::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::custom("an attribute value with more than one type"));
                }
                Ok(Wire(value))
            }
        }
        deserializer.deserialize_map(Typed(std::marker::PhantomData))
    }
}

/// A value of a type this project's items do not hold (sets, lists, maps, binaries), as
/// the SDK's.
fn sdk_value<'de, A: MapAccess<'de>>(kind: &str, map: &mut A) -> Result<AttributeValue, A::Error> {
    Ok(match kind {
        "SS" => AttributeValue::Ss(map.next_value()?),
        "NS" => AttributeValue::Ns(map.next_value()?),
        "B" => AttributeValue::B(blob(&map.next_value::<String>()?)?),
        "BS" => AttributeValue::Bs(
            map.next_value::<Vec<String>>()?
                .iter()
                .map(|b| blob(b))
                .collect::<Result<_, _>>()?,
        ),
        "L" => AttributeValue::L(map.next_value::<List>()?.0),
        "M" => AttributeValue::M(map.next_value::<WireItem>()?.into_item()),
        other => return Err(de::Error::custom(format!("unknown attribute type {other:?}"))),
    })
}

struct List(Vec<AttributeValue>);

impl<'de> Deserialize<'de> for List {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Values;
        impl<'de> Visitor<'de> for Values {
            type Value = List;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of DynamoDB attribute values")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List, A::Error> {
                let mut values = Vec::new();
                while let Some(Wire(v)) = seq.next_element()? {
                    values.push(v.into_attribute());
                }
                Ok(List(values))
            }
        }
        deserializer.deserialize_seq(Values)
    }
}

fn blob<E: de::Error>(base64: &str) -> Result<Blob, E> {
    aws_smithy_types::base64::decode(base64)
        .map(Blob::new)
        .map_err(|e| E::custom(format!("a binary attribute that is not base64: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer read with the items left as their pairs.
    fn page(json: &str) -> QueryPage<Pairs<'_>> {
        QueryPage::read(json.as_bytes(), 4, &mut Ok).unwrap()
    }

    #[test]
    fn an_answer_reads_as_dynamodb_documents_it() {
        let p = page(
            r#"{"Count":2,"ScannedCount":3,"ConsumedCapacity":{"TableName":"t","CapacityUnits":1.5},
                "Items":[{"pk":{"S":"C#1"},"n":{"N":"12"},"b":{"BOOL":true},"z":{"NULL":true},
                          "s":{"S":"caf\u00e9 \"quoted\" \n 😀"}},
                         {"l":{"L":[{"S":"a"},{"N":"1"}]},"m":{"M":{"k":{"S":"v"}}},"ss":{"SS":["x","y"]},
                          "ns":{"NS":["1","2"]},"bin":{"B":"aGk="},"bs":{"BS":["aGk="]}}],
                "LastEvaluatedKey":{"pk":{"S":"C#1"},"sk":{"S":"META"}},"Unknown":[1,{"x":null}]}"#,
        );
        assert_eq!((p.count, p.scanned_count), (2, 3));
        assert_eq!(p.capacity_units, Some(1.5));
        let first = &p.items[0];
        assert_eq!(first[0], (Name::from("pk"), Value::S("C#1".into())));
        // The project's attribute names are not copied; others are.
        assert!(matches!(first[0].0, Name::Borrowed(_)));
        assert!(matches!(first[1].0, Name::Owned(_)));
        assert_eq!(first[1].1, Value::N("12".into()));
        assert_eq!(first[2].1, Value::Bool(true));
        assert_eq!(first[3].1, Value::Null);
        assert_eq!(first[4].1, Value::S("café \"quoted\" \n 😀".into()));
        // Texts are lent by the answer, unless escapes in them had to be undone.
        assert!(matches!(&first[0].1, Value::S(Cow::Borrowed("C#1"))));
        assert!(matches!(&first[1].1, Value::N(Cow::Borrowed("12"))));
        assert!(matches!(&first[4].1, Value::S(Cow::Owned(_))));
        let second: Item = p.items[1]
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone().into_attribute()))
            .collect();
        assert_eq!(
            second["l"],
            AttributeValue::L(vec![AttributeValue::S("a".into()), AttributeValue::N("1".into())])
        );
        assert_eq!(
            second["m"],
            AttributeValue::M(Item::from([("k".into(), AttributeValue::S("v".into()))]))
        );
        assert_eq!(second["ss"], AttributeValue::Ss(vec!["x".into(), "y".into()]));
        assert_eq!(second["ns"], AttributeValue::Ns(vec!["1".into(), "2".into()]));
        assert_eq!(second["bin"], AttributeValue::B(Blob::new("hi")));
        assert_eq!(second["bs"], AttributeValue::Bs(vec![Blob::new("hi")]));
        let key = p.last_evaluated_key.unwrap();
        assert_eq!(key["sk"], AttributeValue::S("META".into()));
    }

    #[test]
    fn each_item_is_read_as_it_is_parsed_until_the_reader_refuses_one() {
        let json = r#"{"Items":[{"id":{"N":"1"}},{"id":{"S":"x"}},{"id":{"N":"3"}}],
                       "Count":3,"ScannedCount":4,"ConsumedCapacity":{"CapacityUnits":2.5}}"#;
        let mut seen = Vec::new();
        let p = QueryPage::read(json.as_bytes(), 4, &mut |pairs: Pairs<'_>| {
            seen.push(pairs.len());
            match &pairs[0].1 {
                Value::N(n) => Ok(n.to_string()),
                _ => Err(StoreError::BadItem {
                    what: "test",
                    reason: "id: not a number".into(),
                }),
            }
        })
        .unwrap();
        assert_eq!(seen, [1, 1], "reading stops at the item its reader refused");
        assert_eq!(p.items, ["1"]);
        assert!(
            matches!(p.refused, Some(StoreError::BadItem { .. })),
            "{:?}",
            p.refused
        );
        // What the request cost is still read, after the refused item.
        assert_eq!((p.count, p.scanned_count, p.capacity_units), (3, 4, Some(2.5)));
    }

    #[test]
    fn an_answer_the_sdk_read_itself_is_the_same_page() {
        let item = Item::from([("pk".to_string(), AttributeValue::S("C#1".into()))]);
        let out = QueryOutput::builder()
            .items(item.clone())
            .count(1)
            .scanned_count(2)
            .last_evaluated_key("pk", AttributeValue::S("C#1".into()))
            .consumed_capacity(
                aws_sdk_dynamodb::types::ConsumedCapacity::builder()
                    .capacity_units(0.5)
                    .build(),
            )
            .build();
        let p = QueryPage::from_output(out, &mut Ok).unwrap();
        assert_eq!((p.count, p.scanned_count), (1, 2));
        assert_eq!(p.capacity_units, Some(0.5));
        assert_eq!(p.items, vec![vec![(Name::from("pk"), Value::S("C#1".into()))]]);
        assert_eq!(p.last_evaluated_key, Some(item));
    }

    #[test]
    fn dynamodbs_media_type_is_compared_as_http_compares_media_types() {
        for ok in [
            "application/x-amz-json-1.0",
            "APPLICATION/X-AMZ-JSON-1.0",
            "application/x-amz-json-1.0;charset=UTF-8",
            " application/x-amz-json-1.0 ; charset=utf-8",
        ] {
            assert!(is_dynamodb_json(ok), "{ok}");
        }
        for refused in [
            "",
            "application/json",
            "application/x-amz-json-1.1",
            "application/x-amz-json-1.0x",
            "text/html; application/x-amz-json-1.0",
            "application/x-amz-cbor-1.1",
        ] {
            assert!(!is_dynamodb_json(refused), "{refused}");
        }
    }

    #[test]
    fn a_refused_answer_names_what_came_cut_short() {
        let e = NotDynamoJson {
            status: 200,
            content_type: Some("text/html".into()),
        };
        assert_eq!(
            e.to_string(),
            "DynamoDB answered 200 with Content-Type \"text/html\", not \"application/x-amz-json-1.0\""
        );
        let mut response = HttpResponse::new(200.try_into().unwrap(), SdkBody::from("{}"));
        response.headers_mut().insert("content-type", "x".repeat(500));
        let e = check_content_type(&response).unwrap_err();
        assert_eq!(e.content_type.map(|t| t.len()), Some(100));
    }

    #[test]
    fn the_sdks_own_query_reader_is_there_to_wrap() {
        // Without it `Fence::wire` leaves the answer to the SDK (correct, but the slow reader).
        assert!(sdk_query_deserializer().is_some());
    }

    #[test]
    fn an_empty_answer_has_no_items_and_no_key() {
        let p = page(r#"{"Count":0,"Items":[],"ScannedCount":0}"#);
        assert!(p.items.is_empty() && p.last_evaluated_key.is_none());
        let p = page("{}");
        assert!(p.items.is_empty() && p.capacity_units.is_none());
    }

    #[test]
    fn values_that_are_not_dynamodbs_are_errors() {
        for bad in [
            r#"{"Items":[{"a":{"X":"1"}}]}"#,
            r#"{"Items":[{"a":{}}]}"#,
            r#"{"Items":[{"a":{"S":"1","N":"1"}}]}"#,
            r#"{"Items":[{"a":{"S":1}}]}"#,
            r#"{"Items":[{"a":{"B":"not base64!"}}]}"#,
            r#"{"Items":[["a"]]}"#,
            r#"{"Items":[]} trailing"#,
            "[]",
        ] {
            let e = QueryPage::read(bad.as_bytes(), 4, &mut Ok).unwrap_err();
            assert!(matches!(e, StoreError::Dynamo(_)), "{bad}: {e}");
        }
    }
}
