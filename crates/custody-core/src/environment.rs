//! Live and sandbox: the compliance boundary.
//!
//! The environment of a request is decided once, from the API key, at authentication. Every
//! store handle and every service graph is bound to one environment when it is built, so no
//! code path below authentication ever chooses between them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a tenant's request runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Real custody through the live providers. Requires an approved tenant.
    Live,
    /// Fake, deterministic custody with no network. Available as soon as the tenant exists.
    Sandbox,
}

impl Environment {
    /// Both environments, live first.
    pub const ALL: [Environment; 2] = [Environment::Live, Environment::Sandbox];

    /// The lowercase name used in configuration, storage and the admin CLI.
    pub const fn as_str(self) -> &'static str {
        match self {
            Environment::Live => "live",
            Environment::Sandbox => "sandbox",
        }
    }

    /// The prefix of every API key of this environment (`sk_live_` / `sk_test_`).
    pub const fn key_prefix(self) -> &'static str {
        match self {
            Environment::Live => "sk_live_",
            Environment::Sandbox => "sk_test_",
        }
    }

    /// The environment a presented key claims by its prefix, if any. The claim is only a
    /// routing hint: the stored key record is what decides.
    pub fn of_key(key: &str) -> Option<Environment> {
        Environment::ALL
            .into_iter()
            .find(|env| key.starts_with(env.key_prefix()))
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string is neither `live` nor `sandbox`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown environment `{0}` (expected `live` or `sandbox`)")]
pub struct UnknownEnvironment(pub String);

impl FromStr for Environment {
    type Err = UnknownEnvironment;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "live" => Ok(Environment::Live),
            "sandbox" | "test" => Ok(Environment::Sandbox),
            _ => Err(UnknownEnvironment(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_prefix_names_the_environment() {
        assert_eq!(Environment::of_key("sk_live_abc"), Some(Environment::Live));
        assert_eq!(
            Environment::of_key("sk_test_abc"),
            Some(Environment::Sandbox)
        );
        assert_eq!(Environment::of_key("sk_prod_abc"), None);
        assert_eq!(Environment::of_key("SK_LIVE_abc"), None);
    }

    #[test]
    fn parses_case_insensitively() {
        assert_eq!("LIVE".parse::<Environment>(), Ok(Environment::Live));
        assert_eq!("sandbox".parse::<Environment>(), Ok(Environment::Sandbox));
        assert!("prod".parse::<Environment>().is_err());
    }
}
