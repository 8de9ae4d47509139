//! Database URLs: which backend a URL names, checked strictly, and a form of it that is safe to
//! print.
//!
//! Only two forms are accepted, `sqlite:PATH` (or `sqlite://PATH`) and `postgres://…` (or
//! `postgresql://…`) with a host. Anything else is refused rather than guessed at: a mistyped
//! PostgreSQL URL or a libpq `host=… password=…` string used to become the name of a new SQLite
//! file, so the data went to the wrong place and the password was printed as a file name.

use std::path::PathBuf;

/// What a refused URL should have looked like.
pub const EXPECTED_FORMS: &str = "expected sqlite:PATH (e.g. sqlite:data/candlekeep.db), sqlite://PATH, or \
     postgres://user:password@host[:port]/database (postgresql:// works too)";

/// What a database URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An SQLite file (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL as the `postgres` client must read it: an unescaped `@`
    /// inside the password is percent-encoded, so the client splits at the right `@`.
    Postgres(String),
}

/// Why a database URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlProblem {
    #[error("it does not start with sqlite: or postgres://")]
    NoScheme,
    #[error("the scheme {0:?} is not supported")]
    UnknownScheme(String),
    #[error("file: URLs are not supported; write sqlite:PATH")]
    FileScheme,
    #[error("the SQLite path is empty")]
    EmptyPath,
    #[error("in-memory SQLite databases are not supported: the store must outlive the process")]
    InMemory,
    #[error(
        "SQLite URL parameters (such as ?mode=ro) are not supported; give the plain file path (a file would otherwise be created with the parameters in its name)"
    )]
    SqliteQuery,
    #[error("a PostgreSQL URL starts with postgres:// or postgresql:// (two slashes)")]
    MissingSlashes,
    #[error("the PostgreSQL URL names no host")]
    NoHost,
    #[error("the PostgreSQL URL contains whitespace")]
    Whitespace,
    #[error(
        "sslmode={0} asks for TLS, which candlekeep does not support for PostgreSQL yet; connect over a trusted network or a local socket (sslmode=disable), or tunnel the connection"
    )]
    TlsUnsupported(String),
}

/// A refused database URL, shown with any password masked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad database URL {shown:?}: {problem}; {EXPECTED_FORMS}")]
pub struct BadDatabaseUrl {
    /// The URL as given, password masked.
    pub shown: String,
    pub problem: UrlProblem,
}

impl DatabaseUrl {
    /// Parses a configured URL, refusing anything but the documented forms.
    pub fn parse(url: &str) -> Result<Self, BadDatabaseUrl> {
        let bad = |problem| BadDatabaseUrl {
            shown: redact(url),
            problem,
        };
        let url = url.trim();
        let Some((scheme, rest)) = split_scheme(url) else {
            return Err(bad(UrlProblem::NoScheme));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => sqlite_path(rest).map(DatabaseUrl::Sqlite).map_err(bad),
            "postgres" | "postgresql" => postgres_url(scheme, rest).map(DatabaseUrl::Postgres).map_err(bad),
            "file" => Err(bad(UrlProblem::FileScheme)),
            other => Err(bad(UrlProblem::UnknownScheme(other.to_owned()))),
        }
    }
}

/// `scheme:` and what follows, when `url` starts with a URL scheme (RFC 3986: a letter, then
/// letters, digits, `+`, `-` or `.`). One letter is a Windows drive, not a scheme.
fn split_scheme(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    let valid = first.is_ascii_alphabetic()
        && scheme.len() > 1
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some((scheme, rest))
}

fn sqlite_path(rest: &str) -> Result<PathBuf, UrlProblem> {
    let path = rest.strip_prefix("//").unwrap_or(rest);
    if path.is_empty() {
        return Err(UrlProblem::EmptyPath);
    }
    // `sqlite::memory:` and SQLite's `file:` URI forms would otherwise become file names.
    if path.starts_with(':') {
        return Err(UrlProblem::InMemory);
    }
    if path.to_ascii_lowercase().starts_with("file:") {
        return Err(UrlProblem::FileScheme);
    }
    if path.contains('?') {
        return Err(UrlProblem::SqliteQuery);
    }
    Ok(PathBuf::from(path))
}

/// Where the user information of `after_slashes` (the URL after `scheme://`) ends: the last `@`
/// before the query, else the last `@` at all. A password may hold an unescaped `@`; the host
/// never does.
fn userinfo_end(after_slashes: &str) -> Option<usize> {
    let before_query = after_slashes.split('?').next().unwrap_or(after_slashes);
    before_query.rfind('@').or_else(|| after_slashes.rfind('@'))
}

fn postgres_url(scheme: &str, rest: &str) -> Result<String, UrlProblem> {
    let Some(after) = rest.strip_prefix("//") else {
        return Err(UrlProblem::MissingSlashes);
    };
    if after.chars().any(char::is_whitespace) {
        return Err(UrlProblem::Whitespace);
    }
    let (userinfo, host_and_rest) = match userinfo_end(after) {
        Some(at) => (Some(&after[..at]), &after[at + 1..]),
        None => (None, after),
    };
    let host_end = host_and_rest.find(['/', '?']).unwrap_or(host_and_rest.len());
    let (host, tail) = host_and_rest.split_at(host_end);
    if host.is_empty() || host.split(',').any(|h| h.is_empty() || h.starts_with(':')) {
        return Err(UrlProblem::NoHost);
    }
    if let Some((_, query)) = tail.split_once('?') {
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            // The connection is made without TLS (NoTls): a URL that asks for it must not
            // silently get a plain connection.
            if key.eq_ignore_ascii_case("sslmode")
                && !matches!(value.to_ascii_lowercase().as_str(), "disable" | "allow" | "prefer")
            {
                return Err(UrlProblem::TlsUnsupported(value.to_owned()));
            }
        }
    }
    Ok(match userinfo {
        // The client splits the user information at the first `@`: escape the others.
        Some(info) => format!("{scheme}://{}@{host}{tail}", info.replace('@', "%40")),
        None => format!("{scheme}://{host}{tail}"),
    })
}

