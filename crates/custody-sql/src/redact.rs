//! Database URLs that never show their password.

use std::fmt;

/// A database URL. `Debug` and `Display` print it with the password (in the user-info part or
/// as a `password=` query parameter) replaced by `***`; [`DatabaseUrl::expose`] gives the real
/// string to the driver.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> DatabaseUrl {
        DatabaseUrl(url.into())
    }

    /// The URL with its password, for the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`.
    ///
    /// A hand-written URL often carries a password that was not percent-encoded and contains
    /// `/`, `?`, `#` or `@`. Rather than parse such a URL the way a driver would (and print the
    /// part of the password that lands outside the user-info), the user-info is taken to end at
    /// the **last** `@` after the scheme: a password is never printed, at the price of hiding
    /// more than needed when a path or query parameter holds an `@` too.
    pub fn redacted(&self) -> String {
        let url = &self.0;
        let mut out = String::with_capacity(url.len());
        let Some((scheme, rest)) = url.split_once("://") else {
            return redact_query_params(url);
        };
        out.push_str(scheme);
        out.push_str("://");
        let after_userinfo = match rest.rsplit_once('@') {
            Some((userinfo, after)) => {
                // (What precedes the password may itself be a query that ended in an `@`.)
                match userinfo.split_once(':') {
                    Some((user, _password)) => {
                        out.push_str(&redact_query_params(user));
                        out.push_str(":***");
                    }
                    None => out.push_str(&redact_query_params(userinfo)),
                }
                out.push('@');
                after
            }
            None => rest,
        };
        out.push_str(&redact_query_params(after_userinfo));
        out
    }
}

/// `text` with the value of any `password=` query parameter replaced by `***`.
fn redact_query_params(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (head, query) = match text.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (text, None),
    };
    out.push_str(head);
    if let Some(query) = query {
        out.push('?');
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((name, _)) if name.eq_ignore_ascii_case("password") => {
                    format!("{name}=***")
                }
                _ => param.to_owned(),
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    out
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({:?})", self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        let url =
            DatabaseUrl::new("postgres://app:s3cr3t@db.internal:5432/custody?sslmode=require");
        assert_eq!(
            url.redacted(),
            "postgres://app:***@db.internal:5432/custody?sslmode=require"
        );
        assert!(!format!("{url:?}").contains("s3cr3t"));
        assert!(!format!("{url}").contains("s3cr3t"));
        assert_eq!(
            url.expose(),
            "postgres://app:s3cr3t@db.internal:5432/custody?sslmode=require"
        );

        let q = DatabaseUrl::new("postgres://localhost/custody?user=app&password=hunter2&x=1");
        assert_eq!(
            q.redacted(),
            "postgres://localhost/custody?user=app&password=***&x=1"
        );

        // A password containing '@' is still hidden entirely.
        let at = DatabaseUrl::new("postgres://app:p@ss@host/db");
        assert_eq!(at.redacted(), "postgres://app:***@host/db");
    }

    #[test]
    fn unencoded_separators_in_a_password_do_not_expose_it() {
        // Generated passwords often hold '/', '?' or '#'; written into a URL without
        // percent-encoding, they must still never be printed.
        for (url, expected) in [
            (
                "postgres://app:pa/ss@host:5432/db",
                "postgres://app:***@host:5432/db",
            ),
            (
                "postgres://app:pa?ss@host/db?sslmode=require",
                "postgres://app:***@host/db?sslmode=require",
            ),
            ("postgres://app:pa#ss@host/db", "postgres://app:***@host/db"),
            (
                "postgres://app:a/b?c#d@e@host/db",
                "postgres://app:***@host/db",
            ),
        ] {
            let redacted = DatabaseUrl::new(url).redacted();
            assert_eq!(redacted, expected, "{url}");
            for part in ["pa/ss", "pa?ss", "pa#ss", "ss@", "a/b", "c#d"] {
                assert!(!redacted.contains(part), "{url} printed as {redacted}");
            }
        }
        // An '@' in a query parameter hides more than needed, never a password.
        for url in [
            "postgres://app@host/db?password=hunter2&application_name=a@b",
            "postgres://app@host/db?password=hun:ter2@b",
            "postgres://host:5432/db?password=hunter2&x=a@b",
        ] {
            let redacted = DatabaseUrl::new(url).redacted();
            assert!(
                !redacted.contains("hunter2") && !redacted.contains("hun:ter2"),
                "{url} printed as {redacted}"
            );
        }
    }

    #[test]
    fn urls_without_passwords_are_unchanged() {
        for url in [
            "sqlite://data/custody.db?mode=rwc",
            "postgres://app@host/db",
            "postgres://host:5432/db",
            "sqlite::memory:",
        ] {
            assert_eq!(DatabaseUrl::new(url).redacted(), url);
        }
    }
}
