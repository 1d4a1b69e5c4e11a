//! The contract's conflict table ("Outcome of each workout"), one test per row, driven through
//! the public API exactly as the store drives it: `prepare_sync` (or `validate_workout`) →
//! `plan_sync` → `SyncPlan::rows_to_write`. Also the JSON shape of a sync response.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sync_core::running::Tz;
use sync_core::testing::{
    incoming, now, utc, IncomingWorkout, StoredWorkoutBuilder, SERVED_WORKOUT_KEYS,
};
use sync_core::{
    plan_sync, prepare_sync, validate_workout, ChangeCursor, ConflictReason, Outcome, PlannedWrite,
    PreparedSync, Resolution, StoredWorkout, SyncLimits, SyncPlan, SyncRequestBody, SyncResponse,
    WorkoutView,
};
use uuid::Uuid;

/// The change-feed position of the user before each sync of these tests.
const AFTER_SEQ: i64 = 100;

/// The server's clock while writing; it has a fraction on purpose.
fn write_time() -> DateTime<Utc> {
    utc("2024-06-01T12:00:00.678Z")
}

/// The server's live row for `sent`, as earlier syncs left it: a few revisions in (so that
/// "one revision more" is not "revision 2"), its timestamps with fractions (never served).
fn server_copy(sent: &IncomingWorkout, client_version: i64) -> StoredWorkoutBuilder {
    sent.to_stored()
        .client_version(client_version)
        .revision(3)
        .change_seq(40)
        .created_at(utc("2024-01-15T09:00:01.250Z"))
        .updated_at(utc("2024-02-01T10:00:00.750Z"))
}

fn stored(sent: &IncomingWorkout, client_version: i64) -> StoredWorkout {
    server_copy(sent, client_version).build()
}

/// The same row after a later sync deleted it.
fn tombstone(sent: &IncomingWorkout, client_version: i64) -> StoredWorkout {
    server_copy(sent, client_version).deleted().build()
}

struct Synced {
    prepared: PreparedSync,
    plan: SyncPlan,
    rows: Vec<StoredWorkout>,
    new_ids: Vec<Uuid>,
}

/// One sync of `body` against the server rows `server`, as the store runs it.
fn sync(body: Value, server: &[StoredWorkout]) -> Synced {
    let body: SyncRequestBody = serde_json::from_value(body).expect("envelope");
    let prepared = prepare_sync(body, None, &SyncLimits::default(), now()).expect("accepted");
    let plan = plan_sync(
        &prepared.valid,
        prepared.rejected.clone(),
        &prepared.deletions,
        server,
    );
    let mut new_ids = Vec::new();
    let rows = plan.rows_to_write(AFTER_SEQ, write_time(), Tz::UTC, || {
        let id = Uuid::from_u64_pair(0xc0ffee, new_ids.len() as u64 + 1);
        new_ids.push(id);
        id
    });
    Synced {
        prepared,
        plan,
        rows,
        new_ids,
    }
}

fn sync_workouts(workouts: Vec<IncomingWorkout>, server: &[StoredWorkout]) -> Synced {
    sync(json!({ "workouts": workouts }), server)
}

/// Asserts that a sync decided nothing to write and leaves the change feed where it was.
fn assert_nothing_written(s: &Synced) {
    assert!(s.plan.writes.is_empty(), "writes: {:?}", s.plan.writes);
    assert!(s.rows.is_empty());
    assert_eq!(s.plan.seq_after(AFTER_SEQ), AFTER_SEQ);
}

fn only_conflict(s: &Synced) -> &sync_core::Conflict {
    assert_eq!(
        s.plan.conflicts.len(),
        1,
        "conflicts: {:?}",
        s.plan.conflicts
    );
    assert_eq!(s.plan.counts.conflicts, 1);
    &s.plan.conflicts[0]
}

// --- no workout with this client_id → created --------------------------------------------

