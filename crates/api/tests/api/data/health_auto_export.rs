//! `POST /ingest/health-auto-export`: payloads shaped like the app's exports (versions 1 and
//! 2), every unit, a re-send, a bad workout, a body over the limit, and an export of several
//! MB that is mostly metrics.

use reqwest::StatusCode;
use serde_json::{json, Value};
use test_support::{assert_error, per_backend, TestApp, TestUser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{ingest_ok, ingest_raw, ingest_token};

/// A version 2 export as the app sends it: metrics first, then workouts with their optional
/// sections (heart rate summary and samples, route, energy, distance, location).
fn version_2_export() -> Value {
    json!({"data": {
        "metrics": [
            {"name": "step_count", "units": "count",
             "data": [{"date": "2024-02-06 00:00:00 -0800", "qty": 10412, "source": "iPhone"}]},
            {"name": "heart_rate", "units": "count/min",
             "data": [{"date": "2024-02-06 07:00:00 -0800", "Min": 62, "Avg": 71, "Max": 80,
                       "source": "Apple Watch"}]}
        ],
        "workouts": [
            {"id": "550E8400-E29B-41D4-A716-446655440000", "name": "Outdoor Run",
             "start": "2024-02-06 07:00:00 -0800", "end": "2024-02-06 07:30:00 -0800",
             "duration": 1800.4, "location": "Outdoor", "isIndoor": false,
             "distance": {"qty": 3.5, "units": "mi"},
             "activeEnergyBurned": {"qty": 350, "units": "kcal"},
             "totalEnergy": {"qty": 450, "units": "kcal"},
             "intensity": {"qty": 8.5, "units": "MET"},
             "heartRate": {"min": {"qty": 98, "units": "bpm"}, "avg": {"qty": 151.6, "units": "bpm"},
                           "max": {"qty": 176, "units": "bpm"}},
             "heartRateData": [{"date": "2024-02-06 07:00:05 -0800", "Min": 98, "Avg": 99, "Max": 100,
                                "units": "bpm", "source": "Apple Watch"}],
             "route": [{"latitude": 37.33, "longitude": -122.03, "altitude": 20.1, "course": 90,
                        "speed": 2.9, "timestamp": "2024-02-06 07:00:05 -0800"}],
             "metadata": {"HKIndoorWorkout": false}},
            {"id": "6F9619FF-8B86-D011-B42D-00C04FC964FF", "name": "Traditional Strength Training",
             "start": "2024-02-06 18:00:00 -0800", "end": "2024-02-06 18:45:00 -0800",
             "duration": 2700, "activeEnergyBurned": {"qty": 210, "units": "kcal"}},
            {"id": "A1B2C3D4-0000-4000-8000-000000000002", "name": "Indoor Run",
             "start": "2024-02-07 06:00:00 +0100", "end": "2024-02-07 06:40:00 +0100",
             "duration": 2400, "location": "Indoor", "isIndoor": true,
             "distance": {"qty": 8.2, "units": "km"},
             "activeEnergyBurned": {"qty": 2092, "units": "kJ"}}
        ]
    }})
}

/// A version 1 export: `activeEnergy`, `avgHeartRate`/`maxHeartRate`, no `id`.
fn version_1_export() -> Value {
    json!({"data": {
        "metrics": [{"name": "active_energy", "units": "kJ",
                     "data": [{"qty": 0.77, "date": "2021-12-24 00:04:00 +0800"}]}],
        "workouts": [
            {"name": "Running", "start": "2021-12-24 08:02:43 +0800", "end": "2021-12-24 08:33:53 +0800",
             "duration": 1870, "distance": {"qty": 5.1, "units": "km"},
             "activeEnergy": {"qty": 1300.5, "units": "kJ"},
             "avgHeartRate": {"qty": 148, "units": "bpm"}, "maxHeartRate": {"qty": 169, "units": "bpm"},
             "stepCount": {"qty": 5012, "units": "steps"},
             "elevation": {"units": "m", "ascent": 16.4, "descent": 0},
             "heartRateData": [{"date": "2021-12-24 08:02:47 +0800", "qty": 108, "units": "bpm"}],
             "route": [{"lat": 1.35, "lon": 103.8, "altitude": 8.0, "timestamp": "2021-12-24 08:04:45 +0800"}]},
            {"name": "Walking", "start": "2021-12-24 12:00:00 +0800", "end": "2021-12-24 12:20:00 +0800",
             "duration": 1200, "distance": {"qty": 1.6, "units": "km"}}
        ]
    }})
}

async fn served(app: &TestApp, user: &TestUser) -> Vec<Value> {
    let mut all = app.list_all(user, &[]).await;
    all.sort_by_key(|w| w["client_id"].as_str().unwrap().to_owned());
    all
}

fn close(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() < 0.01)
}

