//! The ops page beside a systemd export on the same host: it serves the folder archive's
//! `latest.ndjson` (and nothing outside that folder, whatever the status says), and "Run export
//! now" writes the request file a path unit watches.

use reqwest::StatusCode;

use guardrail_followups::admin::config::TriggerSetting;
use guardrail_followups::admin::router;

use super::{NDJSON, unescape};
use crate::helpers::admin_server::{
    FormBody, client, config, csrf_token, get_download, minutes_ago, reports_page, sign_in,
    spawn_router, state, status_file, status_json,
};

/// A page reading a status whose `downloadUrl` is `download`, serving from `archive`.
async fn page(
    dir: &std::path::Path,
    download: &str,
    archive: Option<&std::path::Path>,
) -> (String, reqwest::Client, String) {
    let status = status_file(dir, &status_json(&minutes_ago(5), Some(download)));
    let mut config = config(Some(status), None);
    config.archive_dir = archive.map(std::path::Path::to_path_buf);
    let base = spawn_router(router(state(config))).await;
    let http = client();
    let cookie = sign_in(&http, &base).await;
    (base, http, cookie)
}

#[tokio::test]
async fn the_archives_latest_file_is_served_and_nothing_outside_the_archive_folder() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    std::fs::create_dir_all(archive.join("runs")).unwrap();
    let latest = archive.join("latest.ndjson");
    std::fs::write(&latest, NDJSON).unwrap();
    let outside = dir.path().join("secret.txt");
    std::fs::write(&outside, "not for the browser\n").unwrap();
    // A link inside the archive to a file outside it, and a path that climbs out.
    std::os::unix::fs::symlink(&outside, archive.join("runs/link.ndjson")).unwrap();
    let climbing = format!("{}/runs/../../secret.txt", archive.display());

    let (base, http, cookie) = page(dir.path(), latest.to_str().unwrap(), Some(&archive)).await;
    let response = get_download(&http, &base, &cookie).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/x-ndjson",
        "served as NDJSON"
    );
    assert_eq!(response.text().await.unwrap(), NDJSON);

    for (download, why) in [
        (outside.display().to_string(), "a file outside the folder"),
        (
            archive.join("runs/link.ndjson").display().to_string(),
            "a link out of the folder",
        ),
        (climbing, "a path that climbs out"),
        ("/etc/passwd".to_owned(), "a system file"),
        (
            "/etc/no-such-file".to_owned(),
            "a file that does not exist outside the folder",
        ),
    ] {
        let sub = tempfile::tempdir().unwrap();
        let (base, http, cookie) = page(sub.path(), &download, Some(&archive)).await;
        let response = get_download(&http, &base, &cookie).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{why}");
        let body = unescape(&response.text().await.unwrap());
        assert!(
            body.contains("is not inside the archive folder"),
            "{why}: {body}"
        );
        assert!(
            !body.contains("not for the browser") && !body.contains("root:"),
            "{why}"
        );
    }

    // Without an archive folder configured no file is served, and the page says what to set.
    let sub = tempfile::tempdir().unwrap();
    let (base, http, cookie) = page(sub.path(), latest.to_str().unwrap(), None).await;
    let response = get_download(&http, &base, &cookie).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = unescape(&response.text().await.unwrap());
    assert!(body.contains("GUARDRAIL_ADMIN_ARCHIVE_DIR"), "{body}");
}

#[tokio::test]
async fn run_export_now_writes_the_request_file_the_path_unit_watches() {
    let dir = tempfile::tempdir().unwrap();
    let request = dir.path().join("run-export");
    let status = status_file(dir.path(), &status_json(&minutes_ago(5), None));
    let mut config = config(Some(status), None);
    config.trigger = TriggerSetting::RequestFile(request.clone());
    let base = spawn_router(router(state(config))).await;
    let http = client();
    let cookie = sign_in(&http, &base).await;
    let page = reports_page(&http, &base, &cookie).await;
    assert!(
        unescape(&page)
            .contains(r#"id="run-export" title="Starts the export on the exporter's host""#),
        "the button is enabled and says what it does: {page}"
    );
    let token = csrf_token(&page);
    for n in 1..=2 {
        let response = http
            .post(format!(
                "{base}{}",
                guardrail_followups::admin::TRIGGER_PATH
            ))
            .header("cookie", &cookie)
            .form(&[("csrf_token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "click {n}");
        let written = std::fs::read_to_string(&request).unwrap();
        assert!(
            written.starts_with("export requested from the ops page at "),
            "{written}"
        );
        let card = reports_page(&http, &base, &cookie).await;
        assert!(
            unescape(&card).contains("The export was requested"),
            "click {n}"
        );
    }
}