#[test]
fn a_workout_the_server_does_not_have_is_created_at_revision_1() {
    // A row for another client id must not matter.
    let other = stored(&incoming("someone-else"), 9);
    let s = sync_workouts(vec![incoming("hk-1")], &[other]);

    assert_eq!(s.plan.outcomes, vec![(0, Outcome::Created)]);
    assert_eq!(s.plan.counts.created, 1);
    assert_eq!(s.plan.counts.workouts(), 1);
    assert_eq!(s.rows.len(), 1);
    let row = &s.rows[0];
    assert_eq!(row.id, s.new_ids[0]);
    assert_eq!(row.client_id, "hk-1");
    assert_eq!(row.content, s.prepared.valid[0].content);
    assert_eq!(row.content.distance_meters, 5000.0);
    assert_eq!(row.content.source, "apple_watch");
    assert_eq!(row.revision, 1);
    assert_eq!(row.change_seq, AFTER_SEQ + 1);
    assert_eq!(row.client_version, 0, "no client_version sent: stored as 0");
    assert_eq!(row.deleted_at, None);
    assert_eq!(
        (row.created_at, row.updated_at),
        (write_time(), write_time())
    );
    assert_eq!(s.plan.seq_after(AFTER_SEQ), AFTER_SEQ + 1);
}

#[test]
fn a_created_workout_keeps_the_client_version_it_was_sent_with() {
    let s = sync_workouts(vec![incoming("hk-1").client_version(7)], &[]);
    assert_eq!(s.plan.outcomes, vec![(0, Outcome::Created)]);
    assert_eq!(s.rows[0].client_version, 7);
    assert_eq!(s.rows[0].revision, 1);
}

// --- same content → unchanged, nothing written -------------------------------------------

#[test]
fn the_same_content_is_unchanged_and_nothing_is_written() {
    let server = stored(&incoming("hk-1"), 0);
    // The iOS client adds a random `id`; it is not content.
    let sent = incoming("hk-1").set("id", "f3b1c9d0-random");
    let s = sync_workouts(vec![sent], &[server]);

    assert_eq!(s.plan.outcomes, vec![(0, Outcome::Unchanged)]);
    assert_eq!(s.plan.counts.unchanged, 1);
    assert_eq!(s.plan.counts.workouts(), 1);
    assert!(s.plan.conflicts.is_empty());
    assert_nothing_written(&s);
}

#[test]
fn the_same_content_with_a_higher_client_version_is_still_unchanged() {
    let server = stored(&incoming("hk-1"), 2);
    let sent = incoming("hk-1").client_version(9);
    let s = sync_workouts(vec![sent], &[server]);

    assert_eq!(s.plan.outcomes, vec![(0, Outcome::Unchanged)]);
    assert_nothing_written(&s);
}

#[test]
fn absent_and_null_optional_fields_and_the_default_source_are_the_same_content() {
    let bare = incoming("hk-1").without("source").without("avg_heart_rate");
    let server = stored(&bare, 0);
    let sent = incoming("hk-1")
        .distance(5000.0)
        .set("avg_heart_rate", Value::Null)
        .set("max_heart_rate", Value::Null)
        .source("unknown")
        // Pace is derived when there is a distance: the client's own value is not content.
        .pace(419.99);
    let s = sync_workouts(vec![sent], &[server]);
    assert_eq!(s.plan.outcomes, vec![(0, Outcome::Unchanged)]);
    assert_nothing_written(&s);
}

// --- different content, greater client_version → updated ----------------------------------

#[test]
fn different_content_with_a_greater_client_version_is_updated() {
    let server = stored(&incoming("hk-1"), 2);
    let sent = incoming("hk-1").distance(5012.7).client_version(3);
    let s = sync_workouts(vec![sent], std::slice::from_ref(&server));

    assert_eq!(s.plan.outcomes, vec![(0, Outcome::Updated)]);
    assert_eq!(s.plan.counts.updated, 1);
    assert!(s.plan.conflicts.is_empty());
    assert_eq!(s.rows.len(), 1);
    let row = &s.rows[0];
    assert_eq!(row.id, server.id, "an update keeps the server's id");
    assert!(s.new_ids.is_empty(), "no id is minted for an update");
    assert_eq!(row.content.distance_meters, 5012.7);
    assert_eq!(row.content, s.prepared.valid[0].content);
    assert_eq!(row.revision, server.revision + 1);
    assert_eq!(row.change_seq, AFTER_SEQ + 1);
    assert_eq!(
        row.client_version, 3,
        "the stored client_version becomes the new one"
    );
    assert_eq!(row.deleted_at, None);
    assert_eq!(row.created_at, server.created_at);
    assert_eq!(row.updated_at, write_time());
    assert_eq!(s.plan.seq_after(AFTER_SEQ), AFTER_SEQ + 1);
}

