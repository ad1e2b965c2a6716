//! Who may do what: sessions on every route, CSRF on the trigger, security headers, loopback
//! only without a password, settings checked before the page starts.

use std::sync::atomic::Ordering;

use axum::http::StatusCode;
use guardrail_followups::admin::router;

use super::{file_host, unescape};
use crate::helpers::admin_server::{
    DispatchStandIn, FormBody, PASSWORD, TRIGGER_TOKEN, client, config, csrf_token, minutes_ago,
    sign_in, spawn_router, state, status_file, status_json,
};
use crate::helpers::cli::BIN;

#[tokio::test]
async fn every_route_refuses_requests_without_a_valid_session() {
    let dir = tempfile::tempdir().unwrap();
    let (host, hits) = file_host().await;
    let download = format!("{host}/exports/latest.ndjson");
    let status = status_file(dir.path(), &status_json(&minutes_ago(5), Some(&download)));
    let github = DispatchStandIn::start(204, "", || {}).await;
    let base = spawn_router(router(state(config(Some(status), Some(&github.url))))).await;
    let http = client();
    let forged = "guardrail_admin_session=9999999999.00000000000000000000000000000000.00";
    let old_password_cookie = {
        // A genuine cookie is refused once the password changes (same key, other password).
        let other = {
            let mut c = config(None, None);
            c.auth.password = Some("the old password".to_owned().into());
            spawn_router(router(state(c))).await
        };
        let response = http
            .post(format!("{other}/admin/login"))
            .form(&[("password", "the old password")])
            .send()
            .await
            .unwrap();
        let cookie = response.headers()["set-cookie"].to_str().unwrap();
        cookie.split(';').next().unwrap().to_owned()
    };

    for cookie in [None, Some(forged), Some(old_password_cookie.as_str())] {
        let with = |request: reqwest::RequestBuilder| match cookie {
            Some(c) => request.header("cookie", c),
            None => request,
        };
        for path in ["/", "/admin/reports"] {
            let response = with(http.get(format!("{base}{path}")))
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::SEE_OTHER,
                "{path} {cookie:?}"
            );
            assert_eq!(response.headers()["location"], "/admin/login");
            let body = response.text().await.unwrap();
            assert!(!body.contains("842"), "{path} shows nothing: {body}");
        }
        let response = with(http.get(format!("{base}/api/reporting/guardrail-followups/export")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{cookie:?}");
        for path in [
            "/api/reporting/guardrail-followups/trigger",
            "/admin/logout",
        ] {
            let response = with(http.post(format!("{base}{path}")))
                .form(&[("csrf_token", "00")])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        }
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the download was never fetched"
    );
    assert!(
        github.requests().is_empty(),
        "the workflow was never dispatched"
    );

    // A wrong password gets the form again, not a session.
    let response = http
        .post(format!("{base}/admin/login"))
        .form(&[("password", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().get("set-cookie").is_none());
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("That password is not right")
    );
    // The login form and the stylesheet are the only things served without a session.
    for path in ["/admin/login", "/admin/assets/admin.css"] {
        let response = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn a_trigger_post_without_a_valid_csrf_token_is_refused_and_never_reaches_the_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let status = status_file(dir.path(), &status_json(&minutes_ago(5), None));
    let github = DispatchStandIn::start(204, "", || {}).await;
    let base = spawn_router(router(state(config(Some(status), Some(&github.url))))).await;
    let http = client();
    let cookie = sign_in(&http, &base).await;
    let page = http
        .get(format!("{base}/admin/reports"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf_token(&page);
    let other_sessions_token = {
        let other = sign_in(&http, &base).await;
        let page = http
            .get(format!("{base}/admin/reports"))
            .header("cookie", &other)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        csrf_token(&page)
    };
    assert_ne!(token, other_sessions_token);
    let trigger = format!("{base}/api/reporting/guardrail-followups/trigger");

    let refused: Vec<(&str, reqwest::RequestBuilder)> = vec![
        ("no body", http.post(&trigger)),
        ("no token", http.post(&trigger).form(&[("other", "x")])),
        (
            "empty token",
            http.post(&trigger).form(&[("csrf_token", "")]),
        ),
        (
            "a made-up token",
            http.post(&trigger)
                .form(&[("csrf_token", "deadbeef".repeat(8).as_str())]),
        ),
        (
            "another session's token",
            http.post(&trigger)
                .form(&[("csrf_token", other_sessions_token.as_str())]),
        ),
        (
            "the right token in the query instead of the form",
            http.post(format!("{trigger}?csrf_token={token}")),
        ),
        (
            "the right token, sent from another site",
            http.post(&trigger)
                .header("sec-fetch-site", "cross-site")
                .form(&[("csrf_token", token.as_str())]),
        ),
    ];
    for (case, request) in refused {
        let response = request.header("cookie", &cookie).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{case}");
        let body = response.text().await.unwrap();
        assert!(body.contains("Nothing was started"), "{case}: {body}");
    }
    assert!(
        github.requests().is_empty(),
        "a refused request never reaches the workflow endpoint"
    );

    // The page's own form goes through.
    let response = http
        .post(&trigger)
        .header("cookie", &cookie)
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/admin/reports");
    assert_eq!(github.requests().len(), 1);
}

#[tokio::test]
async fn a_dispatch_endpoint_that_cannot_be_reached_is_reported_on_the_card() {
    let dir = tempfile::tempdir().unwrap();
    let status = status_file(dir.path(), &status_json(&minutes_ago(5), None));
    let refusing = crate::helpers::server::ClosedPort::new();
    let closed = format!(
        "http://127.0.0.1:{}/repos/acme/app/actions/workflows/x.yml/dispatches",
        refusing.port
    );
    let base = spawn_router(router(state(config(Some(status), Some(&closed))))).await;
    let http = client();
    let cookie = sign_in(&http, &base).await;
    let report = format!("{base}/admin/reports");
    let page = http
        .get(&report)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let token = csrf_token(&page.text().await.unwrap());
    let response = http
        .post(format!("{base}/api/reporting/guardrail-followups/trigger"))
        .header("cookie", &cookie)
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = http
        .get(&report)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let html = unescape(&page.text().await.unwrap());
    assert!(
        html.contains("role=\"alert\"")
            && html.contains("The export could not be started.")
            && html.contains(&format!(
                "The workflow endpoint {closed} could not be reached"
            )),
        "{html}"
    );
}

#[tokio::test]
async fn settings_that_cannot_work_stop_the_page_before_it_starts() {
    for (args, message) in [
        (
            vec!["--status-cache-seconds", "7200"],
            "7200 is not in 0..=3600",
        ),
        (
            vec!["--trigger-url", "ftp://example.com/dispatch"],
            "error: GUARDRAIL_EXPORT_TRIGGER_URL `ftp://example.com/dispatch` is not an http(s) URL",
        ),
        (
            vec!["--status-url", "ftp://bucket/status.json"],
            "error: GUARDRAIL_EXPORT_STATUS_URL `ftp://bucket/status.json`: `ftp://` is not supported; give a file path, file:///absolute/path, s3://bucket/key or an http(s):// URL",
        ),
        (
            vec!["--session-key", "short"],
            "error: --session-key (GUARDRAIL_ADMIN_SESSION_KEY) must be at least 32 characters long",
        ),
    ] {
        let mut command = tokio::process::Command::new(BIN);
        command
            .args(["admin", "--listen", "127.0.0.1:0"])
            .args(&args);
        crate::helpers::sanitise_env(&mut command);
        let output = command.output().await.unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn pages_carry_security_headers_and_never_the_trigger_token() {
    let dir = tempfile::tempdir().unwrap();
    let status = status_file(dir.path(), &status_json(&minutes_ago(5), None));
    let github = DispatchStandIn::start(204, "", || {}).await;
    let base = spawn_router(router(state(config(Some(status), Some(&github.url))))).await;
    let http = client();
    let cookie = sign_in(&http, &base).await;
    for path in ["/admin/reports", "/admin/login", "/nowhere"] {
        let response = http
            .get(format!("{base}{path}"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        let headers = response.headers().clone();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'")
                && csp.contains("frame-ancestors 'none'")
                && !csp.contains("script-src")
                && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(headers["cache-control"], "no-store", "{path}");
        let body = response.text().await.unwrap();
        assert!(!body.contains(TRIGGER_TOKEN), "{path}");
        assert!(!body.contains("<script"), "{path}");
        assert!(!body.contains("style="), "{path}: no inline styles");
    }
    let response = http
        .post(format!("{base}/admin/login"))
        .form(&[("password", PASSWORD)]);
    let cookie = response.send().await.unwrap().headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
}

#[tokio::test]
async fn without_a_password_only_this_machine_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let status = status_file(dir.path(), &status_json(&minutes_ago(5), None));
    let mut open = config(Some(status), None);
    open.auth.password = None;
    let base = spawn_router(router(state(open))).await;
    let http = client();
    let response = http
        .get(format!("{base}/admin/reports"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Guardrail export health")
    );
    // A page on another site whose name resolves to 127.0.0.1 (DNS rebinding) gets nothing.
    let response = http
        .get(format!("{base}/admin/reports"))
        .header("host", "attacker.example:8081")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // And the binary will not listen beyond loopback without a password.
    let output = crate::helpers::sanitise_env(&mut tokio::process::Command::new(BIN))
        .args(["admin", "--listen", "0.0.0.0:0"])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stderr.trim(),
        "error: refusing to listen on 0.0.0.0:0 without authentication: set --password \
         (GUARDRAIL_ADMIN_PASSWORD) or listen on a loopback address such as 127.0.0.1"
    );
}
