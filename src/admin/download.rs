//! `GET /api/reporting/guardrail-followups/export`: the latest NDJSON export, streamed from the
//! status' `downloadUrl` to the browser chunk by chunk, so memory stays flat whatever the size.
//!
//! An `s3://bucket/key` download is read with the page's own S3 settings and credentials
//! (`object_store`'s byte stream), with the same headers and the same error answers; a file
//! only from inside the exporter's archive folder (`--archive-dir`), links resolved.
//!
//! The URL is the status' and nothing else: the request's path, query and headers are not
//! looked at, and redirects stay on the URL's own origin (see [`crate::admin::upstream`]).
//! 503 when there is nothing to download, 502 when the upstream fails before the first byte;
//! a failure mid-stream cuts the response short, so the browser reports a failed download
//! rather than saving a truncated file as complete.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, ObjectStoreExt};

use crate::admin::source::ReadFailure;
use crate::admin::{AdminState, pages};
use crate::location::Location;
use crate::redact;
use crate::s3::{S3Uri, open_bucket_for_streaming};
use crate::status::{Cursor, Field};

pub async fn export(State(state): State<Arc<AdminState>>) -> Response {
    let snapshot = state.status.get().await;
    let status = match &snapshot.result {
        Ok(status) => status,
        Err(ReadFailure::Missing(_)) => {
            return unavailable("No export has run yet, so there is no file to download.");
        }
        Err(reason) => {
            return unavailable(&format!(
                "The export status could not be read, so there is no file to download: {reason}"
            ));
        }
    };
    let url = match &status.download_url {
        Field::Value(Location::Http(url)) => url.clone(),
        Field::Value(Location::S3(object)) => return from_s3(&state, object, &status.cursor).await,
        Field::Value(Location::Local(path)) => {
            return from_file(&state, path, &status.cursor).await;
        }
        Field::Null => {
            return unavailable("The last export published no file (downloadUrl is null).");
        }
        Field::Missing => return unavailable("The export status has no downloadUrl."),
        Field::Invalid { found } => {
            return unavailable(&format!(
                "The export status' downloadUrl is {found}, not a file, an s3:// object or an http(s) URL."
            ));
        }
    };
    // Errors below name the redacted URL only: a presigned URL's query is a credential.
    let shown = redact::url(url.as_str());
    let upstream = match state.download_client.get(url).send().await {
        Ok(response) => response,
        Err(error) => {
            let reason = redact::error_chain(&error.without_url());
            tracing::warn!("download: cannot fetch {shown}: {reason}");
            return bad_gateway(&format!("The export file could not be fetched: {reason}."));
        }
    };
    let code = upstream.status();
    if !code.is_success() {
        tracing::warn!("download: {shown} answered {code}");
        return bad_gateway(&format!(
            "The export file could not be fetched: its server answered {code}."
        ));
    }
    let mut response = ndjson_response(&status.cursor);
    // Passed through as they are: the bytes are not decoded on the way.
    for name in [header::CONTENT_LENGTH, header::CONTENT_ENCODING] {
        if let Some(value) = upstream.headers().get(&name) {
            response = response.header(name, value.clone());
        }
    }
    let body = upstream.bytes_stream().map_err(reqwest::Error::without_url);
    streamed(response, body, shown)
}

/// The headers of every download: NDJSON, named after the cursor, never cached.
fn ndjson_response(cursor: &Field<Cursor>) -> axum::http::response::Builder {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .header(header::CONTENT_DISPOSITION, disposition(cursor))
        .header(header::CACHE_CONTROL, "no-store")
}

