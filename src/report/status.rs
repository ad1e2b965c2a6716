//! The status JSON the admin page reads: `{cursor, rows, updatedAt, downloadUrl, workflowUrl}`
//! (plus `cursorId` and `totalRows`), written after each successful run.

use std::path::PathBuf;

use anyhow::Context;
use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use super::ReportConfig;
use crate::export::Summary;
use crate::s3::{S3Options, S3Uri, open_bucket};
use crate::time::Timestamp;

/// Where the status is written.
#[derive(Debug, Clone)]
pub enum StatusTarget {
    File(PathBuf),
    S3 { uri: S3Uri, options: S3Options },
}

impl StatusTarget {
    /// A file path, or `s3://bucket/key`.
    pub fn parse(text: &str, options: &S3Options) -> Result<StatusTarget, String> {
        if text.starts_with("s3://") {
            Ok(StatusTarget::S3 {
                uri: S3Uri::parse(text, false)?,
                options: options.clone(),
            })
        } else {
            Ok(StatusTarget::File(PathBuf::from(text)))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// `createdAt` of the last row delivered: the next run starts after it.
    pub cursor: Option<String>,
    pub cursor_id: Option<String>,
    /// Rows delivered by this run.
    pub rows: u64,
    pub total_rows: u64,
    /// Late rows the audit found behind the cursor in this run (and delivered).
    pub late_rows: u64,
    pub updated_at: String,
    pub download_url: Option<String>,
    pub workflow_url: Option<String>,
}

impl Status {
    pub fn of(summary: &Summary, config: &ReportConfig) -> Status {
        Status {
            cursor: summary.cursor.map(|p| p.created_at.to_string()),
            cursor_id: summary.cursor.and_then(|p| p.id).map(|id| id.to_string()),
            rows: summary.rows,
            total_rows: summary.total_rows,
            late_rows: summary.late.found,
            updated_at: Timestamp::now().to_string(),
            download_url: config.download_url.clone(),
            workflow_url: config.workflow_url.clone(),
        }
    }

    pub async fn publish(&self, target: &StatusTarget) -> anyhow::Result<()> {
        let mut body = serde_json::to_vec_pretty(self).expect("a status serialises");
        body.push(b'\n');
        match target {
            StatusTarget::File(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
                crate::fs::write_atomically(path, &body, crate::fs::Readers::Umask)
                    .with_context(|| format!("writing the status {}", path.display()))
            }
            StatusTarget::S3 { uri, options } => {
                let store = open_bucket(&uri.bucket, options)?;
                store
                    .put(
                        &ObjectPath::from(uri.key.as_str()),
                        PutPayload::from(Bytes::from(body)),
                    )
                    .await
                    .with_context(|| format!("writing the status {uri}"))?;
                Ok(())
            }
        }
    }
}
