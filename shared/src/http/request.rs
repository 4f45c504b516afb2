//! The request the handlers read: method, raw path, the path's id, the query's pairs and
//! Lambda's request id. Built once from the API Gateway event (`HttpEvent::into_request`);
//! nothing a client sends can make building it fail.

use aws_lambda_events::http::Method;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// A method that is not an HTTP token is one no route accepts (405).
    pub method: Method,
    /// The raw path, `/api/conversations/7/messages`.
    pub path: String,
    /// The `{id}` path parameter API Gateway matched, if any.
    pub path_id: Option<String>,
    /// The query string's pairs, decoded as browsers encode forms, in their order.
    pub query: Vec<(String, String)>,
    /// Lambda's request id, for the access log.
    pub request_id: String,
}

impl Default for Request {
    fn default() -> Self {
        Request {
            method: Method::GET,
            path: String::new(),
            path_id: None,
            query: Vec::new(),
            request_id: String::new(),
        }
    }
}

impl Request {
    /// The last value of a query parameter (the contract's rule for a repeated one).
    pub fn query_last(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The pairs of a raw query string, as browsers encode forms (`+` is a space; a bad
/// percent-escape stays as it is, invalid UTF-8 becomes U+FFFD).
pub fn query_pairs(raw: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_value_of_a_repeated_parameter_wins() {
        let req = Request {
            query: query_pairs("limit=5&status=closed&limit=7&a+b=%C3%A9%zz"),
            ..Request::default()
        };
        assert_eq!(req.query_last("limit"), Some("7"));
        assert_eq!(req.query_last("status"), Some("closed"));
        assert_eq!(req.query_last("a b"), Some("é%zz"));
        assert_eq!(req.query_last("offset"), None);
    }
}
