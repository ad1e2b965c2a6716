//! Keeping secrets out of messages: URLs are printed without passwords or tokens.

use std::error::Error;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};
use secrecy::{ExposeSecret, SecretString};

/// Query parameters whose values are treated as secrets.
const SECRET_PARAMS: [&str; 8] = [
    "password",
    "token",
    "secret",
    "key",
    "signature",
    "sig",
    "access_token",
    "auth",
];

fn is_database_url(parsed: &url::Url) -> bool {
    matches!(parsed.scheme(), "postgres" | "postgresql" | "sqlite")
}

/// A path segment that looks like a credential rather than a name: at least 16 characters of
/// `[A-Za-z0-9_-]` with both letters and digits (Slack's webhook secrets, API keys).
fn is_token_like(segment: &str) -> bool {
    segment.len() >= 16
        && segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && segment.chars().any(|c| c.is_ascii_digit())
        && segment.chars().any(|c| c.is_ascii_alphabetic())
}

/// The URL as `scheme://host:port/path` with its password, secret-looking query values and
/// token-like path segments replaced by `***`. Text that does not parse as a URL is replaced
/// whole, since it may be a secret itself.
pub fn url(text: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(text) else {
        return "***".into();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    if !is_database_url(&parsed) && parsed.path().split('/').any(is_token_like) {
        let path: Vec<&str> = parsed
            .path()
            .split('/')
            .map(|s| if is_token_like(s) { "***" } else { s })
            .collect();
        parsed.set_path(&path.join("/"));
    }
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| {
            let secret = SECRET_PARAMS
                .iter()
                .any(|s| k.to_ascii_lowercase().contains(s));
            (
                k.into_owned(),
                if secret { "***".into() } else { v.into_owned() },
            )
        })
        .collect();
    if !pairs.is_empty() {
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

/// Removes known secret values from text that leaves the process (errors, Slack messages).
/// URLs are printed through [`url`] everywhere; this is the second line of defence for text
/// that comes from elsewhere, such as a server's error message echoing a value back.
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    secrets: Vec<String>,
    /// The readable parts of configured URLs (scheme, user, host, database): a secret equal to
    /// one of them is shown anyway, since every message names them.
    public: Vec<String>,
    /// Words [`Scrubber::scrub_foreign`] leaves alone although they look like tokens.
    readable: Vec<String>,
    /// The matcher over `secrets`, built on first use after the last addition.
    finder: OnceLock<AhoCorasick>,
}

impl Scrubber {
    /// Adds a secret value; very short values are ignored (they would mangle ordinary text).
    pub fn add(&mut self, secret: &str) {
        let secret = secret.trim();
        if secret.len() >= 4 && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_owned());
            self.finder = OnceLock::new();
        }
    }

    /// Adds a URL's secrets: its password, secret-looking query values and token-like path
    /// segments (a Slack-style `/services/T…/B…/<secret>`). The rest of the URL (scheme, host,
    /// port, an ordinary path such as `/v1/followups`) stays readable in messages.
    pub fn add_url(&mut self, text: &str) {
        if let Ok(parsed) = url::Url::parse(text) {
            self.finder = OnceLock::new();
            self.public.push(parsed.scheme().to_owned());
            self.public.push(parsed.username().to_owned());
            self.public.extend(parsed.host_str().map(str::to_owned));
            self.public.extend(
                parsed
                    .path()
                    .split('/')
                    .filter(|s| !is_token_like(s))
                    .map(str::to_owned),
            );
            self.add_url_secrets(&parsed);
        }
    }

    /// Adds a URL that is a credential as a whole (the Slack incoming webhook): the URL itself,
    /// its password and secret query values, and every long path segment. None of its parts
    /// counts as readable.
    pub fn add_secret_url(&mut self, text: &str) {
        self.add(text);
        if let Ok(parsed) = url::Url::parse(text) {
            self.add_url_secrets(&parsed);
            for segment in parsed.path().split('/').filter(|s| s.len() >= 12) {
                self.add(segment);
            }
        }
    }

    fn add_url_secrets(&mut self, parsed: &url::Url) {
        if let Some(password) = parsed.password() {
            self.add(password);
            if let Ok(decoded) = percent_decode(password) {
                self.add(&decoded);
            }
        }
        for (key, value) in parsed.query_pairs() {
            if SECRET_PARAMS
                .iter()
                .any(|s| key.to_ascii_lowercase().contains(s))
            {
                self.add(&value);
            }
        }
        // A database URL's path is the database's name, never a credential.
        if !is_database_url(parsed) {
            for segment in parsed.path().split('/').filter(|s| is_token_like(s)) {
                self.add(segment);
            }
        }
    }

    /// Keeps `text` readable in [`Scrubber::scrub_foreign`] even though it may look like a
    /// token (a configured branch name such as `release-2026-q1-hotfix`).
    pub fn keep_readable(&mut self, text: &str) {
        // Its words, as scrub_foreign sees them (`release/2026-q1-hotfix`).
        self.readable.extend(
            text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .filter(|w| !w.is_empty())
                .map(str::to_owned),
        );
    }

    /// [`Scrubber::scrub`] for text another server wrote, which may echo any credential (ours
    /// under another spelling, or one it holds): every token-like word goes too.
    pub fn scrub_foreign(&self, text: &str) -> String {
        let text = self.scrub(text);
        let mut out = String::with_capacity(text.len());
        let mut word = String::new();
        let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        for c in text.chars().chain(std::iter::once('\0')) {
            if is_word(c) {
                word.push(c);
                continue;
            }
            if is_token_like(&word) && !self.readable.contains(&word) {
                out.push_str("***");
            } else {
                out.push_str(&word);
            }
            word.clear();
            if c != '\0' {
                out.push(c);
            }
        }
        out
    }

    /// Adds each secret that is set.
    pub fn add_secrets<const N: usize>(&mut self, secrets: [&Option<SecretString>; N]) {
        for secret in secrets.into_iter().flatten() {
            self.add(secret.expose_secret());
        }
    }

    /// The scrubber for a command's flags: the secrets its flag groups name, plus the standard
    /// AWS secret from the environment.
    pub fn of(flags: &impl Secrets) -> Scrubber {
        let mut scrubber = Scrubber::default();
        flags.hide(&mut scrubber);
        if let Ok(secret) = std::env::var("AWS_SECRET_ACCESS_KEY") {
            scrubber.add(&secret);
        }
        scrubber
    }

    /// `text` with every registered secret replaced by `***`, the longest first where two
    /// overlap (a URL before the password inside it), and echoed bearer tokens hidden.
    pub fn scrub(&self, text: &str) -> String {
        let finder = self.finder.get_or_init(|| {
            let secrets = self.secrets.iter().filter(|s| !self.public.contains(s));
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(secrets)
                .expect("secrets of at most a few kilobytes build a matcher")
        });
        let replacements = vec!["***"; finder.patterns_len()];
        scrub_bearer(&finder.replace_all(text, &replacements))
    }
}