#[test]
fn a_workout_stored_without_a_client_version_counts_as_version_0() {
    let server = stored(&incoming("hk-1"), 0);
    let changed = incoming("hk-1").avg_heart_rate(150);

    let s = sync_workouts(
        vec![changed.clone().client_version(1)],
        std::slice::from_ref(&server),
    );
    assert_eq!(s.plan.outcomes, vec![(0, Outcome::Updated)]);
    assert_eq!(s.rows[0].client_version, 1);
    assert_eq!(s.rows[0].content.avg_heart_rate, Some(150));

    // Version 0 is not greater than the implicit 0.
    let s = sync_workouts(vec![changed.client_version(0)], &[server]);
    assert_eq!(
        s.plan.outcomes,
        vec![(0, Outcome::Conflict(ConflictReason::StaleVersion))]
    );
    assert_nothing_written(&s);
}

#[test]
fn an_update_takes_the_offset_the_new_copy_was_sent_with() {
    let server = stored(&incoming("hk-1"), 0);
    // Same instants written in New York time, and a different distance.
    let sent = incoming("hk-1")
        .start("2024-01-15T03:00:00-05:00")
        .end("2024-01-15T03:35:00-05:00")
        .distance(4000.0)
        .client_version(1);
    let s = sync_workouts(vec![sent], &[server]);
    assert_eq!(s.plan.outcomes, vec![(0, Outcome::Updated)]);
    assert_eq!(s.rows[0].start_offset_minutes, -300);
    assert_eq!(WorkoutView::from(&s.rows[0]).date, "2024-01-15");
}

// --- different content, client_version sent but not greater → stale_version -----------------

#[test]
fn different_content_with_an_equal_or_lower_client_version_is_a_stale_version_conflict() {
    let server = stored(&incoming("hk-1"), 5);
    for version in [5, 4, 0] {
        let sent = incoming("hk-1")
            .avg_heart_rate(150)
            .source("iphone")
            .client_version(version);
        let s = sync_workouts(vec![sent], std::slice::from_ref(&server));

        assert_eq!(
            s.plan.outcomes,
            vec![(0, Outcome::Conflict(ConflictReason::StaleVersion))],
            "client_version {version}"
        );
        assert_eq!(s.plan.counts.workouts(), 1);
        assert_nothing_written(&s);
        let c = only_conflict(&s);
        assert_eq!(c.client_id, "hk-1");
        assert_eq!(c.server_id, server.id);
        assert_eq!(c.reason, ConflictReason::StaleVersion);
        assert_eq!(c.resolution, Resolution::ServerWins);
        assert_eq!(c.fields, vec!["avg_heart_rate", "source"]);
        assert_eq!(c.server_workout, WorkoutView::from(&server));
        assert_eq!(
            c.server_workout.avg_heart_rate,
            Some(145),
            "the server's copy, not the client's"
        );
        assert_eq!(c.server_workout.source, "apple_watch");
    }
}

#[test]
fn conflict_fields_list_exactly_the_fields_that_differ() {
    let server = stored(&incoming("hk-1"), 0);
    let sent = || incoming("hk-1");
    let cases: Vec<(IncomingWorkout, Vec<&str>)> = vec![
        (sent().start("2024-01-15T08:00:01Z"), vec!["start_time"]),
        (sent().end("2024-01-15T08:36:00Z"), vec!["end_time"]),
        (sent().energy(351.0), vec!["energy_burned_kcal"]),
        (
            sent().set("energy_burned_kcal", Value::Null),
            vec!["energy_burned_kcal"],
        ),
        (sent().max_heart_rate(180), vec!["max_heart_rate"]),
        (sent().source("strava"), vec!["source"]),
        // Pace is derived from duration and distance: it is not listed on its own.
        (sent().distance(5100.0), vec!["distance_meters"]),
        (sent().duration(2000), vec!["duration_seconds"]),
        (
            sent().distance(0.0).pace(400.0),
            vec!["distance_meters", "avg_pace_seconds_per_km"],
        ),
    ];
    for (sent, fields) in cases {
        let s = sync_workouts(vec![sent.clone()], std::slice::from_ref(&server));
        assert_eq!(
            s.plan.outcomes,
            vec![(0, Outcome::Conflict(ConflictReason::DataMismatch))],
            "{sent}"
        );
        assert_eq!(only_conflict(&s).fields, fields, "{sent}");
        assert_nothing_written(&s);
    }
}

