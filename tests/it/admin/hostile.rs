//! The page against someone who means harm, on the real binary: guessing the password from one
//! address, reusing a signed-out cookie, a dispatch endpoint that echoes the token, forms sent
//! from another site, and secrets too weak to start with.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};

use super::unescape;
use crate::helpers::admin_server::{
    AdminProcess, DispatchStandIn, FormBody, PASSWORD, TRIGGER_TOKEN, client, csrf_token,
    get_download, minutes_ago, sign_in, spawn_router, status_file, status_json,
};
use crate::helpers::browser::Browser;
use crate::helpers::cli::BIN;

/// The admin binary with a password and a status file in `dir`, plus `env`.
async fn admin(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> AdminProcess {
    status_file(dir, &status_json(&minutes_ago(5), None));
    let status = dir.join("status.json");
    let mut all = vec![
        ("GUARDRAIL_EXPORT_STATUS_URL", status.to_str().unwrap()),
        ("GUARDRAIL_ADMIN_PASSWORD", PASSWORD),
    ];
    all.extend_from_slice(env);
    AdminProcess::start(args, &all).await
}

/// [`admin`] with "Run export now" dispatching to `url`.
async fn admin_dispatching_to(dir: &std::path::Path, url: &str) -> AdminProcess {
    let env = [
        ("GUARDRAIL_EXPORT_TRIGGER_URL", url),
        ("GUARDRAIL_EXPORT_TRIGGER_TOKEN", TRIGGER_TOKEN),
    ];
    admin(dir, &[], &env).await
}

/// A client whose connections come from `address` (any of 127.0.0.0/8 is this machine).
fn client_from(address: &str) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(address.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn login(http: &reqwest::Client, base: &str, password: &str) -> reqwest::Response {
    http.post(format!("{base}/admin/login"))
        .form(&[("password", password)])
        .send()
        .await
        .unwrap()
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The report page's HTML for `cookie`.
async fn report(http: &reqwest::Client, base: &str, cookie: &str) -> reqwest::Response {
    http.get(format!("{base}/admin/reports"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_hundred_failed_logins_from_one_address_slow_it_down_but_never_lock_out_another() {
    let dir = tempfile::tempdir().unwrap();
    let admin = admin(dir.path(), &[], &[]).await;
    let attacker = client_from("127.0.0.2");
    let mut statuses = Vec::new();
    let mut waits = Vec::new();
    for i in 0..100 {
        let response = login(&attacker, &admin.base, &format!("guess number {i}")).await;
        assert!(response.headers().get("set-cookie").is_none());
        statuses.push(response.status().as_u16());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            waits.push(retry_after(&response));
            let body = response.text().await.unwrap();
            assert!(body.contains("Too many failed attempts. Wait"), "{body}");
        }
    }
    // Ten wrong passwords are answered as such, then the address must wait.
    assert_eq!(statuses[..10], [401; 10]);
    assert!(statuses[10..].iter().all(|s| *s == 429), "{statuses:?}");
    assert!(waits.iter().all(|w| *w == 1), "{waits:?}");

    // The ops user, from another address, signs in at once.
    let ops = client_from("127.0.0.1");
    let response = login(&ops, &admin.base, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(response.headers().get("set-cookie").is_some());
    // The attacking address gets no password checked while it waits, not even the right one.
    let response = login(&attacker, &admin.base, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);

    // That each further failure doubles the wait is `throttle.rs`'s to prove, on injected
    // instants (`free_failures_cost_nothing_and_later_ones_double_the_wait_up_to_the_cap`): waiting it out here
    // would only spend seconds of real time.
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_a_trusted_proxy() {
    let dir = tempfile::tempdir().unwrap();
    // 127.0.0.3 is the reverse proxy; it says who the client was in X-Forwarded-For.
    let admin = admin(dir.path(), &["--trusted-proxy", "127.0.0.3"], &[]).await;
    let proxy = client_from("127.0.0.3");
    let from = |client: &'static str, password: &str| {
        proxy
            .post(format!("{}/admin/login", admin.base))
            .header("x-forwarded-for", client)
            .form(&[("password", password)])
            .send()
    };
    for _ in 0..10 {
        assert_eq!(
            from("198.51.100.66", "guess").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let throttled = from("198.51.100.66", PASSWORD).await.unwrap();
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    let other = from("198.51.100.7", PASSWORD).await.unwrap();
    assert_eq!(
        other.status(),
        StatusCode::SEE_OTHER,
        "another client behind the proxy"
    );

    // From anywhere else the header is the client's own say-so: inventing a new address for
    // every guess does not help.
    let liar = client_from("127.0.0.4");
    for i in 0..11 {
        let response = liar
            .post(format!("{}/admin/login", admin.base))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .form(&[("password", "guess")])
            .send()
            .await
            .unwrap();
        let expected = if i < 10 { 401 } else { 429 };
        assert_eq!(response.status().as_u16(), expected, "guess {i}");
    }
}

#[tokio::test]
async fn a_signed_out_cookie_is_refused_afterwards() {
    let dir = tempfile::tempdir().unwrap();
    let github = DispatchStandIn::start(204, "", || {}).await;
    let admin = admin_dispatching_to(dir.path(), &github.url).await;
    let http = client();
    let cookie = sign_in(&http, &admin.base).await;
    let other = sign_in(&http, &admin.base).await;
    let page = report(&http, &admin.base, &cookie).await;
    assert_eq!(page.status(), StatusCode::OK);
    let token = csrf_token(&page.text().await.unwrap());

    let response = http
        .post(format!("{}/admin/logout", admin.base))
        .header("cookie", &cookie)
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/admin/login");

    // The same cookie value, sent again (a copy of it, or a browser that kept it).
    let response = report(&http, &admin.base, &cookie).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/admin/login");
    let response = get_download(&http, &admin.base, &cookie).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = http
        .post(format!(
            "{}/api/reporting/guardrail-followups/trigger",
            admin.base
        ))
        .header("cookie", &cookie)
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(github.requests().is_empty(), "nothing was dispatched");
    // The login form no longer takes it for a session either.
    let response = http
        .get(format!("{}/admin/login", admin.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Another session is not affected.
    assert_eq!(
        report(&http, &admin.base, &other).await.status(),
        StatusCode::OK
    );
}

/// A dispatch endpoint that refuses with 422 and repeats the request's `Authorization`: as a
/// GitHub-style JSON message first, then as plain text with the bare token.
async fn echoing_endpoint() -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let handler = move |headers: HeaderMap| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            let authorization = headers["authorization"].to_str().unwrap().to_owned();
            let token = authorization.trim_start_matches("Bearer ").to_owned();
            if n == 0 {
                let body = serde_json::json!({
                    "message": format!("Invalid request. Authorization: {authorization} is not allowed to dispatch"),
                    "request": {"headers": {"authorization": authorization}},
                });
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    [("content-type", "application/json")],
                    body.to_string(),
                )
                    .into_response()
            } else {
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    [("content-type", "text/plain")],
                    format!("bad credentials token={token}\nrequest-id {token}-x"),
                )
                    .into_response()
            }
        }
    };
    let path = "/repos/acme/app/actions/workflows/guardrail-followup-export.yml/dispatches";
    let base = spawn_router(Router::new().route(path, post(handler))).await;
    (format!("{base}{path}"), calls)
}

#[tokio::test]
async fn an_echoed_bearer_token_never_reaches_the_page_or_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (url, calls) = echoing_endpoint().await;
    let admin = admin_dispatching_to(dir.path(), &url).await;
    let http = client();
    let cookie = sign_in(&http, &admin.base).await;
    let mut flashes = Vec::new();
    for _ in 0..2 {
        let page = report(&http, &admin.base, &cookie).await;
        let token = csrf_token(&page.text().await.unwrap());
        let response = http
            .post(format!(
                "{}/api/reporting/guardrail-followups/trigger",
                admin.base
            ))
            .header("cookie", &cookie)
            .form(&[("csrf_token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let html = unescape(
            &report(&http, &admin.base, &cookie)
                .await
                .text()
                .await
                .unwrap(),
        );
        let start = html.find("id=\"flash\"").expect("a flash message");
        flashes.push(html[start..].split("</div>").next().unwrap().to_owned());
        assert!(!html.contains(TRIGGER_TOKEN), "{html}");
        assert!(!html.contains("ghp_test"), "{html}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(
        flashes[0].contains("The workflow endpoint answered 422 Unprocessable Entity: Invalid request. Authorization: Bearer *** is not allowed to dispatch."),
        "{flashes:?}"
    );
    assert!(
        flashes[1].contains("bad credentials token=***"),
        "{flashes:?}"
    );

    let log = admin.log();
    assert!(
        log.contains("export workflow dispatch refused: 422"),
        "the refusal is logged: {log}"
    );
    assert!(!log.contains(TRIGGER_TOKEN), "{log}");
    assert!(!log.contains("ghp_test"), "{log}");
}

/// Signs in, reads the CSRF token: what a person at the page has.
async fn signed_in(http: &reqwest::Client, base: &str) -> (String, String) {
    let cookie = sign_in(http, base).await;
    let page = report(http, base, &cookie).await;
    let token = csrf_token(&page.text().await.unwrap());
    (cookie, token)
}

#[tokio::test]
async fn posts_from_another_origin_are_refused_and_nothing_is_dispatched() {
    let dir = tempfile::tempdir().unwrap();
    let github = DispatchStandIn::start(204, "", || {}).await;
    let admin = admin_dispatching_to(dir.path(), &github.url).await;
    let http = client();
    let (cookie, token) = signed_in(&http, &admin.base).await;
    let trigger = format!("{}/api/reporting/guardrail-followups/trigger", admin.base);
    let post = |header: &'static str, value: String| {
        http.post(&trigger)
            .header("cookie", &cookie)
            .header(header, value)
            .form(&[("csrf_token", token.as_str())])
            .send()
    };
    for (header, value) in [
        ("origin", "http://evil.example"),
        ("origin", "https://evil.example:8081"),
        ("referer", "http://evil.example/attack.html"),
    ] {
        let response = post(header, value.to_owned()).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{header}: {value}"
        );
        let body = unescape(&response.text().await.unwrap());
        assert!(
            body.contains("Nothing was started: the request came from another site")
                && body.contains(&format!("this page is {}", admin.base)),
            "{body}"
        );
    }
    assert!(github.requests().is_empty(), "nothing was dispatched");

    let response = http
        .post(format!("{}/admin/login", admin.base))
        .header("origin", "http://evil.example")
        .form(&[("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get("set-cookie").is_none());
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Nobody was signed in: the request came from another site")
    );
    let response = http
        .post(format!("{}/admin/logout", admin.base))
        .header("cookie", &cookie)
        .header("origin", "http://evil.example")
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        report(&http, &admin.base, &cookie).await.status(),
        StatusCode::OK,
        "still signed in"
    );

    // Its own origin, and a script that sends neither Origin nor Referer, go through.
    let response = post("origin", admin.base.clone()).await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = http
        .post(&trigger)
        .header("cookie", &cookie)
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(github.requests().len(), 2);
}

#[tokio::test]
async fn a_login_form_on_another_origin_is_refused_in_the_browser() {
    let dir = tempfile::tempdir().unwrap();
    let admin = admin(dir.path(), &[], &[]).await;
    // Same host, another port: another origin, though the same site for cookies.
    let action = format!("{}/admin/login", admin.base);
    let page = format!(
        "<!doctype html><title>Totally the ops page</title>\
         <form method=post action=\"{action}\">\
         <input type=hidden name=password value=\"{PASSWORD}\">\
         <button id=go>Continue</button></form>"
    );
    let evil = spawn_router(Router::new().route(
        "/",
        get(move || {
            let page = page.clone();
            async move { Html(page) }
        }),
    ))
    .await;
    let browser = Browser::start().await;
    browser.goto(&format!("{evil}/")).await;
    browser.element("#go").await.click().await.unwrap();
    let text = browser
        .text_once_it_holds("main, body", "Request refused")
        .await;
    assert!(
        text.contains("Request refused")
            && text.contains("Nobody was signed in: the request came from another site"),
        "{text}"
    );
    // And no session was made: the report still asks to sign in.
    browser.goto(&format!("{}/admin/reports", admin.base)).await;
    browser.element("#password").await;
    // The page's own form, in the same browser, works.
    browser.sign_in(&admin.base, PASSWORD).await;
    browser.close().await;
}

#[tokio::test]
async fn blank_or_short_secrets_stop_the_page_before_it_starts() {
    let cases: [(&[(&str, &str)], &str); 6] = [
        (
            &[("GUARDRAIL_ADMIN_PASSWORD", "   ")],
            "error: --password (GUARDRAIL_ADMIN_PASSWORD) is blank. Fix: set it to a value of at \
             least 12 characters, or leave it unset to serve this machine only (loopback)",
        ),
        (
            &[("GUARDRAIL_ADMIN_PASSWORD", " hunter2 \n")],
            "error: --password (GUARDRAIL_ADMIN_PASSWORD) must be at least 12 characters long. \
             Fix: set a longer value (a random one: openssl rand -hex 24), or leave it unset to \
             serve this machine only (loopback)",
        ),
        (
            &[("GUARDRAIL_ADMIN_SESSION_KEY", "\t")],
            "error: --session-key (GUARDRAIL_ADMIN_SESSION_KEY) is blank. Fix: set it to a value \
             of at least 32 characters, or leave it unset for a random key per start",
        ),
        (
            &[("GUARDRAIL_EXPORT_TRIGGER_TOKEN", "  ")],
            "error: --trigger-token (GUARDRAIL_EXPORT_TRIGGER_TOKEN) is blank. Fix: set it to a \
             value of at least 20 characters, or leave it unset to disable Run export now",
        ),
        (
            &[("GUARDRAIL_EXPORT_TRIGGER_TOKEN", "ghp_tooshort")],
            "error: --trigger-token (GUARDRAIL_EXPORT_TRIGGER_TOKEN) must be at least 20 \
             characters long. Fix: set a longer value (a random one: openssl rand -hex 24), or \
             leave it unset to disable Run export now",
        ),
        (
            &[("GUARDRAIL_ADMIN_TRUSTED_PROXIES", "10.0.0.1,proxy.internal")],
            "error: --trusted-proxy (GUARDRAIL_ADMIN_TRUSTED_PROXIES) `proxy.internal` is not an \
             IP address or network such as 10.0.0.0/8. Fix: list the reverse proxies' IP \
             addresses or networks, comma-separated, e.g. 127.0.0.1,10.0.0.0/8",
        ),
    ];
    for (env, message) in cases {
        let mut command = tokio::process::Command::new(BIN);
        command.args(["admin", "--listen", "127.0.0.1:0"]);
        for (key, _) in std::env::vars() {
            if key.starts_with("GUARDRAIL_") {
                command.env_remove(key);
            }
        }
        let output = command.envs(env.iter().copied()).output().await.unwrap();
        assert_eq!(output.status.code(), Some(2), "{env:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.trim(), message, "{env:?}");
        for (_, value) in env {
            if !value.trim().is_empty() && !value.contains('.') {
                assert!(!stderr.contains(value.trim()), "the secret is not shown");
            }
        }
    }
}
