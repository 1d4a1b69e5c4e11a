//! The dashboard over HTTP, on both backends: the same numbers as the API, forms protected
//! against CSRF and refusing bad input with nothing stored, every object the runner's own,
//! everything escaped, no 500 for anything a URL or a form can carry, light pages.

use reqwest::StatusCode;
use serde_json::{json, Value};
use test_support::{per_backend, TestApp};

use crate::helpers::http::{csrf_of, location, value_of, WebClient};
use crate::helpers::runs::{batch, run_hours_ago};

async fn signed_in(app: &TestApp) -> (test_support::TestUser, WebClient) {
    let user = app.register().await;
    let web = WebClient::new(app);
    web.sign_in(&user).await;
    (user, web)
}

/// The dashboard page shows exactly the figures of `GET /stats/dashboard`.
async fn the_dashboard_page_shows_the_apis_numbers(app: TestApp) {
    let (user, web) = signed_in(&app).await;
    let runs = (0..5)
        .map(|i| run_hours_ago(&format!("run-{i}"), 2 + 24 * i, 5.0 + i as f64, 30 + 3 * i))
        .collect();
    app.sync_ok(&user, &batch(runs)).await;
    let api = app.get_ok(&user, "/stats/dashboard", &[]).await;
    let page = web.page("/", StatusCode::OK).await;
    let figures: [(&str, &Value); 9] = [
        ("days-completed", &api["progress"]["days_completed"]),
        ("target-days", &api["goal"]["target_days"]),
        ("percent-complete", &api["progress"]["percent_complete"]),
        ("days-ahead", &api["progress"]["days_ahead"]),
        ("total-distance", &api["stats"]["total_distance_km"]),
        ("total-duration", &api["stats"]["total_duration_hours"]),
        ("avg-pace", &api["stats"]["avg_pace_min_per_km"]),
        ("days-left", &api["stats"]["days_left"]),
        ("current-streak", &api["streaks"]["current"]),
    ];
    for (id, expected) in figures {
        let shown: f64 = value_of(&page, id)
            .parse()
            .unwrap_or_else(|_| panic!("#{id}"));
        assert_eq!(Some(shown), expected.as_f64(), "[{}] #{id}", app.backend);
    }
    assert!(api["progress"]["days_completed"].as_u64().unwrap() > 0);
    for run in api["recent_runs"].as_array().unwrap() {
        let id = run["id"].as_str().unwrap();
        assert!(
            page.contains(&format!("/workouts/{id}")),
            "[{}] {id}",
            app.backend
        );
    }
}
per_backend!(the_dashboard_page_shows_the_apis_numbers);

