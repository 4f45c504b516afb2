//! The API Gateway HTTP API (payload 2.0) event, read as the handlers need it, and their
//! answer in the shape API Gateway expects.
//!
//! Not lambda_http, whose event conversion `expect`s the client's raw path and query
//! string to form a valid URI, a base64 body to decode and every header value to be
//! visible ASCII. A panic there — with `panic = "abort"` — kills the process mid-request:
//! the client gets a 502 and the next one a cold start. Reading only the fields the
//! handlers use into the project's own `Request` makes every well-formed event a request,
//! whatever the client put in it, and skips building a header map nobody reads.

use std::collections::HashMap;

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, Method, Response};
use serde::ser::{SerializeMap, SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::request::{Request, query_pairs};
use super::response::EscapedJson;

/// The fields of an HTTP API event the handlers read; everything else is skipped. Every
/// field may be absent or null (`cargo lambda watch` leaves some out).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpEvent {
    #[serde(default)]
    pub raw_path: Option<String>,
    #[serde(default)]
    pub raw_query_string: Option<String>,
    #[serde(default)]
    pub path_parameters: Option<HashMap<String, String>>,
    #[serde(default)]
    pub request_context: Option<EventContext>,
    #[serde(default)]
    pub headers: Option<EventHeaders>,
}