/// `url` with every password in it masked, whatever shape it has: `postgres://user:secret@host`
/// → `postgres://user:***@host` (even with an `@` inside the password), `password=secret` in a
/// query or a libpq `key=value` string → `password=***`. Safe to print.
pub fn redact(url: &str) -> String {
    let (prefix, rest) = match split_scheme(url) {
        Some((scheme, rest)) => {
            // `scheme:`, then however many slashes (a malformed `postgres:/x` has one).
            let slashes = rest.len() - rest.trim_start_matches('/').len();
            url.split_at(scheme.len() + 1 + slashes)
        }
        None => ("", url),
    };
    let masked = match userinfo_end(rest) {
        Some(at) => {
            let (info, host) = rest.split_at(at);
            match info.split_once(':') {
                Some((user, _)) => format!("{user}:***{host}"),
                // No `:`: a bare user, unless an `@` inside says part of it is secret.
                None if info.contains('@') => format!("***{host}"),
                None => rest.to_owned(),
            }
        }
        None => rest.to_owned(),
    };
    format!("{prefix}{}", mask_password_pairs(&masked))
}

/// Masks the value of every `password=` pair (URL query or libpq `key=value` string; a quoted
/// libpq value up to its closing quote).
fn mask_password_pairs(s: &str) -> String {
    const KEY: &str = "password=";
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.to_ascii_lowercase().find(KEY) {
        let value_start = i + KEY.len();
        out.push_str(&rest[..value_start]);
        out.push_str("***");
        let value = &rest[value_start..];
        let end = match value.strip_prefix('\'') {
            Some(quoted) => quoted.find('\'').map_or(value.len(), |q| q + 2),
            None => value
                .find(|c: char| c.is_whitespace() || c == '&')
                .unwrap_or(value.len()),
        };
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(url: &str) -> UrlProblem {
        DatabaseUrl::parse(url).unwrap_err().problem
    }

    #[test]
    fn accepts_the_documented_forms() {
        assert_eq!(
            DatabaseUrl::parse("sqlite:data/candlekeep.db").unwrap(),
            DatabaseUrl::Sqlite("data/candlekeep.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/ck.db").unwrap(),
            DatabaseUrl::Sqlite("/var/lib/ck.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("postgres://u:pw@db.example:5433/ck?options=-c%20search_path%3Dck").unwrap(),
            DatabaseUrl::Postgres("postgres://u:pw@db.example:5433/ck?options=-c%20search_path%3Dck".into())
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://h/db?sslmode=disable").unwrap(),
            DatabaseUrl::Postgres("postgresql://h/db?sslmode=disable".into())
        );
        // An unescaped `@` in the password is escaped for the client.
        assert_eq!(
            DatabaseUrl::parse("postgres://u:p@ss@host/db").unwrap(),
            DatabaseUrl::Postgres("postgres://u:p%40ss@host/db".into())
        );
    }

    #[test]
    fn refuses_everything_else() {
        assert_eq!(problem("postgres:/x"), UrlProblem::MissingSlashes);
        assert_eq!(problem("host=db password=secret"), UrlProblem::NoScheme);
        assert_eq!(problem("data/candlekeep.db"), UrlProblem::NoScheme);
        assert_eq!(problem("sqlite::memory:"), UrlProblem::InMemory);
        assert_eq!(problem("sqlite:data/x.db?mode=ro"), UrlProblem::SqliteQuery);
        assert_eq!(problem("file:data/x.db"), UrlProblem::FileScheme);
        assert_eq!(problem("sqlite:file:x.db"), UrlProblem::FileScheme);
        assert_eq!(problem("sqlite:"), UrlProblem::EmptyPath);
        assert_eq!(problem("postgres:///db"), UrlProblem::NoHost);
        assert_eq!(problem("postgres://u:pw@/db"), UrlProblem::NoHost);
        assert_eq!(
            problem("postgres://u:pw@h/db?sslmode=require"),
            UrlProblem::TlsUnsupported("require".into())
        );
        assert_eq!(problem("mysql://h/db"), UrlProblem::UnknownScheme("mysql".into()));
    }

    #[test]
    fn errors_never_show_a_password() {
        for url in [
            "postgres:/u:secret@h/db",
            "host=db password=secret user=u",
            "host=db password='sec ret' user=u",
            "postgres://u:secret@h/db?sslmode=require",
            "postgres://u:sec@ret@/db",
            "postgres://u@h/db?password=secret&sslmode=verify-full",
        ] {
            let e = DatabaseUrl::parse(url).unwrap_err().to_string();
            assert!(
                !e.contains("secret") && !e.contains("sec ret") && !e.contains("ret@"),
                "{e}"
            );
        }
    }

    #[test]
    fn redaction() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u:p@ss@host/db"), "postgres://u:***@host/db");
        assert_eq!(redact("postgres://p@ss@host/db"), "postgres://***@host/db");
        assert_eq!(redact("postgres://u@host/db"), "postgres://u@host/db");
        assert_eq!(redact("sqlite:data/x.db"), "sqlite:data/x.db");
        assert_eq!(redact("host=h password=pw user=u"), "host=h password=*** user=u");
        assert_eq!(redact("host=h password='a b' user=u"), "host=h password=*** user=u");
        assert_eq!(
            redact("postgres://h/db?PASSWORD=pw&x=1"),
            "postgres://h/db?PASSWORD=***&x=1"
        );
    }
}