/// A group of flags that holds secrets. Each group names its own; a command's scrubber is
/// built from its groups by [`Scrubber::of`], so a new sink's secret is hidden everywhere by
/// implementing this for its flag group.
pub trait Secrets {
    fn hide(&self, scrubber: &mut Scrubber);
}

/// `Bearer <token>` as a server may echo an `Authorization` header back: the token is hidden,
/// whether or not it is one of ours.
fn scrub_bearer(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // The earlier of the two spellings first, so that neither is skipped.
    while let Some(at) = [rest.find("Bearer "), rest.find("bearer ")]
        .into_iter()
        .flatten()
        .min()
    {
        let (before, after) = rest.split_at(at + "Bearer ".len());
        out.push_str(before);
        let token_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || "-._~+/=".contains(c)))
            .unwrap_or(after.len());
        if token_len > 0 {
            out.push_str("***");
        }
        rest = &after[token_len..];
    }
    out.push_str(rest);
    out
}

fn percent_decode(text: &str) -> Result<String, std::str::Utf8Error> {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| Ok(v.into_owned()))
        .unwrap_or(Ok(String::new()))
}

/// An error and its causes on one line, `outer: inner: innermost`.
pub fn error_chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_name_is_never_taken_for_a_token() {
        let mut scrubber = Scrubber::default();
        scrubber.add_url("postgres://app:pw-secret-1@db:5432/analytics_2024_prod01");
        assert_eq!(
            scrubber.scrub(&url(
                "postgres://app:pw-secret-1@db:5432/analytics_2024_prod01"
            )),
            "postgres://app:***@db:5432/analytics_2024_prod01"
        );
    }

    #[test]
    fn a_password_equal_to_the_scheme_or_database_leaves_them_readable() {
        let mut scrubber = Scrubber::default();
        scrubber.add_url("postgres://postgres:postgres@db.internal:5432/postgres");
        assert_eq!(
            scrubber.scrub(&url(
                "postgres://postgres:postgres@db.internal:5432/postgres"
            )),
            "postgres://postgres:***@db.internal:5432/postgres"
        );
    }

    #[test]
    fn echoed_bearer_tokens_are_hidden() {
        let scrubber = Scrubber::default();
        assert_eq!(
            scrubber
                .scrub("503: bad header Authorization: Bearer abc.DEF-123= (try again); bearer x"),
            "503: bad header Authorization: Bearer *** (try again); bearer ***"
        );
        assert_eq!(scrubber.scrub("Bearer "), "Bearer ");
        assert_eq!(
            scrubber.scrub("bearer first-token then Bearer second-token"),
            "bearer *** then Bearer ***"
        );
    }

    #[test]
    fn foreign_text_loses_every_token_like_word_but_what_is_kept_readable() {
        let mut scrubber = Scrubber::default();
        scrubber.add("ghp_ours1234567890abcdefgh");
        scrubber.keep_readable("team/release-2026-q1-hotfix");
        let text = "No ref found for: release-2026-q1-hotfix (token ghp_ours1234567890abcdefgh, \
                    theirs=AKIA0123456789ABCDEF; see https://docs.github.com/rest/actions/workflows)";
        assert_eq!(
            scrubber.scrub_foreign(text),
            "No ref found for: release-2026-q1-hotfix (token ***, theirs=***; \
             see https://docs.github.com/rest/actions/workflows)"
        );
        assert_eq!(scrubber.scrub_foreign("é Bearer x.y"), "é Bearer ***");
    }

    #[test]
    fn passwords_and_tokens_are_hidden() {
        assert_eq!(
            url("postgres://app:s3cret@db:5432/app"),
            "postgres://app:***@db:5432/app"
        );
        let hidden = url("https://hooks.example.com/in?token=abc&team=ops");
        assert!(
            !hidden.contains("abc") && hidden.contains("team=ops"),
            "{hidden}"
        );
        assert_eq!(url("not a url with s3cret"), "***");
    }

    #[test]
    fn the_scrubber_removes_every_registered_secret() {
        let mut scrubber = Scrubber::default();
        scrubber.add_url("postgres://app:p%40ss-word@db/app");
        scrubber.add_secret_url("https://hooks.slack.com/services/T000/B000/XXXXSECRET");
        // A Slack path secret that does not look like a token is still a secret, alone too.
        scrubber.add_secret_url("https://hooks.slack.com/services/T0001/B0002/slackpathsecret");
        assert_eq!(scrubber.scrub("slackpathsecret"), "***");
        scrubber.add("whsec-123456");
        let text = "auth failed for p@ss-word; posted to https://hooks.slack.com/services/T000/B000/XXXXSECRET with whsec-123456";
        let clean = scrubber.scrub(text);
        for secret in ["p@ss-word", "XXXXSECRET", "whsec-123456"] {
            assert!(!clean.contains(secret), "{clean}");
        }
    }

    #[test]
    fn a_plain_webhook_url_stays_readable_and_a_token_in_its_path_does_not() {
        let mut scrubber = Scrubber::default();
        scrubber.add_url("http://127.0.0.1:8080/v1/followups");
        scrubber.add_url("https://in.example.com/hooks/4f9a8b7c6d5e4f3a2b1c/followups");
        let text = "the webhook http://127.0.0.1:8080/v1/followups and \
                    https://in.example.com/hooks/4f9a8b7c6d5e4f3a2b1c/followups failed";
        let clean = scrubber.scrub(text);
        assert!(
            clean.contains("http://127.0.0.1:8080/v1/followups"),
            "{clean}"
        );
        assert!(
            clean.contains("https://in.example.com/hooks/***/followups"),
            "{clean}"
        );
        assert_eq!(
            url("https://in.example.com/hooks/4f9a8b7c6d5e4f3a2b1c/followups"),
            "https://in.example.com/hooks/***/followups"
        );
    }
}
