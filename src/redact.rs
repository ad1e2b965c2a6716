//! Keeping secrets out of messages: URLs are printed without passwords or tokens.

use std::error::Error;

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

/// The URL with its password and any secret-looking query values replaced by `***`.
/// Text that does not parse as a URL is replaced whole, since it may be a secret itself.
pub fn url(text: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(text) else {
        return "***".into();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
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
}

impl Scrubber {
    /// Adds a secret value; very short values are ignored (they would mangle ordinary text).
    pub fn add(&mut self, secret: &str) {
        let secret = secret.trim();
        if secret.len() >= 4 && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_owned());
        }
    }

    /// Adds a URL whole, and its password and secret-looking query values.
    pub fn add_url(&mut self, text: &str) {
        self.add(text);
        if let Ok(parsed) = url::Url::parse(text) {
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
            // A Slack-style webhook carries its secret in the path.
            if parsed.path().len() > 1 && parsed.query().is_none() && parsed.password().is_none() {
                self.add(parsed.path().trim_start_matches('/'));
            }
        }
    }

    pub fn scrub(&self, text: &str) -> String {
        // Longest first, so a URL is replaced before the password inside it.
        let mut secrets: Vec<&String> = self.secrets.iter().collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.iter().fold(text.to_owned(), |text, secret| {
            text.replace(secret.as_str(), "***")
        })
    }
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
        scrubber.add_url("https://hooks.slack.com/services/T000/B000/XXXXSECRET");
        scrubber.add("whsec-123456");
        let text = "auth failed for p@ss-word; posted to https://hooks.slack.com/services/T000/B000/XXXXSECRET with whsec-123456";
        let clean = scrubber.scrub(text);
        for secret in ["p@ss-word", "XXXXSECRET", "whsec-123456"] {
            assert!(!clean.contains(secret), "{clean}");
        }
    }
}