#[test]
fn a_treadmill_workout_compares_the_clients_own_pace() {
    let treadmill = incoming("hk-1").distance(0.0).pace(400.5);
    let server = stored(&treadmill, 0);
    let s = sync_workouts(vec![treadmill.clone()], std::slice::from_ref(&server));
    assert_eq!(s.plan.outcomes, vec![(0, Outcome::Unchanged)]);

    let s = sync_workouts(vec![treadmill.pace(390.0)], &[server]);
    assert_eq!(only_conflict(&s).fields, vec!["avg_pace_seconds_per_km"]);
}

// --- different content, no client_version → data_mismatch -------------------------------

#[test]
fn different_content_without_a_client_version_is_a_data_mismatch_conflict() {
    // Even when the server's copy carries a version, no version sent means no claim to be newer.
    for server_version in [0, 4] {
        let server = stored(&incoming("hk-1"), server_version);
        let sent = incoming("hk-1").distance(5100.0);
        let s = sync_workouts(vec![sent], std::slice::from_ref(&server));

        assert_eq!(
            s.plan.outcomes,
            vec![(0, Outcome::Conflict(ConflictReason::DataMismatch))]
        );
        assert_nothing_written(&s);
        let c = only_conflict(&s);
        assert_eq!(c.reason, ConflictReason::DataMismatch);
        assert_eq!(c.resolution, Resolution::ServerWins);
        assert_eq!(c.server_id, server.id);
        assert_eq!(c.fields, vec!["distance_meters"]);
        assert_eq!(c.server_workout, WorkoutView::from(&server));
        assert_eq!(c.server_workout.distance_meters, 5000.0);
        assert_eq!(c.server_workout.revision, server.revision);
    }
}

// --- the server's copy is a tombstone → deleted_on_server --------------------------------

#[test]
fn a_workout_deleted_on_the_server_is_a_deleted_on_server_conflict_whatever_the_version() {
    let dead = tombstone(&incoming("hk-1"), 2);
    let changed = incoming("hk-1").distance(5100.0);
    let sends = [
        changed.clone().client_version(99),
        changed.clone().client_version(1),
        changed.clone(),
        // Even the very copy the server deleted does not bring it back.
        incoming("hk-1"),
        incoming("hk-1").client_version(3),
    ];
    for sent in sends {
        let s = sync_workouts(vec![sent.clone()], std::slice::from_ref(&dead));
        assert_eq!(
            s.plan.outcomes,
            vec![(0, Outcome::Conflict(ConflictReason::DeletedOnServer))],
            "{sent}"
        );
        assert_nothing_written(&s);
        let c = only_conflict(&s);
        assert_eq!(c.reason, ConflictReason::DeletedOnServer);
        assert_eq!(c.resolution, Resolution::ServerWins);
        assert_eq!(c.server_id, dead.id);
        assert_eq!(c.server_workout, WorkoutView::from(&dead));
        let expected: Vec<&str> =
            if sent.json()["distance_meters"] == changed.json()["distance_meters"] {
                vec!["distance_meters"]
            } else {
                vec![]
            };
        assert_eq!(c.fields, expected, "{sent}");
    }
}

// --- deleted_client_ids ------------------------------------------------------------------

#[test]
fn deleting_an_existing_workout_writes_a_tombstone_that_keeps_the_content() {
    let server = stored(&incoming("hk-1"), 6);
    let s = sync(
        json!({"deleted_client_ids": ["hk-1"]}),
        std::slice::from_ref(&server),
    );

    assert!(s.plan.outcomes.is_empty(), "deletions are not workouts");
    assert_eq!(s.plan.counts.deleted, 1);
    assert_eq!(s.plan.counts.workouts(), 0);
    assert_eq!(s.plan.writes, vec![PlannedWrite::Delete(server.clone())]);
    assert_eq!(s.rows.len(), 1);
    let row = &s.rows[0];
    assert_eq!(row.id, server.id);
    assert_eq!(row.deleted_at, Some(write_time()));
    assert!(row.is_deleted());
    assert_eq!(row.revision, server.revision + 1);
    assert_eq!(row.change_seq, AFTER_SEQ + 1);
    assert_eq!(
        row.content, server.content,
        "a tombstone keeps the content it had"
    );
    assert_eq!(row.client_version, server.client_version);
    assert_eq!(row.created_at, server.created_at);
    assert_eq!(row.updated_at, write_time());
    assert_eq!(s.plan.seq_after(AFTER_SEQ), AFTER_SEQ + 1);
}

