//! Every row of the conflict table: created, unchanged, updated by a greater client version, a
//! stale version, a data mismatch, and deletions.

use serde_json::json;
use test_support::{cursor_seq, per_backend, with, workout, Counts, TestApp};

use super::{assert_server_copy, conflict, fields_of};

per_backend!(a_new_workout_is_created_and_the_same_content_again_is_unchanged);
async fn a_new_workout_is_created_and_the_same_content_again_is_unchanged(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;

    let first = app
        .sync_counted(&user, &[workout("run-1")], Counts::created(1))
        .await;
    assert_eq!(first["success"], json!(true), "[{b}] {first}");
    assert_eq!(
        cursor_seq(&first),
        1,
        "[{b}] the creation is one change: {first}"
    );

    let offset_shifted = with(
        workout("run-1"),
        json!({"start_time": "2024-01-15T09:00:00+01:00"}),
    );
    let both_shifted = with(
        workout("run-1"),
        json!({"start_time": "2024-01-15T03:00:00-05:00", "end_time": "2024-01-15T03:35:00-05:00"}),
    );
    let zero_fraction = with(
        workout("run-1"),
        json!({"start_time": "2024-01-15T08:00:00.000Z"}),
    );
    for same in [
        workout("run-1"),
        offset_shifted,
        both_shifted,
        zero_fraction,
    ] {
        let again = app.sync_counted(&user, &[same], Counts::unchanged(1)).await;
        assert_eq!(
            cursor_seq(&again),
            1,
            "[{b}] unchanged writes nothing: {again}"
        );
    }
}

per_backend!(a_greater_client_version_updates_and_raises_the_revision);
async fn a_greater_client_version_updates_and_raises_the_revision(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    app.assert_all_created(&user, &[workout("run-1")]).await;

    // Stored without a version, so it counts as version 0: 1 is greater.
    let v1 = with(
        workout("run-1"),
        json!({"distance_meters": 5100, "client_version": 1}),
    );
    let body = app
        .sync_counted(&user, std::slice::from_ref(&v1), Counts::updated(1))
        .await;
    assert_eq!(cursor_seq(&body), 2, "[{b}] the update is a change: {body}");

    app.sync_counted(&user, &[v1], Counts::unchanged(1)).await;

    let v2 = with(
        workout("run-1"),
        json!({"distance_meters": 5200, "avg_heart_rate": 150, "client_version": 2}),
    );
    let body = app
        .sync_counted(&user, std::slice::from_ref(&v2), Counts::updated(1))
        .await;
    assert_eq!(cursor_seq(&body), 3, "[{b}] {body}");

    // A later conflict shows the server's copy: v2's content at revision 3.
    let probe = with(workout("run-1"), json!({"distance_meters": 5300}));
    let body = app
        .sync_counted(&user, &[probe], Counts::conflicts(1))
        .await;
    let c = conflict(b, &body, "run-1");
    assert_eq!(c["reason"], json!("data_mismatch"), "[{b}] {c}");
    assert_eq!(
        fields_of(c),
        ["avg_heart_rate", "distance_meters"],
        "[{b}] {c}"
    );
    assert_server_copy(b, &c["server_workout"], &v2, 3);
}

