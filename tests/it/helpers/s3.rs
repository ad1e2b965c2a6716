//! The S3-compatible test server named by `TEST_S3_ENDPOINT` (`scripts/test.sh` starts one via
//! `scripts/with-s3.sh`): a fresh bucket per test, and reading what landed there.

use std::sync::Arc;

use axum::http::Request;
use guardrail_followups::s3::{S3Options, open_bucket};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use uuid::Uuid;

/// The test S3 server; fails (never skips) when there is none.
pub fn s3_endpoint() -> String {
    std::env::var("TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "TEST_S3_ENDPOINT is not set. Run the suite with `scripts/test.sh` (it runs \
             scripts/with-s3.sh, which starts moto's S3 server, installing `moto[server]` with \
             pip if needed), or point it at an S3-compatible server you run: \
             TEST_S3_ENDPOINT=http://127.0.0.1:9000 AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… cargo test"
        )
    })
}

pub fn s3_options() -> S3Options {
    S3Options {
        endpoint: Some(s3_endpoint()),
        region: Some(region()),
        ..S3Options::default()
    }
}

fn region() -> String {
    std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into())
}

/// Creates a bucket with a random name on the test S3 server, with a SigV4-signed request.
pub async fn create_bucket() -> String {
    use object_store::aws::{AwsAuthorizer, AwsCredential};
    use object_store::client::{HttpRequest, HttpRequestBody};

    let _ = rustls::crypto::ring::default_provider().install_default();
    let endpoint = s3_endpoint();
    let bucket = format!("gf-test-{}", Uuid::new_v4().simple());
    let url = format!("{}/{bucket}", endpoint.trim_end_matches('/'));
    let region = region();
    let body = if region == "us-east-1" {
        String::new()
    } else {
        format!(
            "<CreateBucketConfiguration><LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>"
        )
    };
    let credential = AwsCredential {
        key_id: std::env::var("AWS_ACCESS_KEY_ID").expect("AWS_ACCESS_KEY_ID for the test S3"),
        secret_key: std::env::var("AWS_SECRET_ACCESS_KEY")
            .expect("AWS_SECRET_ACCESS_KEY for the test S3"),
        token: std::env::var("AWS_SESSION_TOKEN").ok(),
    };
    let mut request: HttpRequest = Request::put(&url)
        .body(HttpRequestBody::from(body.clone()))
        .unwrap();
    AwsAuthorizer::new(&credential, "s3", &region)
        .try_authorize(&mut request, None)
        .unwrap();
    let mut send = reqwest::Client::new().put(&url).body(body);
    for (name, value) in request.headers() {
        send = send.header(name, value);
    }
    let response = send.send().await.unwrap_or_else(|e| {
        panic!(
            "cannot reach the test S3 server at {endpoint} ({e}); is scripts/with-s3.sh running it?"
        )
    });
    let status = response.status();
    assert!(
        status.is_success(),
        "creating bucket {bucket}: {status} {}",
        response.text().await.unwrap_or_default()
    );
    bucket
}

/// The bytes of an object in a bucket of the test S3 server.
pub async fn get_object(bucket: &str, key: &str) -> Vec<u8> {
    TestBucket::open(bucket)
        .get(key)
        .await
        .unwrap_or_else(|| panic!("no object {key} in {bucket}"))
}

/// Every key in a bucket of the test S3 server.
pub async fn list_keys(bucket: &str) -> Vec<String> {
    use futures_util::TryStreamExt;
    let store = TestBucket::open(bucket).store;
    let mut keys: Vec<String> = store
        .list(None)
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    keys
}

/// The objects under `prefix`, joined in the order of their first rows: what the gateway
/// received, batch after batch, byte for byte.
pub async fn lake_bytes(bucket: &TestBucket, prefix: &str) -> Vec<u8> {
    let mut objects = Vec::new();
    for key in list_keys(&bucket.name).await {
        if key.starts_with(prefix) {
            let bytes = bucket.get(&key).await.unwrap();
            let first: serde_json::Value =
                serde_json::from_slice(bytes.split(|b| *b == b'\n').next().unwrap()).unwrap();
            let order = (
                first["createdAt"].as_str().unwrap().to_owned(),
                first["followUpId"].as_str().unwrap().to_owned(),
            );
            objects.push((order, bytes));
        }
    }
    objects.sort();
    objects.into_iter().flat_map(|(_, bytes)| bytes).collect()
}

/// A bucket of the test server, opened as the project opens its buckets.
pub struct TestBucket {
    pub endpoint: String,
    pub name: String,
    pub store: Arc<dyn ObjectStore>,
}

impl TestBucket {
    /// A new bucket with a random name.
    pub async fn new() -> TestBucket {
        TestBucket::open(&create_bucket().await)
    }

    pub fn open(name: &str) -> TestBucket {
        let store = open_bucket(name, &s3_options()).unwrap();
        TestBucket {
            endpoint: s3_endpoint(),
            name: name.to_owned(),
            store,
        }
    }

    pub fn uri(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.name)
    }

    /// The object's bytes, or `None` when absent.
    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self.store.get(&ObjectPath::from(key)).await {
            Ok(result) => Some(result.bytes().await.unwrap().to_vec()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("reading s3://{}/{key}: {e}", self.name),
        }
    }
}