per_backend!(a_version_2_export_becomes_a_sync_of_its_runs);
async fn a_version_2_export_becomes_a_sync_of_its_runs(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let token = ingest_token(&app, &user).await;
    let answer = ingest_ok(&app, &token, &version_2_export()).await;
    assert_eq!(answer["success"], json!(true), "[{b}] {answer}");
    assert_eq!(
        (
            &answer["created"],
            &answer["updated"],
            &answer["unchanged"],
            &answer["skipped"]
        ),
        (&json!(2), &json!(0), &json!(0), &json!(1)),
        "[{b}] {answer}"
    );
    assert_eq!(
        (&answer["conflicts"], &answer["rejected"]),
        (&json!([]), &json!([])),
        "[{b}]"
    );
    let mut keys: Vec<&str> = answer
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "conflicts",
            "created",
            "rejected",
            "skipped",
            "success",
            "sync_id",
            "unchanged",
            "updated"
        ],
        "[{b}] the contract's answer"
    );

    let workouts = served(&app, &user).await;
    assert_eq!(workouts.len(), 2, "[{b}]");
    let outdoor = &workouts[0];
    assert_eq!(
        outdoor["client_id"],
        json!("hae:550E8400-E29B-41D4-A716-446655440000"),
        "[{b}]"
    );
    assert_eq!(outdoor["source"], json!("health_auto_export"), "[{b}]");
    // The offset it was sent with dates it; times are stored in UTC.
    assert_eq!(outdoor["date"], json!("2024-02-06"), "[{b}]");
    assert_eq!(
        outdoor["start_time"],
        json!("2024-02-06T15:00:00Z"),
        "[{b}]"
    );
    assert_eq!(
        outdoor["duration_seconds"],
        json!(1800),
        "[{b}] an integer: {outdoor}"
    );
    assert!(
        close(&outdoor["distance_meters"], 5632.704),
        "[{b}] 3.5 mi: {outdoor}"
    );
    assert!(
        close(&outdoor["energy_burned_kcal"], 350.0),
        "[{b}] {outdoor}"
    );
    assert_eq!(
        (&outdoor["avg_heart_rate"], &outdoor["max_heart_rate"]),
        (&json!(152), &json!(176)),
        "[{b}]"
    );
    let indoor = &workouts[1];
    assert_eq!(indoor["date"], json!("2024-02-07"), "[{b}] dated in +01:00");
    assert!(close(&indoor["distance_meters"], 8200.0), "[{b}] {indoor}");
    assert!(
        close(&indoor["energy_burned_kcal"], 500.0),
        "[{b}] 2092 kJ: {indoor}"
    );

    // An ordinary sync: in the history and on the change feed.
    let history = app.get_ok(&user, "/syncs", &[]).await;
    assert_eq!(
        history["syncs"][0]["sync_id"], answer["sync_id"],
        "[{b}] {history}"
    );
    assert_eq!(history["syncs"][0]["created"], json!(2), "[{b}] {history}");
    assert_eq!(app.all_changes(&user).await.len(), 2, "[{b}]");
}