#[test]
fn deleting_a_missing_or_already_deleted_workout_is_ignored() {
    let dead = tombstone(&incoming("gone"), 0);
    let s = sync(
        json!({"deleted_client_ids": ["never-synced", "gone"]}),
        &[dead],
    );
    assert_eq!(s.plan.counts.deleted, 0);
    assert_eq!(s.plan.counts, Default::default(), "counts nowhere");
    assert!(s.plan.conflicts.is_empty() && s.plan.rejected.is_empty());
    assert_nothing_written(&s);
}

#[test]
fn a_deletion_listed_twice_counts_once() {
    let server = stored(&incoming("hk-1"), 0);
    let s = sync(
        json!({"deleted_client_ids": ["hk-1", "hk-1", "hk-1"]}),
        &[server],
    );
    assert_eq!(s.plan.counts.deleted, 1);
    assert_eq!(s.rows.len(), 1);
    assert_eq!(s.plan.seq_after(AFTER_SEQ), AFTER_SEQ + 1);
}

#[test]
fn a_full_sync_that_leaves_a_workout_out_does_not_delete_it() {
    let kept = stored(&incoming("on-server-only"), 0);
    let s = sync(
        json!({"mode": "full", "workouts": [incoming("hk-1")]}),
        &[kept],
    );
    assert_eq!(s.plan.outcomes, vec![(0, Outcome::Created)]);
    assert_eq!(s.plan.counts.deleted, 0);
    assert_eq!(s.rows.len(), 1);
    assert_eq!(s.rows[0].client_id, "hk-1");
}

// --- rejected workouts next to valid ones --------------------------------------------------

#[test]
fn a_rejected_workout_does_not_block_the_others_and_the_counts_add_up() {
    let unchanged = stored(&incoming("same"), 0);
    let mismatched = stored(&incoming("differs"), 0);
    let sent = vec![
        incoming("new"),                                     // 0 created
        incoming("bad-type").set("distance_meters", "5000"), // 1 rejected
        incoming("same"),                                    // 2 unchanged
        IncomingWorkout::from(json!(7)),                     // 3 rejected, no client_id
        incoming("differs").source("iphone"),                // 4 conflict
        incoming("no-start").without("start_time"),          // 5 rejected
        incoming("hr").avg_heart_rate(300),                  // 6 rejected
    ];
    let n = sent.len();
    let s = sync_workouts(sent, &[unchanged, mismatched]);

    assert_eq!(
        s.plan.outcomes,
        vec![
            (0, Outcome::Created),
            (1, Outcome::Rejected),
            (2, Outcome::Unchanged),
            (3, Outcome::Rejected),
            (4, Outcome::Conflict(ConflictReason::DataMismatch)),
            (5, Outcome::Rejected),
            (6, Outcome::Rejected),
        ]
    );
    let c = s.plan.counts;
    assert_eq!(
        (c.created, c.updated, c.unchanged, c.conflicts, c.rejected),
        (1, 0, 1, 1, 4)
    );
    assert_eq!(
        c.created + c.updated + c.unchanged + s.plan.conflicts.len() + s.plan.rejected.len(),
        n
    );
    assert_eq!(c.workouts(), n);

    let listed: Vec<(usize, Option<&str>)> = s
        .plan
        .rejected
        .iter()
        .map(|r| (r.index, r.client_id.as_deref()))
        .collect();
    assert_eq!(
        listed,
        vec![
            (1, Some("bad-type")),
            (3, None),
            (5, Some("no-start")),
            (6, Some("hr"))
        ]
    );
    assert!(s.plan.rejected[0].errors.contains_key("distance_meters"));
    assert!(s.plan.rejected[2].errors.contains_key("start_time"));
    assert!(s.plan.rejected[3].errors.contains_key("avg_heart_rate"));

    // Nothing of a rejected workout is stored: the only row written is the created one.
    let written: Vec<&str> = s.rows.iter().map(|r| r.client_id.as_str()).collect();
    assert_eq!(written, vec!["new"]);
}

