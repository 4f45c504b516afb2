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
use serde::Deserialize;

use super::request::{Request, query_pairs};

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

/// A handler's response as API Gateway takes it: headers, text body, never base64.
pub fn into_api_gateway(response: Response<String>) -> ApiGatewayV2httpResponse {
    let (parts, body) = response.into_parts();
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(parts.status.as_u16());
    out.headers = parts.headers;
    out.multi_value_headers = HeaderMap::new();
    out.body = Some(Body::Text(body));
    out.is_base64_encoded = false;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(v: serde_json::Value) -> HttpEvent {
        serde_json::from_value(v).unwrap()
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

    #[test]
    fn nulls_and_missing_fields_are_an_empty_request() {
        let req = event(json!({"rawPath": null, "pathParameters": null, "requestContext": null}))
            .into_request(String::new());
        assert_eq!(req.path, "");
        assert!(req.query.is_empty() && req.path_id.is_none());
    }
}
