//! The contract's responses: JSON bodies with the three headers, and the error envelope.

use std::io;

use aws_lambda_events::http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter};

use crate::error::StoreError;
use crate::string_json::{self, StringJson, WriteJson};

/// What went wrong, as the client sees it: status, `code` and `detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
}

impl ApiError {
    pub fn invalid(detail: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_parameter",
            detail: detail.into(),
        }
    }

    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            detail: detail.into(),
        }
    }

    /// A request the access mode refuses: without the front's secret header (the API's own
    /// address, or a front that does not add it). Says where to go, not what is missing.
    pub fn forbidden() -> ApiError {
        ApiError {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            detail: "this API answers only through the dashboard's own address, after sign-in".into(),
        }
    }

    pub fn method_not_allowed() -> ApiError {
        ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "method_not_allowed",
            detail: "only GET is allowed".into(),
        }
    }

    /// A store failure as the client may see it: the cause stays in the log, never in
    /// the body (no SDK message, table name or stack trace).
    pub fn from_store(e: &StoreError) -> ApiError {
        match e {
            StoreError::ConversationNotFound(id) => {
                ApiError::not_found(format!("conversation {id} does not exist"))
            }
            StoreError::CursorPastEnd { .. } => ApiError::invalid(BAD_BEFORE_CURSOR),
            e if e.is_transient() => ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "unavailable",
                detail: "the service is busy or its database is unreachable; retry shortly".into(),
            },
            _ => ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                code: "internal",
                detail: "internal error; it has been logged".into(),
            },
        }
    }
}

/// The detail of a `before` that is not a cursor this API issued for the conversation.
pub const BAD_BEFORE_CURSOR: &str =
    "before must be the before_cursor of a previous response for this conversation";

/// Seconds a client should wait before retrying a 503.
const RETRY_AFTER_SECS: &str = "1";

/// A JSON body rendered once, already escaped as a JSON string (quotes included): the
/// form in which API Gateway's response carries it (`"body":"…"`). Rendering the body to
/// JSON and then serializing that text again as the response's `body` string scanned,
/// escaped and copied a whole inbox page twice; rendered through [`StringContent`], each
/// character is written once, escaped for both layers, and the runtime copies it into its
/// request to the Runtime API as it is (`event::ApiGatewayJson`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscapedJson(String);

impl EscapedJson {
    fn render(body: &impl Serialize) -> Option<EscapedJson> {
        let mut out = Vec::with_capacity(8 * 1024);
        out.push(b'"');
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, StringContent);
        body.serialize(&mut serializer).ok()?;
        out.push(b'"');
        String::from_utf8(out).ok().map(EscapedJson)
    }

    /// A body that writes itself (`string_json`): the inbox and message pages.
    fn write(body: &impl WriteJson) -> EscapedJson {
        EscapedJson(StringJson::of(body).finish())
    }

    /// The JSON string whose value is the body, quotes included.
    pub fn as_json_string(&self) -> &str {
        &self.0
    }

    /// That JSON string, owned: for [`serde_json::value::RawValue`].
    pub fn into_json_string(self) -> String {
        self.0
    }

    /// The JSON body itself, as the client receives it.
    pub fn to_json(&self) -> String {
        // `render` only writes a valid JSON string; an empty body would be noticed by any
        // reader rather than a panic here.
        serde_json::from_str(&self.0).unwrap_or_default()
    }
}

/// serde_json's compact output, written as the content of a JSON string: the quotes
/// around a string become `\"` and each escape inside one is escaped again (`\n` becomes
/// `\\n`, `\"` becomes `\\\"`). Nothing else JSON writes needs escaping inside a string —
/// numbers, punctuation, `true`, `false`, `null` — and the fragments of a string that
/// serde_json writes unescaped hold no `"`, `\` or control character.
struct StringContent;

impl Formatter for StringContent {
    fn begin_string<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(br#"\""#)
    }

    fn end_string<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(br#"\""#)
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        char_escape: CharEscape,
    ) -> io::Result<()> {
        let byte = match char_escape {
            // serde_json never writes `\/`; kept as it would be, escaped again.
            CharEscape::Solidus => return writer.write_all(br"\\/"),
            CharEscape::Quote => b'"',
            CharEscape::ReverseSolidus => b'\\',
            CharEscape::Backspace => 0x08,
            CharEscape::FormFeed => 0x0C,
            CharEscape::LineFeed => b'\n',
            CharEscape::CarriageReturn => b'\r',
            CharEscape::Tab => b'\t',
            CharEscape::AsciiControl(byte) => byte,
        };
        // The same table as the hand-written pages (`string_json::escaped`).
        match string_json::escaped(byte) {
            Some(escape) => writer.write_all(escape.as_str().as_bytes()),
            None => writer.write_all(&[byte]),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    success: bool,
    error: &'a str,
    code: &'a str,
    detail: &'a str,
}

/// A JSON response with the headers every response carries.
pub fn json(status: StatusCode, body: &impl Serialize) -> Response<EscapedJson> {
    // Serialising our own view structs cannot fail (no maps with non-string keys, no
    // custom serialisers that error); fall back to a fixed body rather than panic.
    let text = EscapedJson::render(body).unwrap_or_else(|| {
        EscapedJson(r#""{\"success\":false,\"error\":\"internal\",\"code\":\"internal\"}""#.to_string())
    });
    with_headers(status, text)
}

/// A JSON response whose body writes itself (`string_json`), with the same headers.
pub fn written(status: StatusCode, body: &impl WriteJson) -> Response<EscapedJson> {
    with_headers(status, EscapedJson::write(body))
}

fn with_headers(status: StatusCode, text: EscapedJson) -> Response<EscapedJson> {
    let mut response = Response::new(text);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The error envelope: `error` keeps the legacy endpoint's text.
pub fn error(legacy_text: &str, e: &ApiError) -> Response<EscapedJson> {
    let mut response = json(
        e.status,
        &ErrorBody {
            success: false,
            error: legacy_text,
            code: e.code,
            detail: &e.detail,
        },
    );
    let headers = response.headers_mut();
    match e.status {
        StatusCode::SERVICE_UNAVAILABLE => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
        }
        StatusCode::METHOD_NOT_ALLOWED => {
            headers.insert(header::ALLOW, HeaderValue::from_static("GET"));
        }
        _ => {}
    }
    response
}
