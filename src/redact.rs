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
}