per_backend!(an_equal_or_lower_client_version_with_other_content_is_a_stale_version_conflict);
async fn an_equal_or_lower_client_version_with_other_content_is_a_stale_version_conflict(
    app: TestApp,
) {
    let b = app.backend;
    let user = app.register().await;
    let original = with(workout("run-1"), json!({"client_version": 5}));
    app.assert_all_created(&user, std::slice::from_ref(&original))
        .await;

    let equal = with(
        original.clone(),
        json!({"energy_burned_kcal": 400, "avg_heart_rate": 150}),
    );
    let lower = with(equal.clone(), json!({"client_version": 3}));
    let mut server_ids = Vec::new();
    for stale in [equal.clone(), lower] {
        let body = app
            .sync_counted(&user, &[stale], Counts::conflicts(1))
            .await;
        let c = conflict(b, &body, "run-1");
        assert_eq!(c["reason"], json!("stale_version"), "[{b}] {c}");
        assert_eq!(
            fields_of(c),
            ["avg_heart_rate", "energy_burned_kcal"],
            "[{b}] {c}"
        );
        assert_server_copy(b, &c["server_workout"], &original, 1);
        server_ids.push(c["server_id"].clone());
        assert_eq!(
            cursor_seq(&body),
            1,
            "[{b}] a conflict writes nothing: {body}"
        );
    }
    assert_eq!(
        server_ids[0], server_ids[1],
        "[{b}] one workout, one server id"
    );

    // Nothing was written: the original content is still the server's, whatever version.
    for same in [
        original.clone(),
        with(original.clone(), json!({"client_version": 2})),
    ] {
        app.sync_counted(&user, &[same], Counts::unchanged(1)).await;
    }

    let newer = with(equal, json!({"client_version": 6}));
    app.sync_counted(&user, &[newer], Counts::updated(1)).await;

    // A workout stored without a version is version 0: sending 0 is not greater.
    app.assert_all_created(&user, &[workout("run-2")]).await;
    let zero = with(
        workout("run-2"),
        json!({"distance_meters": 9000, "client_version": 0}),
    );
    let body = app.sync_ok(&user, &json!({"workouts": [zero]})).await;
    assert_eq!(
        conflict(b, &body, "run-2")["reason"],
        json!("stale_version"),
        "[{b}] {body}"
    );
}

per_backend!(different_content_without_a_version_is_a_data_mismatch_and_writes_nothing);
async fn different_content_without_a_version_is_a_data_mismatch_and_writes_nothing(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    app.assert_all_created(&user, &[workout("run-1")]).await;

    let changed = with(
        workout("run-1"),
        json!({"distance_meters": 6000, "source": "iphone"}),
    );
    for attempt in 0..2 {
        let body = app
            .sync_counted(&user, std::slice::from_ref(&changed), Counts::conflicts(1))
            .await;
        let c = conflict(b, &body, "run-1");
        assert_eq!(c["reason"], json!("data_mismatch"), "[{b}] {c}");
        assert_eq!(fields_of(c), ["distance_meters", "source"], "[{b}] {c}");
        assert_server_copy(b, &c["server_workout"], &workout("run-1"), 1);
        assert_eq!(cursor_seq(&body), 1, "[{b}] attempt {attempt}: {body}");
    }

    app.sync_counted(&user, &[workout("run-1")], Counts::unchanged(1))
        .await;
}

per_backend!(deletions_apply_once_ignore_unknown_ids_and_turn_later_syncs_into_conflicts);
async fn deletions_apply_once_ignore_unknown_ids_and_turn_later_syncs_into_conflicts(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    app.assert_all_created(&user, &[workout("a"), workout("b")])
        .await;

    let body = app
        .sync_ok(&user, &json!({"workouts": [], "deleted_client_ids": ["a"]}))
        .await;
    assert_eq!(Counts::of(&body), Counts::deleted(1), "[{b}] {body}");
    assert_eq!(
        cursor_seq(&body),
        3,
        "[{b}] the deletion is a change: {body}"
    );

    // Already deleted, never synced: ignored, counted nowhere, nothing written.
    let body = app
        .sync_ok(&user, &json!({"deleted_client_ids": ["a", "never-synced"]}))
        .await;
    assert_eq!(Counts::of(&body), Counts::default(), "[{b}] {body}");
    assert_eq!(cursor_seq(&body), 3, "[{b}] {body}");

    // The workout again, with or without a newer version: the server's deletion wins.
    let newer = with(
        workout("a"),
        json!({"distance_meters": 7000, "client_version": 99}),
    );
    for again in [workout("a"), newer] {
        let body = app
            .sync_counted(&user, &[again], Counts::conflicts(1))
            .await;
        let c = conflict(b, &body, "a");
        assert_eq!(c["reason"], json!("deleted_on_server"), "[{b}] {c}");
        assert_eq!(c["server_workout"]["client_id"], json!("a"), "[{b}] {c}");
        assert_eq!(cursor_seq(&body), 3, "[{b}] {body}");
    }

    app.sync_counted(&user, &[workout("b")], Counts::unchanged(1))
        .await;
}