/// Every form that changes something refuses a post without its token, with another session's
/// token, or from another origin, and nothing changes.
async fn forms_without_their_csrf_token_are_refused_and_change_nothing(app: TestApp) {
    let (user, web) = signed_in(&app).await;
    let token = web.csrf().await;
    let (_, other) = signed_in(&app).await;
    let foreign = other.csrf().await;
    let year = app.get_ok(&user, "/stats/dashboard", &[]).await["goal"]["year"]
        .as_i64()
        .unwrap()
        .to_string();
    for presented in ["", "forged", foreign.as_str()] {
        let response = web
            .post(
                "/settings/goal",
                &[("csrf", presented), ("year", &year), ("target_days", "42")],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "[{}]",
            app.backend
        );
        let body = response.text().await.unwrap();
        assert!(body.contains("This form has expired"), "{body}");
    }
    let from_elsewhere = web
        .client
        .post(web.url("/settings/goal"))
        .header("origin", "https://evil.example")
        .form(&[
            ("csrf", token.as_str()),
            ("year", &year),
            ("target_days", "42"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(from_elsewhere.status(), StatusCode::FORBIDDEN);
    let goal = app.get_ok(&user, &format!("/goals/{year}"), &[]).await;
    assert_ne!(
        goal["goal"]["target_days"],
        json!(42),
        "[{}] {goal}",
        app.backend
    );
    for path in ["/logout", "/settings/time-zone"] {
        let response = web.post(path, &[("time_zone", "Europe/Berlin")]).await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "[{}] {path}",
            app.backend
        );
    }
    let me = app.get_ok(&user, "/auth/me", &[]).await;
    assert_eq!(me["user"]["time_zone"], json!("UTC"));
    // Still signed in: the refused sign-out did nothing.
    web.page("/settings", StatusCode::OK).await;
    // The sign-in form needs the browser's own nonce too.
    let fresh = WebClient::new(&app);
    let response = fresh
        .post(
            "/login",
            &[
                ("csrf", "x"),
                ("email", &user.email),
                ("password", &user.password),
            ],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "[{}]",
        app.backend
    );
}
per_backend!(forms_without_their_csrf_token_are_refused_and_change_nothing);

/// Bad input is refused with a message next to its field, and nothing is stored.
async fn bad_input_is_refused_next_to_its_field_with_nothing_stored(app: TestApp) {
    let (user, web) = signed_in(&app).await;
    let token = web.csrf().await;
    let year = app.get_ok(&user, "/stats/dashboard", &[]).await["goal"]["year"]
        .as_i64()
        .unwrap()
        .to_string();
    for (target, message) in [
        ("0", "must be between"),
        ("400", "must be between"),
        ("lots", "whole number"),
    ] {
        let response = web
            .post(
                "/settings/goal",
                &[("csrf", &token), ("year", &year), ("target_days", target)],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{target}"
        );
        let page = response.text().await.unwrap();
        let error_id = format!(r#"id="target-{year}-error""#);
        let at = page
            .find(&error_id)
            .unwrap_or_else(|| panic!("{target}: {page}"));
        assert!(page[at..].contains(message), "{target}");
        assert_eq!(value_of(&page, &format!("target-{year}")), target);
    }
    let goals = app.get_ok(&user, "/goals", &[]).await;
    assert_eq!(goals, json!([]), "[{}] {goals}", app.backend);

    let response = web
        .post(
            "/settings/time-zone",
            &[("csrf", &token), ("time_zone", "Mars/Olympus")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains(r#"id="time_zone-error""#));

    app.sync_ok(&user, &batch(vec![run_hours_ago("edit-me", 3, 5.0, 30)]))
        .await;
    let listed = app.get_ok(&user, "/workouts", &[]).await;
    let id = listed["workouts"][0]["id"].as_str().unwrap().to_owned();
    let edit_page = web.page(&format!("/workouts/{id}"), StatusCode::OK).await;
    let revision = value_of(&edit_page, "revision");
    for (field, value) in [
        ("distance_km", "-3"),
        ("distance_km", "far"),
        ("duration", "99:99"),
        ("avg_heart_rate", "900"),
        ("duration", "5:00:00"),
    ] {
        let mut fields = vec![
            ("csrf", token.as_str()),
            ("revision", revision.as_str()),
            ("distance_km", "5"),
            ("duration", "30:00"),
            ("avg_heart_rate", ""),
            ("max_heart_rate", ""),
            ("energy_burned_kcal", ""),
        ];
        fields.retain(|(name, _)| *name != field);
        fields.push((field, value));
        let response = web.post(&format!("/workouts/{id}"), &fields).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}={value}"
        );
        let page = response.text().await.unwrap();
        assert!(
            page.contains(&format!(r#"id="{field}-error""#)),
            "{field}={value}: {page}"
        );
    }
    let stored = app.get_ok(&user, &format!("/workouts/{id}"), &[]).await;
    assert_eq!(
        stored["workout"]["revision"],
        json!(revision.parse::<i64>().unwrap())
    );
    assert_eq!(stored["workout"]["distance_meters"], json!(5000.0));
}
per_backend!(bad_input_is_refused_next_to_its_field_with_nothing_stored);

/// Another runner's workout and session are not found; a URL edited into anything gives a
/// page, never a 500, and never leaks.
async fn urls_a_runner_can_edit_never_give_a_500_or_anothers_data(app: TestApp) {
    let (owner, _) = signed_in(&app).await;
    app.sync_ok(&owner, &batch(vec![run_hours_ago("mine", 3, 7.0, 40)]))
        .await;
    let listed = app.get_ok(&owner, "/workouts", &[]).await;
    let owners_workout = listed["workouts"][0]["id"].as_str().unwrap().to_owned();
    let owners_sessions = app.get_ok(&owner, "/auth/sessions", &[]).await;
    let owners_session = owners_sessions["sessions"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (_, intruder) = signed_in(&app).await;
    let token = intruder.csrf().await;
    for path in [
        format!("/workouts/{owners_workout}"),
        format!("/workouts/{owners_workout}/delete"),
    ] {
        assert_eq!(
            intruder.get(&path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
        let response = intruder
            .post(&path, &[("csrf", &token), ("distance_km", "1")])
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "POST {path}");
    }
    let revoke = format!("/settings/sessions/{owners_session}/revoke");
    assert_eq!(
        intruder.post(&revoke, &[("csrf", &token)]).await.status(),
        StatusCode::NOT_FOUND
    );
    // The owner's workout and session are untouched.
    let still = app
        .get_ok(&owner, &format!("/workouts/{owners_workout}"), &[])
        .await;
    assert_eq!(still["workout"]["revision"], json!(1));
    app.get_ok(&owner, "/auth/me", &[]).await;

    for path in [
        "/workouts/not-a-uuid",
        "/workouts/00000000-0000-0000-0000-000000000000",
        "/workouts/%00",
        "/workouts?cursor=garbage",
        "/workouts?cursor=",
        "/workouts?year=-1",
        "/workouts?year=99999999999999",
        "/workouts?year=2025&year=2026",
        "/insights?year=abc",
        "/insights?year=1999",
        "/insights?year=2100",
        "/?year=%ff",
        "/settings?saved=%3Cscript%3E",
        "/syncs?x=1",
        "/assets/app.css?v=anything",
        "/workouts/%3Cscript%3E/delete",
    ] {
        let response = intruder.get(path).await;
        let status = response.status();
        assert!(
            !status.is_server_error(),
            "[{}] GET {path}: {status}",
            app.backend
        );
        let body = response.text().await.unwrap();
        assert!(!body.contains("<script"), "{path}");
    }
    for (path, fields) in [
        (
            "/settings/goal",
            vec![
                ("csrf", token.as_str()),
                ("year", "abc"),
                ("target_days", "abc"),
            ],
        ),
        (
            "/settings/goal",
            vec![("csrf", token.as_str()), ("year", "99999999999999999999")],
        ),
        (
            "/settings/goal",
            vec![
                ("csrf", token.as_str()),
                ("year", "1999"),
                ("target_days", "10"),
            ],
        ),
        ("/workouts/not-a-uuid", vec![("csrf", token.as_str())]),
        (
            "/settings/sessions/nope/revoke",
            vec![("csrf", token.as_str())],
        ),
    ] {
        let response = intruder.post(path, &fields).await;
        let status = response.status();
        assert!(
            !status.is_server_error(),
            "[{}] POST {path}: {status}",
            app.backend
        );
    }
    let not_a_form = intruder
        .client
        .post(intruder.url("/settings/goal"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert!(!not_a_form.status().is_server_error());
}
per_backend!(urls_a_runner_can_edit_never_give_a_500_or_anothers_data);

/// Text a device sent (a workout's `source`) is shown as text, never as markup.
async fn what_a_device_sends_is_escaped_everywhere(app: TestApp) {
    let (user, web) = signed_in(&app).await;
    let mut run = run_hours_ago("xss", 3, 5.0, 30);
    run["source"] = json!("<script>alert(1)</script>");
    app.sync_ok(&user, &batch(vec![run])).await;
    let listed = app.get_ok(&user, "/workouts", &[]).await;
    let id = listed["workouts"][0]["id"].as_str().unwrap().to_owned();
    for path in [
        "/workouts".to_owned(),
        format!("/workouts/{id}"),
        format!("/workouts/{id}/delete"),
    ] {
        let page = web.page(&path, StatusCode::OK).await;
        assert!(!page.contains("<script"), "[{}] {path}", app.backend);
        assert!(
            page.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{path}"
        );
    }
}
per_backend!(what_a_device_sends_is_escaped_everywhere);

/// Pages carry the security headers, the session cookie its attributes, and a page is light:
/// under 100 KB with its stylesheet, nothing from another host.
async fn pages_are_light_local_and_locked_down(app: TestApp) {
    let user = app.register().await;
    let web = WebClient::new(&app);
    let login = web.get("/login").await;
    let nonce = login
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        nonce.contains("HttpOnly") && nonce.contains("SameSite=Lax"),
        "{nonce}"
    );
    let token = csrf_of(&login.text().await.unwrap());
    let response = web
        .post(
            "/login",
            &[
                ("csrf", &token),
                ("email", &user.email),
                ("password", &user.password),
            ],
        )
        .await;
    let cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("rd_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    app.sync_ok(
        &user,
        &batch(
            (0..40)
                .map(|i| run_hours_ago(&format!("r{i}"), 3 + 24 * i, 6.0, 33))
                .collect(),
        ),
    )
    .await;
    for path in ["/", "/insights", "/workouts", "/syncs", "/settings"] {
        let response = web.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "same-origin");
        assert_eq!(headers["cache-control"], "no-store");
        let html = response.text().await.unwrap();
        for external in ["src=\"http", "href=\"http", "src=\"//", "href=\"//", "url("] {
            assert!(
                !html.contains(external),
                "{path} loads from elsewhere: {external}"
            );
        }
        assert!(!html.contains("<script"), "{path}");
        if path == "/" {
            let css_href = html.split(r#"rel="stylesheet" href=""#).nth(1).unwrap();
            let css_href = &css_href[..css_href.find('"').unwrap()];
            let css = web.get(css_href).await;
            assert_eq!(
                css.headers()["cache-control"],
                "public, max-age=31536000, immutable"
            );
            let total = html.len() + css.bytes().await.unwrap().len();
            assert!(total < 100 * 1024, "the dashboard weighs {total} bytes");
        }
    }
    // A signed-out visitor is sent to the sign-in page.
    let stranger = WebClient::new(&app);
    for path in ["/", "/insights", "/workouts", "/syncs", "/settings"] {
        let response = stranger.get(path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&response), "/login");
    }
}
per_backend!(pages_are_light_local_and_locked_down);

/// The dashboard is held to the API's lockout, and a browser session is one of the account's
/// sessions: listed by the API, and ended by it.
async fn browser_sessions_are_the_apis_sessions_and_share_its_lockout(app: TestApp) {
    let (user, web) = signed_in(&app).await;
    let sessions = app.get_ok(&user, "/auth/sessions", &[]).await;
    let listed = sessions["sessions"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "[{}] {sessions}", app.backend);
    let browser = listed
        .iter()
        .find(|s| s["current"] == json!(false))
        .unwrap();
    let browser_id = browser["id"].as_str().unwrap();
    let revoke = app
        .client
        .delete(app.api(&format!("/auth/sessions/{browser_id}")))
        .bearer_auth(&user.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
    let after = web.get("/").await;
    assert_eq!(
        after.status(),
        StatusCode::SEE_OTHER,
        "[{}] revoked session still in",
        app.backend
    );

    let attacker = WebClient::new(&app);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let token = csrf_of(&attacker.page("/login", StatusCode::OK).await);
        let response = attacker
            .post(
                "/login",
                &[
                    ("csrf", &token),
                    ("email", &user.email),
                    ("password", "wrong password!"),
                ],
            )
            .await;
        statuses.push(response.status());
    }
    assert_eq!(statuses[0], StatusCode::UNAUTHORIZED);
    assert_eq!(
        *statuses.last().unwrap(),
        StatusCode::TOO_MANY_REQUESTS,
        "{statuses:?}"
    );
    // The API sees the same lock.
    let api = app.login(&user.email, &user.password).await;
    assert_eq!(api.status(), StatusCode::LOCKED, "[{}]", app.backend);
}
per_backend!(browser_sessions_are_the_apis_sessions_and_share_its_lockout);

/// Settings' data section: an ingest token's secret shown once and working at the ingest
/// endpoint, the export as a download, and account deletion: a wrong password erases nothing,
/// the right one erases the account and signs every device out.
async fn a_runners_data_can_be_fed_downloaded_and_erased_from_settings(app: TestApp) {
    let (user, web) = signed_in(&app).await;
    let token = web.csrf().await;
    let response = web
        .post(
            "/settings/ingest-tokens",
            &[("csrf", &token), ("name", "Health Auto Export")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED, "[{}]", app.backend);
    let page = response.text().await.unwrap();
    let marker = r#"<code id="issued-secret">"#;
    let at = page.find(marker).expect("the secret is shown") + marker.len();
    let secret = page[at..page[at..].find('<').unwrap() + at].to_owned();
    assert!(secret.starts_with("rdi_"), "{secret}");
    let again = web.page("/settings", StatusCode::OK).await;
    assert!(!again.contains(&secret), "the secret is shown once");
    assert!(again.contains("Health Auto Export"));
    let ingest = app
        .client
        .post(app.api("/ingest/health-auto-export"))
        .bearer_auth(&secret)
        .json(&json!({"data": {"workouts": []}}))
        .send()
        .await
        .unwrap();
    assert!(
        ingest.status().is_success(),
        "[{}] {}",
        app.backend,
        ingest.status()
    );
    let bad_name = web
        .post("/settings/ingest-tokens", &[("csrf", &token), ("name", "")])
        .await;
    assert_eq!(bad_name.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad_name
        .text()
        .await
        .unwrap()
        .contains(r#"id="token-name-error""#));

    app.sync_ok(&user, &batch(vec![run_hours_ago("exported", 3, 5.0, 30)]))
        .await;
    let csv = web.get("/settings/export?format=csv").await;
    assert_eq!(csv.status(), StatusCode::OK);
    let disposition = csv.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert!(csv.text().await.unwrap().contains("exported"));
    let bad_format = web.get("/settings/export?format=xml").await;
    assert_eq!(bad_format.status(), StatusCode::BAD_REQUEST);

    let wrong = web
        .post(
            "/settings/delete-account",
            &[
                ("csrf", &token),
                ("password", "not my password"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.text().await.unwrap().contains(r#"id="delete-error""#));
    let unconfirmed = web
        .post(
            "/settings/delete-account",
            &[("csrf", &token), ("password", &user.password)],
        )
        .await;
    assert_eq!(unconfirmed.status(), StatusCode::UNPROCESSABLE_ENTITY);
    app.get_ok(&user, "/auth/me", &[]).await;
    let erased = web
        .post(
            "/settings/delete-account",
            &[
                ("csrf", &token),
                ("password", &user.password),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(erased.status(), StatusCode::OK, "[{}]", app.backend);
    assert!(erased.text().await.unwrap().contains(r#"id="deleted""#));
    let me = app.get(&user, "/auth/me", &[]).await;
    assert_eq!(
        me.status(),
        StatusCode::UNAUTHORIZED,
        "the app is signed out too"
    );
    assert_eq!(web.get("/").await.status(), StatusCode::SEE_OTHER);
}
per_backend!(a_runners_data_can_be_fed_downloaded_and_erased_from_settings);