/// The two request headers the functions read (`access`); the others are skipped unread.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventHeaders {
    /// The front's secret (`access::SECRET_HEADER`).
    #[serde(default, rename = "x-origin-verify")]
    pub secret: Option<String>,
    /// The signed-in user, as the front names them (`access::USER_HEADER`).
    #[serde(default, rename = "x-dashboard-user")]
    pub user: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventContext {
    /// The route API Gateway matched, `GET /api/conversations/{id}/messages`: what the
    /// access log names instead of the raw path (which carries client input).
    #[serde(default)]
    pub route_key: Option<String>,
    #[serde(default)]
    pub http: Option<EventHttp>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventHttp {
    #[serde(default)]
    pub method: Option<String>,
}

/// Stands for a method that is not an HTTP token: no route accepts it (405).
fn invalid_method() -> Method {
    // "INVALID" is a valid token, so this never falls back; TRACE would be a 405 too.
    Method::from_bytes(b"INVALID").unwrap_or(Method::TRACE)
}

impl HttpEvent {
    pub fn route_key(&self) -> &str {
        self.request_context
            .as_ref()
            .and_then(|c| c.route_key.as_deref())
            .unwrap_or("")
    }

    /// The request the handlers read: method, raw path, the `{id}` path parameter, the
    /// query's pairs (decoded from the raw query string, as browsers encode forms) and
    /// `request_id`. Never fails: a method that is not an HTTP token becomes one no route
    /// accepts (405).
    pub fn into_request(self, request_id: String) -> Request {
        let method = self
            .request_context
            .as_ref()
            .and_then(|c| c.http.as_ref())
            .and_then(|h| h.method.as_deref())
            .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
            .unwrap_or_else(invalid_method);
        Request {
            method,
            path: self.raw_path.unwrap_or_default(),
            path_id: self.path_parameters.and_then(|mut p| p.remove("id")),
            query: query_pairs(self.raw_query_string.as_deref().unwrap_or("")),
            request_id,
        }
    }
}

/// A handler's response as API Gateway takes it: headers, text body, never base64. What
/// the tests and the benchmark read in process; the runtime loop sends [`into_api_gateway_json`].
pub fn into_api_gateway(response: Response<EscapedJson>) -> ApiGatewayV2httpResponse {
    let (parts, body) = response.into_parts();
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(parts.status.as_u16());
    out.headers = parts.headers;
    out.multi_value_headers = HeaderMap::new();
    out.body = Some(Body::Text(body.to_json()));
    out.is_base64_encoded = false;
    out
}

/// The same response as the runtime hands it to the Runtime API: `ApiGatewayV2httpResponse`'s
/// fields, in its order, with the body inserted as it was rendered, already a JSON string
/// (a [`RawValue`], which serde_json writes as it is). Serializing the struct would scan,
/// escape and copy the whole body a second time (docs/performance.md, "escaping the
/// answer").
///
/// The whole response is written here, into a buffer sized for it, and handed over as one
/// raw value: the runtime's `serde_json::to_vec` then makes room for it exactly, once.
/// Handed the fields, it made room for the body exactly and then doubled its buffer for
/// the fields after it: twice an inbox page's size, fresh pages of memory on a cold start.
pub fn into_api_gateway_json(response: Response<EscapedJson>) -> ApiGatewayJson {
    let (parts, body) = response.into_parts();
    let body = body.into_json_string();
    debug_assert!(serde_json::from_str::<String>(&body).is_ok(), "{body}");
    // SAFETY: `EscapedJson` only ever holds a JSON string, quotes included (debug builds
    // re-parse it above).
    let body = unsafe { RawValue::from_string_unchecked(body) };
    let fields = Fields {
        status: parts.status.as_u16(),
        headers: &parts.headers,
        body: &body,
    };
    // Room for the body and the fields around it (~250 bytes with a 503's or 405's extra
    // header); a longer head only grows the buffer once.
    let mut whole = Vec::with_capacity(body.get().len() + 512);
    // Writing to a Vec does not fail, the fields hold nothing serde_json refuses, and what
    // it writes is UTF-8; were it otherwise, API Gateway gets a 500 rather than half a response.
    let whole = match serde_json::to_writer(&mut whole, &fields) {
        Ok(()) => String::from_utf8(whole).unwrap_or_else(|_| INTERNAL_ERROR.to_string()),
        Err(_) => INTERNAL_ERROR.to_string(),
    };
    debug_assert!(serde_json::from_str::<serde_json::Value>(&whole).is_ok());
    // SAFETY: serde_json wrote it (or it is the constant above): one JSON object (debug
    // builds re-parse it above).
    ApiGatewayJson(unsafe { RawValue::from_string_unchecked(whole) })
}

/// What `into_api_gateway_json` hands over should writing the response ever fail.
const INTERNAL_ERROR: &str = r#"{"statusCode":500,"headers":{"content-type":"application/json; charset=utf-8"},"multiValueHeaders":{},"body":"{\"success\":false,\"error\":\"internal\",\"code\":\"internal\"}","isBase64Encoded":false,"cookies":[]}"#;

/// A response as API Gateway reads it from the Runtime API (see [`into_api_gateway_json`]):
/// its JSON, whole.
#[derive(Debug)]
pub struct ApiGatewayJson(Box<RawValue>);

impl Serialize for ApiGatewayJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// `ApiGatewayV2httpResponse`'s fields, the body already JSON.
struct Fields<'a> {
    status: u16,
    headers: &'a HeaderMap,
    body: &'a RawValue,
}

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// As `ApiGatewayV2httpResponse` writes them: one entry per name, its first value.
        struct Headers<'a>(&'a HeaderMap);
        impl Serialize for Headers<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(self.0.keys_len()))?;
                for name in self.0.keys() {
                    let value = self.0.get(name).map(|v| v.as_bytes()).unwrap_or_default();
                    map.serialize_entry(name.as_str(), &String::from_utf8_lossy(value))?;
                }
                map.end()
            }
        }
        let empty: [(); 0] = [];
        let mut out = serializer.serialize_struct("ApiGatewayV2httpResponse", 6)?;
        out.serialize_field("statusCode", &self.status)?;
        out.serialize_field("headers", &Headers(self.headers))?;
        out.serialize_field("multiValueHeaders", &HashMap::<(), ()>::new())?;
        out.serialize_field("body", self.body)?;
        out.serialize_field("isBase64Encoded", &false)?;
        out.serialize_field("cookies", &empty)?;
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::http::StatusCode;
    use serde_json::json;

    fn event(v: serde_json::Value) -> HttpEvent {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_access_headers_are_read_by_their_names() {
        use crate::access::{SECRET_HEADER, USER_HEADER};
        let e = event(json!({"headers": {SECRET_HEADER: "s", USER_HEADER: "ana", "host": "h"}}));
        let headers = e.headers.unwrap();
        assert_eq!(headers.secret.as_deref(), Some("s"));
        assert_eq!(headers.user.as_deref(), Some("ana"));
        assert!(event(json!({"headers": null})).headers.is_none());
    }

    #[test]
    fn hostile_raw_parts_still_make_a_request() {
        let e = event(json!({
            "rawPath": "/api/conversations/7/messages\u{0}<\"{}|\\^`> %zz",
            "rawQueryString": "limit=%zz&a b=\"c\"#frag&offset=1&offset=2",
            "pathParameters": {"id": "7"},
            "headers": {"x": "caf\u{e9}"},
            "body": "not base64!", "isBase64Encoded": true,
            "requestContext": {"routeKey": "GET /x", "http": {"method": "G E T"}}
        }));
        assert_eq!(e.route_key(), "GET /x");
        let req = e.into_request("r-1".into());
        assert_eq!(req.method.as_str(), "INVALID");
        assert!(req.path.starts_with("/api/conversations/7/messages"));
        assert_eq!(req.query_last("offset"), Some("2"));
        assert_eq!(req.query_last("limit"), Some("%zz"));
        assert_eq!(req.path_id.as_deref(), Some("7"));
        assert_eq!(req.request_id, "r-1");
    }

    /// A body with everything JSON escapes, inside strings and as map keys.
    fn tricky() -> serde_json::Value {
        json!({
            "success": true,
            "text": "quote \" backslash \\ slash / newline \n tab \t cr \r bell \u{7} nul \u{0} del \u{7f} backspace \u{8} form feed \u{c}",
            "unicode": "café 😀 \u{2028} ñ",
            "n": [1, -2, 3.5, null, false],
            "key \"quoted\"\n": {}
        })
    }

    fn response() -> Response<EscapedJson> {
        let mut r = crate::http::response::error(
            "Error \"legacy\"",
            &crate::http::response::ApiError::method_not_allowed(),
        );
        *r.body_mut() = crate::http::response::json(StatusCode::OK, &tricky()).into_body();
        r
    }

    #[test]
    fn the_escaped_body_is_the_json_body() {
        let body = crate::http::response::json(StatusCode::OK, &tricky()).into_body();
        assert_eq!(body.to_json(), serde_json::to_string(&tricky()).unwrap());
        let json_string = body.as_json_string();
        assert!(
            json_string.starts_with('"') && json_string.ends_with('"'),
            "{json_string}"
        );
        let as_string: String = serde_json::from_str(json_string).unwrap();
        assert_eq!(as_string, serde_json::to_string(&tricky()).unwrap());
    }

    #[test]
    fn the_written_answer_is_the_serialized_api_gateway_response() {
        let written: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&into_api_gateway_json(response())).unwrap())
                .unwrap();
        let serialized = serde_json::to_value(into_api_gateway(response())).unwrap();
        assert_eq!(written, serialized);
        assert_eq!(written["statusCode"], 405);
        assert_eq!(written["headers"]["allow"], "GET");
        let body: serde_json::Value = serde_json::from_str(written["body"].as_str().unwrap()).unwrap();
        assert_eq!(body, tricky());
        let fallback: serde_json::Value = serde_json::from_str(INTERNAL_ERROR).unwrap();
        assert_eq!(fallback["statusCode"], 500);
        assert_eq!(
            fallback["body"],
            r#"{"success":false,"error":"internal","code":"internal"}"#
        );
        // As the runtime writes it (`serde_json::to_vec`): room made once, exactly.
        let sent = serde_json::to_vec(&into_api_gateway_json(response())).unwrap();
        assert_eq!(sent.capacity(), sent.len());
    }

    #[test]
    fn nulls_and_missing_fields_are_an_empty_request() {
        let req = event(json!({"rawPath": null, "pathParameters": null, "requestContext": null}))
            .into_request(String::new());
        assert_eq!(req.path, "");
        assert!(req.query.is_empty() && req.path_id.is_none());
    }
}