#[test]
fn a_rejected_workout_leaves_the_servers_copy_alone() {
    let server = stored(&incoming("hk-1"), 0);
    let broken = incoming("hk-1")
        .end("2024-01-15T07:00:00Z")
        .client_version(50);
    let s = sync_workouts(vec![broken], &[server]);
    assert_eq!(s.plan.outcomes, vec![(0, Outcome::Rejected)]);
    assert_eq!(s.plan.rejected[0].client_id.as_deref(), Some("hk-1"));
    assert!(s.plan.rejected[0].errors.contains_key("end_time"));
    assert!(s.plan.conflicts.is_empty());
    assert_nothing_written(&s);
}

#[test]
fn a_time_that_cannot_be_served_back_as_rfc_3339_is_rejected() {
    // Both are valid RFC 3339 as sent, but in UTC they fall in year -1 and year 10000.
    let early = incoming("early").start("0000-01-01T00:00:00+23:59");
    let late = incoming("late").end("9999-12-31T23:59:59-23:59");
    let s = sync_workouts(vec![early, late, incoming("fine")], &[]);
    assert_eq!(
        s.plan.outcomes,
        vec![
            (0, Outcome::Rejected),
            (1, Outcome::Rejected),
            (2, Outcome::Created)
        ]
    );
    assert!(s.plan.rejected[0].errors.contains_key("start_time"));
    assert!(s.plan.rejected[1].errors.contains_key("end_time"));
}

// --- normalised comparison --------------------------------------------------------------

#[test]
fn the_same_instant_in_another_offset_is_the_same_content() {
    let server = stored(&incoming("hk-1"), 0);
    let sent = incoming("hk-1")
        .start("2024-01-15T09:00:00+01:00")
        .end("2024-01-15T09:35:00+01:00");
    let s = sync_workouts(vec![sent], &[server]);
    assert_eq!(s.plan.outcomes, vec![(0, Outcome::Unchanged)]);
    assert_nothing_written(&s);
}

#[test]
fn fractional_seconds_beyond_milliseconds_are_ignored() {
    let server = stored(&incoming("hk-1").start("2024-01-15T08:00:00.123Z"), 0);

    let finer = incoming("hk-1").start("2024-01-15T08:00:00.123999Z");
    let s = sync_workouts(vec![finer], std::slice::from_ref(&server));
    assert_eq!(s.plan.outcomes, vec![(0, Outcome::Unchanged)]);
    assert_nothing_written(&s);

    // A whole millisecond apart is different content.
    let other = incoming("hk-1").start("2024-01-15T08:00:00.124Z");
    let s = sync_workouts(vec![other], &[server]);
    assert_eq!(only_conflict(&s).fields, vec!["start_time"]);

    // A zero fraction is no fraction.
    let server = stored(&incoming("hk-2"), 0);
    let zero = incoming("hk-2").start("2024-01-15T08:00:00.000000Z");
    let s = sync_workouts(vec![zero], &[server]);
    assert_eq!(s.plan.outcomes, vec![(0, Outcome::Unchanged)]);
}

#[test]
fn a_leap_second_is_the_first_second_of_the_next_minute() {
    let server = stored(
        &incoming("hk-1")
            .start("2017-01-01T00:00:00Z")
            .end("2017-01-01T00:35:00Z"),
        0,
    );
    let leap = incoming("hk-1")
        .start("2016-12-31T23:59:60Z")
        .end("2017-01-01T00:35:00Z");
    let s = sync_workouts(vec![leap.clone()], std::slice::from_ref(&server));
    assert_eq!(s.plan.outcomes, vec![(0, Outcome::Unchanged)]);

    let created = sync_workouts(vec![leap], &[]);
    let view = serde_json::to_value(WorkoutView::from(&created.rows[0])).unwrap();
    assert_eq!(
        view["start_time"],
        json!("2017-01-01T00:00:00Z"),
        "no :60 and no invented fraction"
    );
}

// --- change-feed positions -----------------------------------------------------------------

