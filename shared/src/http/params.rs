//! Query and path parameters, by the contract's rules: integers are plain ASCII decimal
//! digits, a repeated parameter's last value wins, and every rejection says what to fix.

use super::request::Request;

use super::response::ApiError;
use crate::model::MAX_ID;

/// The query string of a request (decoded as browsers encode forms).
pub struct Params<'a> {
    req: &'a Request,
}

impl<'a> Params<'a> {
    pub fn new(req: &'a Request) -> Params<'a> {
        Params { req }
    }

    /// The last value of a query parameter.
    pub fn last(&self, name: &str) -> Option<&'a str> {
        self.req.query_last(name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uint {
    Value(u64),
    /// Only digits, but more than fits in 64 bits.
    TooLarge,
}

/// Plain ASCII decimal digits (no sign, space, exponent, hex or non-ASCII digits).
pub fn parse_uint(s: &str) -> Option<Uint> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse().map_or(Uint::TooLarge, Uint::Value))
}

/// A page size: ≥ 1, clamped to `max`, `default` when absent.
pub fn limit(value: Option<&str>, default: u32, max: u32) -> Result<u32, ApiError> {
    let Some(v) = value else {
        return Ok(default);
    };
    match parse_uint(v) {
        Some(Uint::Value(n)) if n >= 1 => Ok(u32::try_from(n).unwrap_or(u32::MAX).min(max)),
        Some(Uint::TooLarge) => Ok(max),
        _ => Err(ApiError::invalid(format!(
            "limit must be an integer >= 1 (values above {max} are clamped to {max})"
        ))),
    }
}

/// A message offset: ≥ 0, default 0.
pub fn offset(value: Option<&str>) -> Result<u64, ApiError> {
    let Some(v) = value else {
        return Ok(0);
    };
    match parse_uint(v) {
        Some(Uint::Value(n)) if n <= MAX_ID => Ok(n),
        Some(_) => Err(ApiError::invalid(format!("offset must be at most {MAX_ID}"))),
        None => Err(ApiError::invalid("offset must be an integer >= 0")),
    }
}

/// A conversation id: 1 ..= 2^53 - 1.
pub fn conversation_id(v: &str, source: &str) -> Result<u64, ApiError> {
    match parse_uint(v) {
        Some(Uint::Value(n)) if (1..=MAX_ID).contains(&n) => Ok(n),
        _ => Err(ApiError::invalid(format!(
            "{source} must be a conversation id: an integer from 1 to {MAX_ID}"
        ))),
    }
}

/// The longest phone number a lookup takes: the legacy column's width (VARCHAR(50)).
pub const MAX_PHONE_DIGITS: usize = 50;

/// A phone number to look up: its digits, as the bot stores WhatsApp's number. A leading
/// `+` and spaces anywhere are accepted and dropped (a `+` left unencoded in a query string
/// arrives as a space); anything else is refused.
pub fn phone(v: &str) -> Result<String, ApiError> {
    let rest = v.trim_start_matches(' ');
    let rest = rest.strip_prefix('+').unwrap_or(rest);
    let digits: String = rest.chars().filter(|c| *c != ' ').collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::invalid(
            "phone must be a phone number's digits (a leading + and spaces are accepted), e.g. 573001234567",
        ));
    }
    if digits.len() > MAX_PHONE_DIGITS {
        return Err(ApiError::invalid(format!(
            "phone must be at most {MAX_PHONE_DIGITS} digits"
        )));
    }
    Ok(digits)
}

/// What `last_check` may be, for error details.
const LAST_CHECK_FORMS: &str = "last_check must be a time: 'YYYY-MM-DD HH:MM:SS' in the API's zone \
     (the server_time of an earlier answer) or RFC 3339 with Z or an offset, such as \
     2026-12-03T14:55:29.089Z";

/// A poll's `last_check`, in whole seconds (MySQL compared TIMESTAMPs so): the legacy
/// `YYYY-MM-DD HH:MM:SS` in the API's zone — what `server_time` returns — or RFC 3339 with
/// `Z` or an offset (the dashboard's fallback is `new Date().toISOString()`).
pub fn last_check(v: &str, zone: &jiff::tz::TimeZone) -> Result<jiff::Timestamp, ApiError> {
    let t = match jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", v) {
        Ok(civil) => civil.to_zoned(zone.clone()).map(|z| z.timestamp()).ok(),
        // RFC 3339 only: a date and time with an offset (jiff also reads a few other
        // ISO 8601 forms, all with an offset).
        Err(_) if v.contains('T') || v.contains('t') => v.parse::<jiff::Timestamp>().ok(),
        Err(_) => None,
    };
    t.and_then(|t| jiff::Timestamp::from_second(t.as_second()).ok())
        .ok_or_else(|| ApiError::invalid(LAST_CHECK_FORMS))
}

