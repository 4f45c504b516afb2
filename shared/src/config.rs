//! Environment → configuration, checked once at start-up. Every error says what to set.

use jiff::tz::TimeZone;

use crate::access::{Access, FrontSecrets, MIN_SECRET_LEN};
use crate::view::{Presentation, SenderNames};

/// Largest `limit` of the conversation list; larger values are clamped.
pub const MAX_CONVERSATIONS_LIMIT: u32 = 1000;
/// Default `limit` of the conversation list when `CONVERSATIONS_LIMIT` is not set.
pub const DEFAULT_CONVERSATIONS_LIMIT: u32 = 100;

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub presentation: Presentation,
    /// Default page size of the conversation list.
    pub conversations_limit: u32,
    /// Which requests are served (`ACCESS`).
    pub access: Access,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("TABLE_NAME is not set: set it to the name of the DynamoDB table")]
    MissingTable,
    #[error("APP_TIMEZONE {0:?} is not an IANA time zone name: use e.g. UTC or America/Bogota")]
    BadTimeZone(String),
    #[error("CONVERSATIONS_LIMIT {0:?} must be an integer from 1 to {MAX_CONVERSATIONS_LIMIT}")]
    BadLimit(String),
    #[error("SENDER_TYPE_NAMES {0:?} must be customer-ai-human (the default) or user-bot-human")]
    BadSenderNames(String),
    #[error("ACCESS {0:?} must be front, jwt or public")]
    BadAccess(String),
    #[error(
        "ACCESS=front needs FRONT_SECRET (and FRONT_SECRET_PREVIOUS, if set) of at least \
         {MIN_SECRET_LEN} characters: the secret header the front adds"
    )]
    BadFrontSecret,
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `get` (unset and empty are the same), so tests need not
    /// touch the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name| get(name).filter(|v: &String| !v.is_empty());
        let table_name = get("TABLE_NAME").ok_or(ConfigError::MissingTable)?;
        let time_zone = match get("APP_TIMEZONE") {
            None => TimeZone::UTC,
            Some(name) => TimeZone::get(&name).map_err(|_| ConfigError::BadTimeZone(name))?,
        };
        let conversations_limit = match get("CONVERSATIONS_LIMIT") {
            None => DEFAULT_CONVERSATIONS_LIMIT,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| {
                    (1..=MAX_CONVERSATIONS_LIMIT).contains(n) && v.bytes().all(|b| b.is_ascii_digit())
                })
                .ok_or(ConfigError::BadLimit(v))?,
        };
        let sender_names = match get("SENDER_TYPE_NAMES") {
            None => SenderNames::default(),
            Some(v) => SenderNames::parse(&v).ok_or(ConfigError::BadSenderNames(v))?,
        };
        let access = match get("ACCESS").as_deref() {
            // API Gateway's authorizer checks the tokens (jwt); public serves everyone.
            None | Some("jwt" | "public") => Access::Open,
            Some("front") => {
                let current = get("FRONT_SECRET").ok_or(ConfigError::BadFrontSecret)?;
                let previous = get("FRONT_SECRET_PREVIOUS");
                Access::Front(
                    FrontSecrets::new(&current, previous.as_deref()).ok_or(ConfigError::BadFrontSecret)?,
                )
            }
            Some(other) => return Err(ConfigError::BadAccess(other.to_string())),
        };
        Ok(Config {
            access,
            table_name,
            presentation: Presentation {
                time_zone,
                sender_names,
            },
            conversations_limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn defaults() {
        let c = config(&[("TABLE_NAME", "t")]).unwrap();
        assert_eq!(c.table_name, "t");
        assert_eq!(c.conversations_limit, 100);
        assert_eq!(c.presentation.time_zone, TimeZone::UTC);
        assert_eq!(c.presentation.sender_names, SenderNames::CustomerAiHuman);
    }

    #[test]
    fn every_setting() {
        let c = config(&[
            ("TABLE_NAME", "t"),
            ("APP_TIMEZONE", "America/Bogota"),
            ("CONVERSATIONS_LIMIT", "50"),
            ("SENDER_TYPE_NAMES", "user-bot-human"),
        ])
        .unwrap();
        assert_eq!(c.presentation.time_zone.iana_name(), Some("America/Bogota"));
        assert_eq!(c.conversations_limit, 50);
        assert_eq!(c.presentation.sender_names, SenderNames::UserBotHuman);
    }

    #[test]
    fn bad_settings_say_what_to_set() {
        assert_eq!(config(&[]).unwrap_err(), ConfigError::MissingTable);
        assert_eq!(
            config(&[("TABLE_NAME", "")]).unwrap_err(),
            ConfigError::MissingTable
        );
        let e = config(&[("TABLE_NAME", "t"), ("APP_TIMEZONE", "Mars/Olympus")]).unwrap_err();
        assert!(
            e.to_string()
                .contains("APP_TIMEZONE \"Mars/Olympus\" is not an IANA time zone")
        );
        for bad in ["0", "1001", "-5", "+5", "ten"] {
            let e = config(&[("TABLE_NAME", "t"), ("CONVERSATIONS_LIMIT", bad)]).unwrap_err();
            assert_eq!(e, ConfigError::BadLimit(bad.into()));
        }
        let e = config(&[("TABLE_NAME", "t"), ("SENDER_TYPE_NAMES", "x")]).unwrap_err();
        assert!(matches!(e, ConfigError::BadSenderNames(_)));
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn access_front_needs_a_long_secret() {
        let c = config(&[("TABLE_NAME", "t")]).unwrap();
        assert_eq!(c.access, Access::Open);
        for mode in ["jwt", "public"] {
            let c = config(&[("TABLE_NAME", "t"), ("ACCESS", mode), ("FRONT_SECRET", SECRET)]);
            assert_eq!(c.unwrap().access, Access::Open, "{mode}");
        }
        let c = config(&[("TABLE_NAME", "t"), ("ACCESS", "front"), ("FRONT_SECRET", SECRET)]).unwrap();
        assert!(c.access.admits(Some(SECRET)) && !c.access.admits(None));
        let c = config(&[
            ("TABLE_NAME", "t"),
            ("ACCESS", "front"),
            ("FRONT_SECRET", SECRET),
            ("FRONT_SECRET_PREVIOUS", &SECRET.to_uppercase()),
        ])
        .unwrap();
        assert!(c.access.admits(Some(&SECRET.to_uppercase())));
        for bad in [
            vec![("ACCESS", "front")],
            vec![("ACCESS", "front"), ("FRONT_SECRET", "")],
            vec![("ACCESS", "front"), ("FRONT_SECRET", "short")],
            vec![
                ("ACCESS", "front"),
                ("FRONT_SECRET", SECRET),
                ("FRONT_SECRET_PREVIOUS", "x"),
            ],
        ] {
            let mut vars = vec![("TABLE_NAME", "t")];
            vars.extend(bad);
            let e = config(&vars).unwrap_err();
            assert_eq!(e, ConfigError::BadFrontSecret);
            assert!(e.to_string().contains("FRONT_SECRET") && !e.to_string().contains(SECRET));
        }
        let e = config(&[("TABLE_NAME", "t"), ("ACCESS", "open")]).unwrap_err();
        assert_eq!(e, ConfigError::BadAccess("open".into()));
    }
}