per_backend!(a_version_1_export_is_read_and_a_resend_changes_nothing);
async fn a_version_1_export_is_read_and_a_resend_changes_nothing(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let token = ingest_token(&app, &user).await;
    let first = ingest_ok(&app, &token, &version_1_export()).await;
    assert_eq!(
        (&first["created"], &first["skipped"]),
        (&json!(1), &json!(1)),
        "[{b}] {first}"
    );
    let run = &served(&app, &user).await[0];
    assert!(
        run["client_id"].as_str().unwrap().starts_with("hae:"),
        "[{b}] {run}"
    );
    assert!(close(&run["distance_meters"], 5100.0), "[{b}] {run}");
    assert!(
        close(&run["energy_burned_kcal"], 1300.5 / 4.184),
        "[{b}] {run}"
    );
    assert_eq!(
        (&run["avg_heart_rate"], &run["max_heart_rate"]),
        (&json!(148), &json!(169)),
        "[{b}]"
    );
    assert_eq!(run["date"], json!("2021-12-24"), "[{b}]");
    let (_, position) = app.status_counts(&user).await;

    // The app sends the same period again (its "since last sync" and "default" periods
    // overlap): nothing changes, and the sync is still recorded.
    for payload in [version_1_export(), version_1_export()] {
        let again = ingest_ok(&app, &token, &payload).await;
        assert_eq!(
            (
                &again["created"],
                &again["updated"],
                &again["unchanged"],
                &again["conflicts"]
            ),
            (&json!(0), &json!(0), &json!(1), &json!([])),
            "[{b}] {again}"
        );
    }
    assert_eq!(
        app.status_counts(&user).await,
        (1, position),
        "[{b}] nothing written"
    );
    let history = app.get_ok(&user, "/syncs", &[]).await;
    assert_eq!(
        history["syncs"].as_array().unwrap().len(),
        3,
        "[{b}] {history}"
    );
}

per_backend!(every_unit_is_converted);
async fn every_unit_is_converted(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let token = ingest_token(&app, &user).await;
    let cases = [
        ("km", 5.0, "kcal", 300.0, 5000.0, 300.0),
        ("mi", 3.0, "kJ", 1255.2, 4828.032, 300.0),
        ("m", 4321.5, "kcal", 250.5, 4321.5, 250.5),
        ("yd", 5000.0, "kJ", 418.4, 4572.0, 100.0),
        ("ft", 10000.0, "kcal", 99.0, 3048.0, 99.0),
    ];
    let workouts: Vec<Value> = cases
        .iter()
        .enumerate()
        .map(|(i, (length, qty, energy, kcal, _, _))| {
            json!({"id": format!("unit-{i}"), "name": "Running",
                   "start": format!("2024-03-0{} 07:00:00 +0000", i + 1),
                   "end": format!("2024-03-0{} 08:00:00 +0000", i + 1), "duration": 3600,
                   "distance": {"qty": qty, "units": length},
                   "activeEnergyBurned": {"qty": kcal, "units": energy}})
        })
        .collect();
    let answer = ingest_ok(&app, &token, &json!({"data": {"workouts": workouts}})).await;
    assert_eq!(answer["created"], json!(5), "[{b}] {answer}");
    for (i, (length, _, energy, _, metres, kcal)) in cases.iter().enumerate() {
        let w = app.served(&user, &format!("hae:unit-{i}")).await;
        assert!(close(&w["distance_meters"], *metres), "[{b}] {length}: {w}");
        assert!(
            close(&w["energy_burned_kcal"], *kcal),
            "[{b}] {energy}: {w}"
        );
    }
}

per_backend!(a_workout_that_cannot_be_read_is_rejected_and_the_rest_goes_in);
async fn a_workout_that_cannot_be_read_is_rejected_and_the_rest_goes_in(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let token = ingest_token(&app, &user).await;
    let good = |id: &str| {
        json!({"id": id, "name": "Running", "start": "2024-04-01 07:00:00 +0200",
               "end": "2024-04-01 07:40:00 +0200", "duration": 2400,
               "distance": {"qty": 7, "units": "km"}})
    };
    let mut furlongs = good("furlongs");
    furlongs["distance"] = json!({"qty": 30, "units": "furlong"});
    let mut no_start = good("no-start");
    no_start.as_object_mut().unwrap().remove("start");
    let mut wrong_type = good("wrong-type");
    wrong_type["duration"] = json!("forty minutes");
    let mut backwards = good("backwards");
    backwards["end"] = json!("2024-04-01 06:00:00 +0200");
    let payload = json!({"data": {"workouts": [good("ok-1"), furlongs, no_start, "junk", wrong_type, backwards, good("ok-2")]}});
    let answer = ingest_ok(&app, &token, &payload).await;
    assert_eq!(answer["created"], json!(2), "[{b}] {answer}");
    let rejected: Vec<(i64, Vec<String>)> = answer["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let fields = r["errors"].as_object().unwrap().keys().cloned().collect();
            (r["index"].as_i64().unwrap(), fields)
        })
        .collect();
    let expected: Vec<(i64, Vec<String>)> = vec![
        (1, vec!["distance".into()]),
        (2, vec!["start".into()]),
        (3, vec!["workout".into()]),
        (4, vec!["duration".into()]),
        (5, vec!["end".into()]),
    ];
    assert_eq!(rejected, expected, "[{b}] {answer}");
    assert_eq!(
        answer["rejected"][0]["client_id"],
        json!("hae:furlongs"),
        "[{b}]"
    );
    assert_eq!(
        app.status_counts(&user).await.0,
        2,
        "[{b}] only the readable runs"
    );
}