#[test]
fn writes_take_contiguous_change_seqs_in_request_order_workouts_then_deletions() {
    let server = vec![
        stored(&incoming("to-delete-1"), 0),
        stored(&incoming("updated"), 1),
        stored(&incoming("unchanged"), 0),
        stored(&incoming("conflicting"), 0),
        tombstone(&incoming("dead"), 0),
        tombstone(&incoming("dead-too"), 0),
        stored(&incoming("to-delete-2"), 0),
    ];
    let body = json!({
        "workouts": [
            incoming("new-a"),
            incoming("updated").distance(6000.0).client_version(2),
            incoming("unchanged"),
            incoming("conflicting").distance(6000.0),
            incoming("bad").duration(-1),
            incoming("dead"),
            incoming("new-b"),
        ],
        "deleted_client_ids": ["to-delete-2", "missing", "dead-too", "to-delete-1", "to-delete-2"]
    });
    let s = sync(body, &server);

    let order: Vec<(&str, i64)> = s
        .rows
        .iter()
        .map(|r| (r.client_id.as_str(), r.change_seq))
        .collect();
    assert_eq!(
        order,
        vec![
            ("new-a", AFTER_SEQ + 1),
            ("updated", AFTER_SEQ + 2),
            ("new-b", AFTER_SEQ + 3),
            ("to-delete-2", AFTER_SEQ + 4),
            ("to-delete-1", AFTER_SEQ + 5),
        ]
    );
    assert_eq!(s.plan.seq_after(AFTER_SEQ), AFTER_SEQ + 5);
    let c = s.plan.counts;
    assert_eq!(
        (
            c.created,
            c.updated,
            c.unchanged,
            c.conflicts,
            c.rejected,
            c.deleted
        ),
        (2, 1, 1, 2, 1, 2)
    );
    assert_eq!(c.workouts(), 7);
    // Two created workouts get two distinct new ids.
    assert_eq!(s.new_ids.len(), 2);
    assert_ne!(s.rows[0].id, s.rows[2].id);

    // The same plan written after another position shifts, and only shifts, the positions.
    let later = s.plan.rows_to_write(7, write_time(), Tz::UTC, Uuid::new_v4);
    let seqs: Vec<i64> = later.iter().map(|r| r.change_seq).collect();
    assert_eq!(seqs, vec![8, 9, 10, 11, 12]);
    assert_eq!(s.plan.seq_after(7), 12);
}

// --- the response as JSON --------------------------------------------------------------------

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

fn sorted(mut names: Vec<&str>) -> Vec<&str> {
    names.sort_unstable();
    names
}

fn response_of(s: &Synced) -> SyncResponse {
    SyncResponse {
        success: true,
        sync_id: Uuid::from_u128(0x5111c),
        server_timestamp: utc("2024-01-15T09:00:01.999Z"),
        created: s.plan.counts.created,
        updated: s.plan.counts.updated,
        unchanged: s.plan.counts.unchanged,
        deleted: s.plan.counts.deleted,
        conflicts: s.plan.conflicts.clone(),
        rejected: s.plan.rejected.clone(),
        next_cursor: ChangeCursor {
            after_seq: s.plan.seq_after(AFTER_SEQ),
        }
        .encode(),
    }
}