/// `response` with `body` streamed to the browser as it arrives; a stream cut short is logged
/// (and ends the download), naming `shown`.
fn streamed<E>(
    response: axum::http::response::Builder,
    body: impl futures_util::Stream<Item = Result<bytes::Bytes, E>> + Send + 'static,
    shown: String,
) -> Response
where
    E: std::error::Error + Send + Sync + 'static,
{
    let body = body.map_err(move |error| {
        tracing::warn!(
            "download from {shown} cut short: {}",
            redact::error_chain(&error)
        );
        error
    });
    response
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Streams the file `path` names, only when it lies inside the configured archive folder once
/// links are resolved: the status names the file, and whoever can write the status must not
/// be able to make the page serve anything else.
async fn from_file(state: &AdminState, path: &std::path::Path, cursor: &Field<Cursor>) -> Response {
    let Some(archive) = &state.archive_dir else {
        return unavailable(&format!(
            "The export status' downloadUrl is the file {} on the exporter's machine; this page \
             serves such a file only from the exporter's archive folder, and none is configured \
             ({}).",
            path.display(),
            crate::env_vars::ADMIN_ARCHIVE_DIR
        ));
    };
    // Only a path inside the folder says whether it exists or can be read: any other is refused
    // the same way, existing or not.
    let lexically_inside = path.starts_with(archive)
        && !path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir));
    let real_archive = tokio::fs::canonicalize(archive).await.ok();
    let resolved = match tokio::fs::canonicalize(path).await {
        Ok(resolved) => Some(resolved),
        Err(error) if lexically_inside => {
            tracing::warn!("download: cannot open {}: {error}", path.display());
            return bad_gateway(&format!(
                "The export file could not be read: {}: {error}.",
                path.display()
            ));
        }
        Err(_) => None,
    };
    let resolved = match (resolved, real_archive) {
        (Some(resolved), Some(archive)) if resolved.starts_with(&archive) => Some(resolved),
        _ => None,
    };
    let Some(resolved) = resolved else {
        tracing::warn!(
            "download: refused {}, which is not inside {}",
            path.display(),
            archive.display()
        );
        return unavailable(&format!(
            "The export status' downloadUrl is the file {}, which is not inside the archive \
             folder {} that this page serves from.",
            path.display(),
            archive.display()
        ));
    };
    let file = match tokio::fs::File::open(&resolved).await {
        Ok(file) => file,
        Err(error) => {
            tracing::warn!("download: cannot open {}: {error}", resolved.display());
            return bad_gateway(&format!(
                "The export file could not be read: {}: {error}.",
                path.display()
            ));
        }
    };
    let mut response = ndjson_response(cursor);
    if let Ok(metadata) = file.metadata().await {
        response = response.header(header::CONTENT_LENGTH, metadata.len());
    }
    let body = tokio_util::io::ReaderStream::new(file);
    streamed(response, body, path.display().to_string())
}

/// Streams the object `object` names, read with the page's S3 settings.
async fn from_s3(state: &AdminState, object: &S3Uri, cursor: &Field<Cursor>) -> Response {
    let store = match open_bucket_for_streaming(&object.bucket, &state.s3) {
        Ok(store) => store,
        Err(error) => {
            tracing::warn!("download: cannot open {object}: {error:#}");
            return bad_gateway(&format!("The export file could not be fetched: {error:#}."));
        }
    };
    let found = match store.get(&ObjectPath::from(object.key.as_str())).await {
        Ok(found) => found,
        Err(object_store::Error::NotFound { .. }) => {
            tracing::warn!("download: {object} does not exist");
            return bad_gateway(&format!(
                "The export file could not be fetched: {object} does not exist."
            ));
        }
        Err(error) => {
            let reason = redact::error_chain(&error);
            tracing::warn!("download: cannot fetch {object}: {reason}");
            return bad_gateway(&format!("The export file could not be fetched: {reason}."));
        }
    };
    let mut response = ndjson_response(cursor).header(header::CONTENT_LENGTH, found.meta.size);
    // Passed through as it is, like an http(s) upstream's: the bytes are not decoded.
    let encoding = found.attributes.get(&Attribute::ContentEncoding);
    if let Some(value) = encoding.and_then(|e| HeaderValue::from_str(e).ok()) {
        response = response.header(header::CONTENT_ENCODING, value);
    }
    streamed(response, found.into_stream(), object.to_string())
}

/// `attachment; filename="guardrail-followups-20260122T040000Z.ndjson"`, from the cursor the
/// file reaches; `…-latest.ndjson` when the status has none.
pub fn disposition(cursor: &Field<Cursor>) -> HeaderValue {
    let stamp = match cursor {
        Field::Value(cursor) => cursor.at.format("%Y%m%dT%H%M%SZ").to_string(),
        _ => "latest".into(),
    };
    HeaderValue::from_str(&format!(
        "attachment; filename=\"guardrail-followups-{stamp}.ndjson\""
    ))
    .expect("ASCII header value")
}

fn unavailable(reason: &str) -> Response {
    pages::message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Download unavailable",
        reason,
    )
}

fn bad_gateway(reason: &str) -> Response {
    pages::message(StatusCode::BAD_GATEWAY, "Download failed", reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::timestamp;

    #[test]
    fn the_filename_comes_from_the_cursor() {
        let cursor = Field::Value(Cursor {
            text: "2026-01-22T04:00:00.123456Z".into(),
            at: timestamp("2026-01-22T04:00:00.123456Z").unwrap(),
        });
        assert_eq!(
            disposition(&cursor),
            "attachment; filename=\"guardrail-followups-20260122T040000Z.ndjson\""
        );
        assert_eq!(
            disposition(&Field::Null),
            "attachment; filename=\"guardrail-followups-latest.ndjson\""
        );
    }
}