per_backend!(a_payload_that_is_not_an_export_is_refused_and_nothing_stored);
async fn a_payload_that_is_not_an_export_is_refused_and_nothing_stored(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let token = ingest_token(&app, &user).await;
    for bad in [
        &b"not json"[..],
        b"[]",
        br#"{"data": []}"#,
        br#"{"data": {"workouts": 3}}"#,
        b"",
    ] {
        let refused = ingest_raw(&app, &token, bad.to_vec()).await;
        assert_error(
            refused,
            StatusCode::BAD_REQUEST,
            "invalid_json",
            &format!("[{b}] {bad:?}"),
        )
        .await;
    }
    assert_eq!(app.status_counts(&user).await.0, 0, "[{b}]");
}

per_backend!(
    a_body_over_the_ingest_limit_is_refused,
    [("INGEST_MAX_BODY_BYTES", "100000")]
);
async fn a_body_over_the_ingest_limit_is_refused(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let token = ingest_token(&app, &user).await;
    let mut payload = version_2_export();
    payload["data"]["metrics"][0]["data"] = json!(vec![
        json!({"date": "2024-02-06 00:00:00 -0800", "qty": 1});
        5000
    ]);
    let bytes = serde_json::to_vec(&payload).unwrap();
    assert!(bytes.len() > 100_000);
    // Declared too large: refused before it is read.
    let refused = ingest_raw(&app, &token, bytes.clone()).await;
    assert_error(
        refused,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        b,
    )
    .await;
    // Streamed without a length: refused once the limit is crossed.
    let (status_line, body) = send_chunked(&app, &token, &bytes).await;
    assert!(status_line.contains(" 413 "), "[{b}] {status_line}");
    assert!(body.contains("payload_too_large"), "[{b}] {body}");
    assert_eq!(app.status_counts(&user).await.0, 0, "[{b}] nothing stored");
    // Under the limit, the same server takes it.
    ingest_ok(&app, &token, &version_2_export()).await;
}

per_backend!(an_export_of_several_megabytes_of_metrics_goes_in);
async fn an_export_of_several_megabytes_of_metrics_goes_in(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let token = ingest_token(&app, &user).await;
    let mut payload = version_2_export();
    // A day of second-by-second heart rate, and a workout's own samples and route.
    let samples: Vec<Value> = (0..60_000)
        .map(|i| json!({"date": format!("2024-02-06 {:02}:{:02}:{:02} -0800", i / 3600 % 24, i / 60 % 60, i % 60),
                        "Min": 60 + i % 40, "Avg": 70 + i % 40, "Max": 80 + i % 40, "source": "Apple Watch"}))
        .collect();
    payload["data"]["metrics"][1]["data"] = json!(samples);
    payload["data"]["workouts"][0]["heartRateData"] = json!(samples[..1800].to_vec());
    let bytes = serde_json::to_vec(&payload).unwrap();
    assert!(bytes.len() > 5 * 1024 * 1024, "[{b}] {} bytes", bytes.len());
    let response = ingest_raw(&app, &token, bytes).await;
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "[{b}] {answer}");
    assert_eq!(
        (&answer["created"], &answer["skipped"]),
        (&json!(2), &json!(1)),
        "[{b}] {answer}"
    );
}

/// POSTs `body` with `Transfer-Encoding: chunked` (no length declared, so the server can only
/// count), and returns the answer's status line and body. The server may answer and close
/// before all of it is sent; writes after that fail and are ignored.
async fn send_chunked(app: &TestApp, token: &str, body: &[u8]) -> (String, String) {
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let head = format!(
        "POST /api/v1/ingest/health-auto-export HTTP/1.1\r\nHost: {address}\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let _ = stream.write_all(head.as_bytes()).await;
    for chunk in body.chunks(8192) {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if stream.write_all(&framed).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status_line = text.lines().next().unwrap_or_default().to_owned();
    let body = text
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    (status_line, body)
}
