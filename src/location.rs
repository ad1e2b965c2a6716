//! Where something is: one grammar for every flag, variable and status field that names a
//! folder, a file or an object (`--status-path`, `--archive-uri`, `--lake`, `--metrics-path`,
//! `GUARDRAIL_EXPORT_STATUS_URL`, the status' `downloadUrl`).
//!
//! A plain path, `file:///absolute/path` and `s3://bucket/key` mean the same everywhere, as in
//! object_store's URL parsing; `http(s)://` only where something is read over HTTP. Each place
//! says which of them it accepts ([`Place`]), and refuses the others with a message naming what
//! it takes. Written by hand because object_store's `parse_url` opens a store (this only
//! names one) and knows no plain paths or http places that are files.

use std::fmt;
use std::path::PathBuf;

use url::Url;

/// `s3://bucket/key`; the key is taken as written (no percent-decoding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Uri {
    pub bucket: String,
    pub key: String,
}

impl S3Uri {
    /// Parses `s3://bucket/key`; the key may be empty only when `allow_empty_key`.
    pub fn parse(text: &str, allow_empty_key: bool) -> Result<S3Uri, String> {
        let text = text.trim();
        let rest = strip_scheme(text, "s3")
            .ok_or_else(|| format!("`{text}` is not an s3://bucket/key URI"))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        let key = key.trim_matches('/');
        if bucket.is_empty() {
            return Err(format!(
                "`{text}` names no bucket; expected s3://bucket/key"
            ));
        }
        if key.is_empty() && !allow_empty_key {
            return Err(format!(
                "`{text}` names no object; expected s3://bucket/path/to/object"
            ));
        }
        Ok(S3Uri {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }
}

impl fmt::Display for S3Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// A parsed location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A plain path or `file:///path`.
    Local(PathBuf),
    /// `s3://bucket/key`; the key may be empty (a whole bucket as a prefix).
    S3(S3Uri),
    /// `http(s)://host/…`.
    Http(Url),
}

/// What a place accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// What the place is, for messages: "a file", "a folder".
    what: &'static str,
    s3: S3Accepts,
    http: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum S3Accepts {
    No,
    /// `s3://bucket/key` with a key.
    Object,
    /// `s3://bucket` or `s3://bucket/prefix`.
    Prefix,
}

impl Place {
    /// A file written here or in S3: `--status-path`.
    pub const FILE_OR_OBJECT: Place = Place {
        what: "a file",
        s3: S3Accepts::Object,
        http: false,
    };
    /// A folder here or a prefix in S3: `--archive-uri`, `--lake`.
    pub const FOLDER_OR_PREFIX: Place = Place {
        what: "a folder",
        s3: S3Accepts::Prefix,
        http: false,
    };
    /// A file on this machine only: `--metrics-path` (node_exporter reads it here).
    pub const LOCAL_FILE: Place = Place {
        what: "a file",
        s3: S3Accepts::No,
        http: false,
    };
    /// A file read from here, S3 or a web server: the ops page's status, `downloadUrl`.
    pub const READABLE_FILE: Place = Place {
        what: "a file",
        s3: S3Accepts::Object,
        http: true,
    };

    /// The forms this place takes, for messages.
    pub fn forms(self) -> String {
        let mut forms = vec![
            format!("{} path", self.what),
            "file:///absolute/path".to_owned(),
        ];
        match self.s3 {
            S3Accepts::No => {}
            S3Accepts::Object => forms.push("s3://bucket/key".into()),
            S3Accepts::Prefix => forms.push("s3://bucket/prefix".into()),
        }
        if self.http {
            forms.push("an http(s):// URL".into());
        }
        let last = forms.pop().unwrap_or_default();
        format!("{} or {last}", forms.join(", "))
    }
}

impl Location {
    /// `text` as this place takes it; the error names what was given and what is taken.
    pub fn parse(text: &str, place: Place) -> Result<Location, String> {
        let text = text.trim();
        let takes = || format!("give {}", place.forms());
        if text.is_empty() {
            return Err(format!("it is empty; {}", takes()));
        }
        if strip_scheme(text, "s3").is_some() {
            if place.s3 == S3Accepts::No {
                return Err(format!(
                    "`{text}` is in S3, but this must be on this machine; {}",
                    takes()
                ));
            }
            return S3Uri::parse(text, place.s3 == S3Accepts::Prefix).map(Location::S3);
        }
        if strip_scheme(text, "http").is_some() || strip_scheme(text, "https").is_some() {
            if !place.http {
                return Err(format!(
                    "`{}` is a web address, which cannot be written to; {}",
                    crate::redact::url(text),
                    takes()
                ));
            }
            return Url::parse(text)
                .ok()
                .filter(|u| u.host_str().is_some_and(|h| !h.is_empty()))
                .map(Location::Http)
                .ok_or_else(|| {
                    format!("`{}` is not a valid http(s) URL", crate::redact::url(text))
                });
        }
        if text.len() >= 5 && text[..5].eq_ignore_ascii_case("file:") {
            return Url::parse(text)
                .ok()
                .and_then(|u| u.to_file_path().ok())
                .map(Location::Local)
                .ok_or_else(|| format!("`{text}` is not a file:///absolute/path URL"));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(format!("`{scheme}://` is not supported; {}", takes()));
        }
        Ok(Location::Local(PathBuf::from(text)))
    }

