//! Bad input on every read endpoint: a contract 400 naming the parameter, never a 5xx.

use chrono::{DateTime, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sync_core::{ChangeCursor, ListCursor};
use test_support::{assert_refused, per_backend, workout, TestApp};
use uuid::Uuid;

use super::{assert_bad_param, days_back, run_at, Query};

per_backend!(bad_input_on_every_read_endpoint_is_a_400_with_the_contract_body);
async fn bad_input_on_every_read_endpoint_is_a_400_with_the_contract_body(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let sync = app
        .sync_ok(
            &user,
            &json!({"workouts": [workout("a"), run_at("b", &days_back(1))]}),
        )
        .await;
    let change_cursor = sync["next_cursor"].as_str().unwrap().to_owned();
    let page = app.get_ok(&user, "/workouts", &[("limit", "1")]).await;
    let list_cursor = page["next_cursor"]
        .as_str()
        .expect("a list cursor")
        .to_owned();
    let negative_seq = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("c1:-5")
    };

    let cases: Vec<(&str, Query, &str)> = vec![
        ("/workouts", vec![("cursor", "garbage")], "cursor"),
        ("/workouts", vec![("cursor", "")], "cursor"),
        ("/workouts", vec![("cursor", &change_cursor)], "cursor"),
        ("/workouts", vec![("limit", "0")], "limit"),
        ("/workouts", vec![("limit", "-1")], "limit"),
        ("/workouts", vec![("limit", "201")], "limit"),
        ("/workouts", vec![("limit", "100000")], "limit"),
        ("/workouts", vec![("limit", "abc")], "limit"),
        ("/workouts", vec![("limit", "1.5")], "limit"),
        ("/workouts", vec![("limit", "")], "limit"),
        (
            "/workouts",
            vec![("limit", "99999999999999999999999")],
            "limit",
        ),
        ("/workouts", vec![("year", "abc")], "year"),
        ("/workouts", vec![("year", "0")], "year"),
        ("/workouts", vec![("year", "20240")], "year"),
        ("/workouts", vec![("since", "yesterday")], "since"),
        ("/workouts", vec![("since", "2024-01-01")], "since"),
        ("/workouts", vec![("until", "yesterday")], "until"),
        ("/workouts/changes", vec![("cursor", "garbage")], "cursor"),
        (
            "/workouts/changes",
            vec![("cursor", &list_cursor)],
            "cursor",
        ),
        (
            "/workouts/changes",
            vec![("cursor", &negative_seq)],
            "cursor",
        ),
        ("/workouts/changes", vec![("limit", "0")], "limit"),
        ("/workouts/changes", vec![("limit", "100000")], "limit"),
        ("/workouts/changes", vec![("limit", "abc")], "limit"),
        ("/syncs", vec![("limit", "0")], "limit"),
        ("/syncs", vec![("limit", "100000")], "limit"),
        ("/syncs", vec![("limit", "abc")], "limit"),
        ("/workouts/not-a-uuid", vec![], "id"),
        ("/workouts/12345", vec![], "id"),
        ("/syncs/not-a-uuid", vec![], "id"),
        ("/syncs/12345", vec![], "id"),
    ];
    for (path, query, param) in &cases {
        let response = app.get(&user, path, query).await;
        assert_bad_param(response, b, &format!("GET {path} {query:?}"), param).await;
    }

    // Without a token every read endpoint is a 401, with the contract body.
    let id = Uuid::new_v4();
    for path in [
        "/workouts".to_owned(),
        format!("/workouts/{id}"),
        "/workouts/changes".to_owned(),
        "/sync/status".to_owned(),
        "/syncs".to_owned(),
        format!("/syncs/{id}"),
    ] {
        let response = app.client.get(app.api(&path)).send().await.expect("GET");
        let body =
            assert_refused(response, StatusCode::UNAUTHORIZED, &format!("{b}] [{path}")).await;
        assert_eq!(body["error"], json!("unauthorized"), "[{b}] {path}: {body}");
    }
}

per_backend!(well_formed_but_extreme_parameters_are_never_a_5xx);
/// Well-formed but extreme parameter values, including cursors that decode but name an instant
/// far outside what a workout can have, are answered with 200 or a contract 400, never a 5xx.
/// Guards PostgreSQL above all: it refuses to compare a timestamp outside years 0000–9999, so
/// such a cursor must be refused as malformed before it reaches a query.
async fn well_formed_but_extreme_parameters_are_never_a_5xx(app: TestApp) {
    let mut failures: Vec<String> = Vec::new();
    let b = app.backend;
    let user = app.register().await;
    app.assert_all_created(&user, &[workout("a")]).await;
    // Well-formed but extreme values are answered, never a 5xx.
    let forged_list_cursors: Vec<String> = [
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MAX_UTC,
        Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap(),
    ]
    .iter()
    .map(|t| {
        ListCursor {
            start_time: *t,
            id: Uuid::nil(),
        }
        .encode()
    })
    .collect();
    let huge_seq = ChangeCursor {
        after_seq: i64::MAX,
    }
    .encode();
    let mut extreme: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("/workouts", vec![("year", "1")]),
        ("/workouts", vec![("year", "9999")]),
        ("/workouts", vec![("since", "0001-01-01T00:00:00Z")]),
        ("/workouts", vec![("until", "9999-12-31T23:59:59Z")]),
        ("/workouts", vec![("since", "9999-12-31T23:59:59+23:59")]),
        ("/workouts", vec![("limit", "200")]),
        ("/workouts/changes", vec![("cursor", &huge_seq)]),
        ("/workouts/changes", vec![("limit", "1000")]),
        ("/syncs", vec![("limit", "200")]),
    ];
    for cursor in &forged_list_cursors {
        extreme.push(("/workouts", vec![("cursor", cursor)]));
    }
    for (path, query) in &extreme {
        let response = app.get(&user, path, query).await;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let body: Option<Value> = serde_json::from_str(&text).ok();
        let answered = match status {
            StatusCode::OK => body.is_some(),
            StatusCode::BAD_REQUEST => body.is_some_and(|v| v["success"] == json!(false)),
            _ => false,
        };
        if !answered {
            failures.push(format!("[{b}] GET {path} {query:?}: {status} {text}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

per_backend!(a_repeated_query_parameter_is_a_400_with_the_contract_body);
/// A query string the parameter parser cannot even split (a parameter given twice) is bad
/// input like any other: 400 with the contract's JSON error body. Guards the query-string
/// error handler: without it the framework answers with its own plain-text body.
async fn a_repeated_query_parameter_is_a_400_with_the_contract_body(app: TestApp) {
    let mut failures: Vec<String> = Vec::new();
    let b = app.backend;
    let user = app.register().await;
    for path in [
        "/workouts?limit=5&limit=6",
        "/workouts/changes?cursor=a&cursor=b",
        "/syncs?limit=1&limit=2",
    ] {
        let response = app.get(&user, path, &[]).await;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let body: Option<Value> = serde_json::from_str(&text).ok();
        let contract = body.is_some_and(|v| {
            v["success"] == json!(false)
                && v["error"].as_str().is_some_and(|c| !c.is_empty())
                && v["message"].as_str().is_some_and(|m| !m.is_empty())
        });
        if status != StatusCode::BAD_REQUEST || !contract {
            failures.push(format!("[{b}] GET {path}: {status} {text}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