/// Where `/api/conversations/{id}/messages` puts the id: API Gateway (and `cargo lambda
/// watch`) pass it as a path parameter; the raw path is the fallback.
pub fn path_id(req: &Request) -> Option<String> {
    if let Some(id) = &req.path_id {
        return Some(id.clone());
    }
    let rest = req.path.strip_prefix("/api/conversations/")?;
    rest.strip_suffix("/messages")
        .filter(|id| !id.contains('/'))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_check_is_a_legacy_local_time_or_rfc3339_in_whole_seconds() {
        let bogota = jiff::tz::TimeZone::get("America/Bogota").unwrap();
        let utc = jiff::tz::TimeZone::UTC;
        let t = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        assert_eq!(
            last_check("2026-12-03 09:55:29", &bogota).unwrap(),
            t("2026-12-03T14:55:29Z")
        );
        assert_eq!(
            last_check("2026-12-03 14:55:29", &utc).unwrap(),
            t("2026-12-03T14:55:29Z")
        );
        assert_eq!(
            last_check("2026-12-03T14:55:29.089Z", &bogota).unwrap(),
            t("2026-12-03T14:55:29Z")
        );
        assert_eq!(
            last_check("2026-12-03T09:55:29-05:00", &utc).unwrap(),
            t("2026-12-03T14:55:29Z")
        );
        for bad in [
            "",
            "0",
            "yesterday",
            "2026-12-03",
            "2026-13-03 10:00:00",
            "2026-12-03T14:55:29",
            "1764773729",
        ] {
            assert!(last_check(bad, &utc).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_plain_ascii_digits_are_integers() {
        assert_eq!(parse_uint("0"), Some(Uint::Value(0)));
        assert_eq!(parse_uint("007"), Some(Uint::Value(7)));
        assert_eq!(parse_uint("99999999999999999999999"), Some(Uint::TooLarge));
        for bad in ["", "+5", " 5", "5 ", "-0", "1e2", "0x10", "1.5", "٣", "５", "5\0"] {
            assert_eq!(parse_uint(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn limits_clamp_and_reject() {
        assert_eq!(limit(None, 20, 20), Ok(20));
        assert_eq!(limit(Some("5"), 20, 20), Ok(5));
        assert_eq!(limit(Some("21"), 20, 20), Ok(20));
        assert_eq!(limit(Some("123456789012345678901234567890"), 100, 1000), Ok(1000));
        for bad in ["0", "-1", "abc", "", "2.0"] {
            let e = limit(Some(bad), 20, 20).unwrap_err();
            assert_eq!(
                e.detail,
                "limit must be an integer >= 1 (values above 20 are clamped to 20)"
            );
        }
    }

    #[test]
    fn phone_numbers_are_digits_with_a_leading_plus_and_spaces_dropped() {
        assert_eq!(phone("573001234567").unwrap(), "573001234567");
        assert_eq!(phone("+57 300 123 4567").unwrap(), "573001234567");
        assert_eq!(phone(" 573001234567").unwrap(), "573001234567");
        assert_eq!(
            phone(&"9".repeat(MAX_PHONE_DIGITS)).unwrap().len(),
            MAX_PHONE_DIGITS
        );
        let too_long = phone(&"9".repeat(MAX_PHONE_DIGITS + 1)).unwrap_err();
        assert_eq!(too_long.detail, "phone must be at most 50 digits");
        for bad in [
            "", " ", "+", "++57", "57+300", "57-300", "(57)300", "５７", "٥٧", "57\0", "57\t3", "abc",
        ] {
            let e = phone(bad).unwrap_err();
            assert!(
                e.detail.starts_with("phone must be a phone number's digits"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn offsets_and_ids() {
        assert_eq!(offset(None), Ok(0));
        assert_eq!(offset(Some("40")), Ok(40));
        assert!(offset(Some("-1")).is_err());
        assert!(offset(Some("9007199254740992")).is_err());
        assert_eq!(conversation_id("9007199254740991", "id"), Ok(MAX_ID));
        assert!(conversation_id("9007199254740992", "id").is_err());
        assert!(conversation_id("0", "id").is_err());
    }
}