    /// For messages: the path, the `s3://` URI, or the URL without secrets.
    pub fn describe(&self) -> String {
        match self {
            Location::Local(path) => path.display().to_string(),
            Location::S3(uri) => uri.to_string(),
            Location::Http(url) => crate::redact::url(url.as_str()),
        }
    }
}

/// The same location as text that [`Location::parse`] reads back: the status' `downloadUrl`.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(path) => write!(f, "{}", path.display()),
            Location::S3(uri) => write!(f, "{uri}"),
            Location::Http(url) => f.write_str(url.as_str()),
        }
    }
}

/// What follows `scheme://`, the scheme matched without regard to case.
fn strip_scheme<'a>(text: &'a str, scheme: &str) -> Option<&'a str> {
    let n = scheme.len();
    (text.len() >= n + 3 && text[..n].eq_ignore_ascii_case(scheme) && &text[n..n + 3] == "://")
        .then(|| &text[n + 3..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_and_a_file_url_are_the_same_place() {
        for place in [
            Place::FILE_OR_OBJECT,
            Place::FOLDER_OR_PREFIX,
            Place::LOCAL_FILE,
            Place::READABLE_FILE,
        ] {
            assert_eq!(
                Location::parse("/x/s.json", place),
                Location::parse("file:///x/s.json", place)
            );
            assert_eq!(
                Location::parse(" FILE:///x/s.json ", place),
                Ok(Location::Local("/x/s.json".into()))
            );
            assert_eq!(
                Location::parse("status.json", place),
                Ok(Location::Local("status.json".into()))
            );
            assert!(Location::parse("file://host/x", place).is_err());
            assert!(
                Location::parse("gs://b/k", place)
                    .unwrap_err()
                    .contains("gs://")
            );
            assert!(Location::parse(" ", place).unwrap_err().contains("empty"));
        }
    }

    #[test]
    fn each_place_refuses_what_it_cannot_take_and_says_what_it_takes() {
        let s3 = Location::parse("s3://b/k", Place::LOCAL_FILE).unwrap_err();
        assert!(s3.contains("a file path or file:///absolute/path"), "{s3}");
        let http = Location::parse("https://u:pw@h/x", Place::FILE_OR_OBJECT).unwrap_err();
        assert!(
            http.contains("web address") && !http.contains("pw"),
            "{http}"
        );
        assert!(Location::parse("s3://bucket", Place::FILE_OR_OBJECT).is_err());
        assert_eq!(
            Location::parse("s3://bucket", Place::FOLDER_OR_PREFIX),
            Ok(Location::S3(S3Uri {
                bucket: "bucket".into(),
                key: String::new()
            }))
        );
        assert!(matches!(
            Location::parse("https://h/latest.ndjson", Place::READABLE_FILE),
            Ok(Location::Http(_))
        ));
        assert!(Location::parse("http://", Place::READABLE_FILE).is_err());
    }

    #[test]
    fn a_location_reads_back_from_its_text() {
        for text in [
            "/var/lib/x/latest.ndjson",
            "s3://b/p/latest.ndjson",
            "https://h/x",
        ] {
            let location = Location::parse(text, Place::READABLE_FILE).unwrap();
            assert_eq!(location.to_string(), text);
        }
    }
}
