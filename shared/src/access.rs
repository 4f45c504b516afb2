//! Who may call the functions (`ACCESS`): anyone API Gateway lets through (`public`, and
//! `jwt`, where API Gateway's authorizer has already checked the token), or only requests
//! that carry the front's secret header (`front`: CloudFront or the PHP host's nginx adds
//! it, and signs people in before).

use subtle::ConstantTimeEq;

/// The header the front adds to every request it sends to the API (payload 2.0 lowercases
/// header names).
pub const SECRET_HEADER: &str = "x-origin-verify";
/// The header the front may add with the signed-in user's name, for the access log.
pub const USER_HEADER: &str = "x-dashboard-user";

/// Shortest secret accepted: 32 characters of the template's alphabet hold over 190 bits.
pub const MIN_SECRET_LEN: usize = 32;

#[derive(Clone, Default, PartialEq, Eq)]
pub enum Access {
    /// Every request API Gateway passes on is served.
    #[default]
    Open,
    /// Only requests whose secret header holds one of these.
    Front(FrontSecrets),
}

/// The secret the front sends, and during a rotation the one it sent before: both are
/// accepted until the front has switched everywhere (docs/DESIGN.md, "Access modes").
#[derive(Clone, PartialEq, Eq)]
pub struct FrontSecrets {
    current: Vec<u8>,
    previous: Option<Vec<u8>>,
}

// Never printed, not even in a debug dump of the configuration.
impl std::fmt::Debug for FrontSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FrontSecrets(..)")
    }
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Access::Open => f.write_str("Open"),
            Access::Front(_) => f.write_str("Front(..)"),
        }
    }
}

impl FrontSecrets {
    /// `None` when a secret is shorter than [`MIN_SECRET_LEN`].
    pub fn new(current: &str, previous: Option<&str>) -> Option<FrontSecrets> {
        let long_enough = |s: &str| s.len() >= MIN_SECRET_LEN;
        if !long_enough(current) || previous.is_some_and(|p| !long_enough(p)) {
            return None;
        }
        Some(FrontSecrets {
            current: current.as_bytes().to_vec(),
            previous: previous.map(|p| p.as_bytes().to_vec()),
        })
    }

    /// Whether `presented` is one of the secrets. Each comparison takes the same time
    /// wherever the first differing byte is, and both are always made, so the answer's
    /// timing says nothing about how close a guess was (only whether its length was right).
    pub fn admits(&self, presented: Option<&str>) -> bool {
        let Some(presented) = presented.map(str::as_bytes) else {
            return false;
        };
        let current = presented.ct_eq(&self.current);
        let previous = match &self.previous {
            Some(previous) => presented.ct_eq(previous),
            None => subtle::Choice::from(0),
        };
        bool::from(current | previous)
    }
}

impl Access {
    /// Whether a request with this secret header (if any) is served.
    pub fn admits(&self, presented: Option<&str>) -> bool {
        match self {
            Access::Open => true,
            Access::Front(secrets) => secrets.admits(presented),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn front_admits_only_its_secrets() {
        let one = Access::Front(FrontSecrets::new(A, None).unwrap());
        assert!(one.admits(Some(A)));
        for wrong in [None, Some(""), Some(B), Some(&A[1..]), Some("a")] {
            assert!(!one.admits(wrong), "{wrong:?}");
        }
        let longer = format!("{A}a");
        assert!(!one.admits(Some(&longer)));
        assert!(
            !one.admits(Some(&format!("{A},{A}"))),
            "a repeated header, joined"
        );

        let rotating = Access::Front(FrontSecrets::new(B, Some(A)).unwrap());
        assert!(rotating.admits(Some(A)) && rotating.admits(Some(B)));
        assert!(!rotating.admits(None));
        assert!(Access::Open.admits(None));
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(FrontSecrets::new("short", None).is_none());
        assert!(FrontSecrets::new(A, Some("short")).is_none());
        assert!(FrontSecrets::new(&A[..MIN_SECRET_LEN], None).is_some());
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let access = Access::Front(FrontSecrets::new(A, Some(B)).unwrap());
        let shown = format!("{access:?}");
        assert!(!shown.contains(A) && !shown.contains(B), "{shown}");
    }
}
