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
    pub fn redacted(&self) -> String {
        let url = &self.0;
        let mut out = String::with_capacity(url.len());
        let (head, query) = match url.split_once('?') {
            Some((h, q)) => (h, Some(q)),
            None => (url.as_str(), None),
        };
        match head.split_once("://") {
            Some((scheme, rest)) => {
                out.push_str(scheme);
                out.push_str("://");
                let authority_end = rest.find('/').unwrap_or(rest.len());
                let (authority, path) = rest.split_at(authority_end);
                match authority.rsplit_once('@') {
                    Some((userinfo, host)) => {
                        match userinfo.split_once(':') {
                            Some((user, _password)) => {
                                out.push_str(user);
                                out.push_str(":***");
                            }
                            None => out.push_str(userinfo),
                        }
                        out.push('@');
                        out.push_str(host);
                    }
                    None => out.push_str(authority),
                }
                out.push_str(path);
            }
            None => out.push_str(head),
        }
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