#[test]
fn a_sync_response_serialises_as_the_contract_writes_it() {
    // The server's copy was sent from New York, late in the evening, with milliseconds.
    let server_sent = incoming("hk-conflict")
        .start("2024-01-15T23:30:00.250-05:00")
        .end("2024-01-16T00:05:00-05:00")
        .distance(5012.7);
    let server = stored(&server_sent, 0);
    let sent = vec![
        incoming("hk-new"),
        server_sent.distance(5000.0),
        IncomingWorkout::from(json!({"client_id": "hk-bad", "distance_meters": "5000"})),
    ];
    let s = sync_workouts(sent, std::slice::from_ref(&server));
    let body = serde_json::to_value(response_of(&s)).unwrap();

    assert_eq!(
        keys(&body),
        sorted(vec![
            "success",
            "sync_id",
            "server_timestamp",
            "created",
            "updated",
            "unchanged",
            "deleted",
            "conflicts",
            "rejected",
            "next_cursor",
        ])
    );
    assert_eq!(body["success"], json!(true));
    assert_eq!(body["server_timestamp"], json!("2024-01-15T09:00:01Z"));
    assert_eq!(body["sync_id"], json!(Uuid::from_u128(0x5111c).to_string()));
    for (name, count) in [
        ("created", 1),
        ("updated", 0),
        ("unchanged", 0),
        ("deleted", 0),
    ] {
        assert_eq!(body[name], json!(count), "{name}");
        assert!(body[name].is_u64(), "{name} is an integer");
    }
    assert_eq!(
        ChangeCursor::decode(body["next_cursor"].as_str().unwrap()),
        Ok(ChangeCursor {
            after_seq: AFTER_SEQ + 1
        })
    );

    let conflict = &body["conflicts"][0];
    assert_eq!(
        keys(conflict),
        sorted(vec![
            "client_id",
            "server_id",
            "reason",
            "resolution",
            "fields",
            "server_workout"
        ])
    );
    assert_eq!(conflict["client_id"], json!("hk-conflict"));
    assert_eq!(conflict["server_id"], json!(server.id.to_string()));
    assert_eq!(conflict["reason"], json!("data_mismatch"));
    assert_eq!(conflict["resolution"], json!("server_wins"));
    assert_eq!(conflict["fields"], json!(["distance_meters"]));

    let w = &conflict["server_workout"];
    assert_eq!(keys(w), sorted(SERVED_WORKOUT_KEYS.to_vec()));
    assert_eq!(w["id"], json!(server.id.to_string()));
    assert_eq!(w["client_id"], json!("hk-conflict"));
    assert_eq!(
        w["date"],
        json!("2024-01-15"),
        "the day in the offset the client sent"
    );
    assert_eq!(
        w["start_time"],
        json!("2024-01-16T04:30:00.250Z"),
        "milliseconds kept when present"
    );
    assert_eq!(
        w["end_time"],
        json!("2024-01-16T05:05:00Z"),
        "no fraction when there is none"
    );
    assert_eq!(w["created_at"], json!("2024-01-15T09:00:01Z"));
    assert_eq!(w["updated_at"], json!("2024-02-01T10:00:00Z"));
    assert_eq!(w["distance_meters"], json!(5012.7));
    assert_eq!(w["avg_heart_rate"], json!(145));
    assert_eq!(w["max_heart_rate"], Value::Null);
    assert_eq!(w["source"], json!("apple_watch"));
    assert_eq!(w["revision"], json!(3));
    assert!(w["avg_pace_seconds_per_km"].is_number());
    for integer in ["duration_seconds", "avg_heart_rate", "revision"] {
        assert!(
            w[integer].is_i64() || w[integer].is_u64(),
            "{integer} is an integer: {}",
            w[integer]
        );
    }
    let text = serde_json::to_string(&body["conflicts"]).unwrap();
    assert!(text.contains("\"duration_seconds\":2100,"), "{text}");
    assert!(!text.contains("2100.0"), "{text}");

    let rejected = &body["rejected"][0];
    assert_eq!(keys(rejected), sorted(vec!["index", "client_id", "errors"]));
    assert_eq!(rejected["index"], json!(2));
    assert_eq!(rejected["client_id"], json!("hk-bad"));
    assert_eq!(
        rejected["errors"]["distance_meters"],
        json!(["must be a number"])
    );
    assert!(rejected["errors"]["start_time"].is_array());
}

#[test]
fn server_generated_timestamps_of_written_rows_are_served_without_a_fraction() {
    let s = sync_workouts(vec![incoming("hk-1").start("2024-01-15T08:00:00.5Z")], &[]);
    let view = serde_json::to_value(WorkoutView::from(&s.rows[0])).unwrap();
    // write_time() is 12:00:00.678.
    assert_eq!(view["created_at"], json!("2024-06-01T12:00:00Z"));
    assert_eq!(view["updated_at"], json!("2024-06-01T12:00:00Z"));
    assert_eq!(view["start_time"], json!("2024-01-15T08:00:00.500Z"));
    assert_eq!(view["end_time"], json!("2024-01-15T08:35:00Z"));
    assert_eq!(view["revision"], json!(1));
    assert_eq!(view["id"], json!(s.new_ids[0].to_string()));
}

#[test]
fn a_response_without_conflicts_or_rejections_has_empty_arrays() {
    let s = sync_workouts(vec![incoming("hk-1")], &[]);
    let body = serde_json::to_value(response_of(&s)).unwrap();
    assert_eq!(body["conflicts"], json!([]));
    assert_eq!(body["rejected"], json!([]));
    let rejected_without_id =
        serde_json::to_value(validate_workout(4, &json!("not an object"), now()).unwrap_err())
            .unwrap();
    assert_eq!(rejected_without_id["index"], json!(4));
    assert_eq!(rejected_without_id["client_id"], Value::Null);
    assert!(rejected_without_id["errors"]
        .as_object()
        .is_some_and(|e| !e.is_empty()));
}
