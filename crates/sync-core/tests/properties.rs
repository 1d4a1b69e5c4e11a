//! Property tests of the sync rules: replays are no-ops, counts add up, outcomes do not depend on
//! order, fingerprints see exactly what a request asks for, cursors round-trip, and validation
//! never panics whatever JSON a client sends.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, FixedOffset, SecondsFormat, TimeZone, Utc};
use proptest::prelude::*;
use proptest::sample::{select, Index};
use serde_json::{json, Value};
use sync_core::running::Tz;
use sync_core::testing::{incoming, now, utc, IncomingWorkout, StoredWorkoutBuilder};
use sync_core::time::{format_workout_time, parse_client_timestamp};
use sync_core::validate::{MAX_CLIENT_ID_CHARS, MAX_SOURCE_CHARS};
use sync_core::{
    plan_sync, prepare_sync, validate_workout, ChangeCursor, ConflictReason, ListCursor, Outcome,
    PlannedWrite, PreparedSync, StoredWorkout, SyncLimits, SyncPlan, SyncRequestBody, WorkoutView,
};
use uuid::Uuid;

// Validation runs at the builders' fixed `now()`; generated workouts all start before it.

fn write_time() -> DateTime<Utc> {
    utc("2024-06-01T12:00:05.250Z")
}

/// The workout fields of the contract (client_version included: it is not content, but it
/// changes what a sync does, so it is part of the request).
const WORKOUT_FIELDS: [&str; 11] = [
    "client_id",
    "start_time",
    "end_time",
    "duration_seconds",
    "distance_meters",
    "energy_burned_kcal",
    "avg_heart_rate",
    "max_heart_rate",
    "avg_pace_seconds_per_km",
    "source",
    "client_version",
];

const OFFSETS: [i32; 6] = [0, 60, -300, 330, 600, -720];
const SOURCES: [&str; 5] = ["apple_watch", "iphone", "", "strava", "unknown"];

// --- generators ---------------------------------------------------------------------------

/// A valid workout, before it is given a client id.
#[derive(Debug, Clone)]
struct Spec {
    start_minute: i64,
    start_millis: u32,
    offset_minutes: i32,
    duration: i64,
    slack: i64,
    distance: f64,
    energy: Option<f64>,
    avg_hr: Option<i64>,
    max_hr: Option<i64>,
    pace: Option<f64>,
    source: Option<&'static str>,
    client_version: Option<i64>,
    random_id: Option<String>,
}

impl Spec {
    fn start(&self) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2023, 1, 1, 0, 0, 0).unwrap()
            + Duration::minutes(self.start_minute)
            + Duration::milliseconds(i64::from(self.start_millis))
    }

    fn end(&self) -> DateTime<Utc> {
        self.start() + Duration::seconds(self.duration + self.slack)
    }

    fn to_json(&self, client_id: &str) -> Value {
        let mut w = json!({
            "client_id": client_id,
            "start_time": stamp(self.start(), self.offset_minutes),
            "end_time": stamp(self.end(), self.offset_minutes),
            "duration_seconds": self.duration,
            "distance_meters": self.distance,
        });
        let optional = [
            ("energy_burned_kcal", self.energy.map(Value::from)),
            ("avg_heart_rate", self.avg_hr.map(Value::from)),
            ("max_heart_rate", self.max_hr.map(Value::from)),
            ("avg_pace_seconds_per_km", self.pace.map(Value::from)),
            ("source", self.source.map(Value::from)),
            ("client_version", self.client_version.map(Value::from)),
            ("id", self.random_id.clone().map(Value::from)),
        ];
        for (field, value) in optional {
            if let Some(value) = value {
                w[field] = value;
            }
        }
        w
    }
}

/// RFC 3339 in the given offset, with milliseconds only when there are any.
fn stamp(utc: DateTime<Utc>, offset_minutes: i32) -> String {
    let offset = FixedOffset::east_opt(offset_minutes * 60).unwrap();
    let format = if utc.timestamp_subsec_millis() == 0 {
        SecondsFormat::Secs
    } else {
        SecondsFormat::Millis
    };
    utc.with_timezone(&offset).to_rfc3339_opts(format, true)
}

fn tenths(max: u32) -> impl Strategy<Value = f64> {
    (0..max).prop_map(|v| f64::from(v) / 10.0)
}

fn spec() -> impl Strategy<Value = Spec> {
    let times = (
        0i64..700_000,
        prop_oneof![3 => Just(0u32), 1 => 1u32..1000],
        select(OFFSETS.to_vec()),
        0i64..20_000,
        1i64..120,
    );
    let numbers = (
        prop_oneof![1 => Just(0.0), 3 => tenths(600_000).prop_map(|d| d + 0.1)],
        proptest::option::of(tenths(20_000)),
        proptest::option::of(20i64..=250),
        proptest::option::of(20i64..=250),
        proptest::option::of((0u32..100_000).prop_map(|p| f64::from(p) / 100.0)),
    );
    let meta = (
        proptest::option::of(select(SOURCES.to_vec())),
        proptest::option::of(0i64..6),
        proptest::option::of("[a-f0-9-]{8,36}"),
    );
    (times, numbers, meta).prop_map(
        |(
            (start_minute, start_millis, offset_minutes, duration, slack),
            (distance, energy, avg_hr, max_hr, pace),
            (source, client_version, random_id),
        )| Spec {
            start_minute,
            start_millis,
            offset_minutes,
            duration,
            slack,
            distance,
            energy,
            avg_hr,
            max_hr,
            pace,
            source,
            client_version,
            random_id,
        },
    )
}

/// How a generated workout is made invalid.
#[derive(Debug, Clone)]
enum Break {
    DistanceAsText,
    NoStartTime,
    EndBeforeStart,
    HeartRateTooHigh,
    NegativeDistance,
    DurationTooLong,
    BadClientVersion,
    NotAnObject(Value),
}

impl Break {
    fn apply(&self, mut raw: Value) -> Value {
        match self {
            Break::DistanceAsText => raw["distance_meters"] = json!("5000"),
            Break::NoStartTime => {
                raw.as_object_mut().unwrap().remove("start_time");
            }
            Break::EndBeforeStart => raw["end_time"] = raw["start_time"].clone(),
            Break::HeartRateTooHigh => raw["avg_heart_rate"] = json!(300),
            Break::NegativeDistance => raw["distance_meters"] = json!(-1.5),
            Break::DurationTooLong => raw["duration_seconds"] = json!(10_000_000),
            Break::BadClientVersion => raw["client_version"] = json!("3"),
            Break::NotAnObject(value) => return value.clone(),
        }
        raw
    }
}

fn breakage() -> impl Strategy<Value = Break> {
    prop_oneof![
        Just(Break::DistanceAsText),
        Just(Break::NoStartTime),
        Just(Break::EndBeforeStart),
        Just(Break::HeartRateTooHigh),
        Just(Break::NegativeDistance),
        Just(Break::DurationTooLong),
        Just(Break::BadClientVersion),
        select(vec![
            json!(7),
            json!(null),
            json!("w"),
            json!([1, 2]),
            json!(true)
        ])
        .prop_map(Break::NotAnObject),
    ]
}

/// What the server holds for a workout's client id.
#[derive(Debug, Clone)]
enum Server {
    Absent,
    /// The very content sent, possibly written with another offset.
    Same {
        offset_minutes: i32,
    },
    /// Some other content.
    Other(Spec),
}

#[derive(Debug, Clone)]
struct RowMeta {
    client_version: i64,
    revision: i64,
    deleted: bool,
}

fn row_meta() -> impl Strategy<Value = RowMeta> {
    (0i64..6, 1i64..5, proptest::bool::weighted(0.2)).prop_map(
        |(client_version, revision, deleted)| RowMeta {
            client_version,
            revision,
            deleted,
        },
    )
}

fn server() -> impl Strategy<Value = Server> {
    prop_oneof![
        2 => Just(Server::Absent),
        2 => select(OFFSETS.to_vec()).prop_map(|offset_minutes| Server::Same { offset_minutes }),
        3 => spec().prop_map(Server::Other),
    ]
}

/// One workout of a batch and what the server has for it.
type Slot = (Spec, Option<Break>, Server, RowMeta);

fn slot() -> impl Strategy<Value = Slot> {
    (
        spec(),
        proptest::option::weighted(0.15, breakage()),
        server(),
        row_meta(),
    )
}

/// A sync request and the server's rows for it.
#[derive(Debug, Clone)]
struct Case {
    workouts: Vec<Value>,
    stored: Vec<StoredWorkout>,
    deletions: Vec<String>,
    mode: Option<&'static str>,
}

/// The `n`th stored row: `spec`'s content (generated specs are valid) with `meta`'s versions.
fn stored_row(n: u64, client_id: &str, spec: &Spec, meta: &RowMeta) -> StoredWorkout {
    let row = IncomingWorkout::from(spec.to_json(client_id))
        .to_stored()
        .client_version(meta.client_version)
        .revision(meta.revision)
        .change_seq(n as i64 + 1)
        .created_at(utc("2024-01-01T00:00:00.400Z"))
        .updated_at(utc("2024-04-01T00:00:00.600Z"));
    if meta.deleted {
        row.deleted_at(utc("2024-05-01T00:00:00Z")).build()
    } else {
        row.build()
    }
}

fn build_case(
    slots: Vec<Slot>,
    extras: Vec<(Spec, RowMeta)>,
    picks: Vec<u8>,
    mode: Option<&'static str>,
) -> Case {
    let mut workouts = Vec::new();
    let mut stored = Vec::new();
    for (i, (spec, breakage, server, meta)) in slots.into_iter().enumerate() {
        let client_id = format!("w{i}");
        let raw = spec.to_json(&client_id);
        workouts.push(match &breakage {
            Some(b) => b.apply(raw),
            None => raw,
        });
        let n = stored.len() as u64;
        match server {
            Server::Absent => {}
            Server::Same { offset_minutes } => {
                let same = Spec {
                    offset_minutes,
                    ..spec
                };
                stored.push(stored_row(n, &client_id, &same, &meta));
            }
            Server::Other(other) => stored.push(stored_row(n, &client_id, &other, &meta)),
        }
    }
    let extra_count = extras.len();
    for (j, (spec, meta)) in extras.into_iter().enumerate() {
        let n = stored.len() as u64;
        stored.push(stored_row(n, &format!("d{j}"), &spec, &meta));
    }
    // Deletions name stored-only rows, ids the server never saw, and repeats.
    let deletions = picks
        .into_iter()
        .map(|p| usize::from(p) % (extra_count + 2))
        .map(|k| {
            if k < extra_count {
                format!("d{k}")
            } else {
                format!("missing{k}")
            }
        })
        .collect();
    Case {
        workouts,
        stored,
        deletions,
        mode,
    }
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(slot(), 0..10),
        proptest::collection::vec((spec(), row_meta()), 0..4),
        proptest::collection::vec(any::<u8>(), 0..6),
        select(vec![None, Some("incremental"), Some("full")]),
    )
        .prop_map(|(slots, extras, picks, mode)| build_case(slots, extras, picks, mode))
}

// --- running a sync -----------------------------------------------------------------------

fn body_of(case: &Case) -> SyncRequestBody {
    SyncRequestBody {
        workouts: Some(case.workouts.clone()),
        mode: case.mode.map(str::to_owned),
        idempotency_key: Some("sync_key_1".into()),
        client_sync_timestamp: Some("2024-06-01T11:59:00+02:00".into()),
        deleted_client_ids: Some(case.deletions.clone()),
    }
}

fn prepare(case: &Case) -> PreparedSync {
    prepare_sync(body_of(case), None, &SyncLimits::default(), now())
        .expect("generated requests are accepted")
}

fn plan(prepared: &PreparedSync, stored: &[StoredWorkout]) -> SyncPlan {
    plan_sync(
        &prepared.valid,
        prepared.rejected.clone(),
        &prepared.deletions,
        stored,
    )
}

fn rows(plan: &SyncPlan, after_seq: i64) -> Vec<StoredWorkout> {
    let mut n = 0u64;
    plan.rows_to_write(after_seq, write_time(), Tz::UTC, || {
        n += 1;
        Uuid::from_u64_pair(0xc0ffee, n)
    })
}

/// The server's rows once `written` is stored over `stored`.
fn apply(stored: &[StoredWorkout], written: Vec<StoredWorkout>) -> Vec<StoredWorkout> {
    let mut by_client_id: BTreeMap<String, StoredWorkout> = stored
        .iter()
        .map(|w| (w.client_id.clone(), w.clone()))
        .collect();
    for row in written {
        by_client_id.insert(row.client_id.clone(), row);
    }
    by_client_id.into_values().collect()
}

/// The conflict table of the contract, written out independently of the planner.
fn expected_outcome(incoming: &sync_core::ValidWorkout, stored: &[StoredWorkout]) -> Outcome {
    let Some(current) = stored.iter().find(|s| s.client_id == incoming.client_id) else {
        return Outcome::Created;
    };
    if current.deleted_at.is_some() {
        Outcome::Conflict(ConflictReason::DeletedOnServer)
    } else if current.content == incoming.content {
        Outcome::Unchanged
    } else {
        match incoming.client_version {
            Some(v) if v > current.client_version => Outcome::Updated,
            Some(_) => Outcome::Conflict(ConflictReason::StaleVersion),
            None => Outcome::Conflict(ConflictReason::DataMismatch),
        }
    }
}

fn permuted<T: Clone>(items: &[T], order: &[usize]) -> Vec<T> {
    order.iter().map(|&i| items[i].clone()).collect()
}

/// A written row without what depends on position or id minting.
type RowState = (String, bool, i64, i64, Option<DateTime<Utc>>, String);

fn row_states(rows: &[StoredWorkout]) -> Vec<RowState> {
    let mut states: Vec<RowState> = rows
        .iter()
        .map(|r| {
            (
                r.client_id.clone(),
                r.revision == 1,
                r.revision,
                r.client_version,
                r.deleted_at,
                format!("{:?}/{}", r.content, r.start_offset_minutes),
            )
        })
        .collect();
    states.sort();
    states
}

// --- properties ---------------------------------------------------------------------------

proptest! {
    /// The generators make what they claim: every spec is a valid workout.
    #[test]
    fn generated_specs_are_valid(spec in spec()) {
        let w = validate_workout(0, &spec.to_json("x"), now());
        prop_assert!(w.is_ok(), "{:?}", w);
    }

    /// (a) Sending the same batch again after it was applied writes nothing: what was created,
    /// updated or unchanged is now unchanged, and the rest ends exactly as it did.
    #[test]
    fn replaying_an_applied_batch_writes_nothing(case in case(), after_seq in 0i64..1_000_000) {
        let prepared = prepare(&case);
        let first = plan(&prepared, &case.stored);
        let after = apply(&case.stored, rows(&first, after_seq));
        let replay = plan(&prepared, &after);

        prop_assert!(replay.writes.is_empty(), "replay writes {:?}", replay.writes);
        prop_assert_eq!(replay.seq_after(after_seq), after_seq);
        prop_assert_eq!(replay.counts.created + replay.counts.updated + replay.counts.deleted, 0);
        prop_assert_eq!(replay.outcomes.len(), first.outcomes.len());
        for (&(i, was), &(j, replayed)) in first.outcomes.iter().zip(&replay.outcomes) {
            prop_assert_eq!(i, j);
            let expected = match was {
                Outcome::Created | Outcome::Updated | Outcome::Unchanged => Outcome::Unchanged,
                other => other,
            };
            prop_assert_eq!(replayed, expected, "workout {} was {:?}", i, was);
            prop_assert!(matches!(
                replayed,
                Outcome::Unchanged
                    | Outcome::Rejected
                    | Outcome::Conflict(_)
            ));
        }
        prop_assert_eq!(&replay.rejected, &first.rejected);
        prop_assert_eq!(replay.conflicts.len(), first.conflicts.len());

        // And a third time changes nothing either.
        let again = plan(&prepared, &apply(&after, rows(&replay, after_seq)));
        prop_assert_eq!(again.outcomes, replay.outcomes);
    }

    /// (b) Every workout sent is counted exactly once, each by the contract's table, and the
    /// writes match the counts.
    #[test]
    fn counts_add_up_and_follow_the_table(case in case(), after_seq in 0i64..1_000_000) {
        let prepared = prepare(&case);
        let plan = plan(&prepared, &case.stored);
        let c = plan.counts;
        let sent = case.workouts.len();

        prop_assert_eq!(
            c.created + c.updated + c.unchanged + plan.conflicts.len() + plan.rejected.len(),
            sent
        );
        prop_assert_eq!(c.workouts(), sent);
        prop_assert_eq!(c.conflicts, plan.conflicts.len());
        prop_assert_eq!(c.rejected, plan.rejected.len());
        let indexes: Vec<usize> = plan.outcomes.iter().map(|(i, _)| *i).collect();
        prop_assert_eq!(indexes, (0..sent).collect::<Vec<_>>());
        let tally = |f: fn(&Outcome) -> bool| plan.outcomes.iter().filter(|(_, o)| f(o)).count();
        prop_assert_eq!(tally(|o| *o == Outcome::Created), c.created);
        prop_assert_eq!(tally(|o| *o == Outcome::Updated), c.updated);
        prop_assert_eq!(tally(|o| *o == Outcome::Unchanged), c.unchanged);
        prop_assert_eq!(tally(|o| matches!(o, Outcome::Conflict(_))), c.conflicts);
        prop_assert_eq!(tally(|o| *o == Outcome::Rejected), c.rejected);

        for w in &prepared.valid {
            let decided = plan.outcomes[w.index].1;
            prop_assert_eq!(decided, expected_outcome(w, &case.stored), "{}", w.client_id);
        }
        for r in &plan.rejected {
            prop_assert_eq!(plan.outcomes[r.index].1, Outcome::Rejected);
            prop_assert!(!r.errors.is_empty());
            prop_assert_eq!(
                r.client_id.as_deref(),
                case.workouts[r.index].get("client_id").and_then(Value::as_str)
            );
        }
        for conflict in &plan.conflicts {
            let server = case.stored.iter().find(|s| s.client_id == conflict.client_id).unwrap();
            let incoming = prepared.valid.iter().find(|w| w.client_id == conflict.client_id).unwrap();
            prop_assert_eq!(conflict.server_id, server.id);
            prop_assert_eq!(&conflict.server_workout, &WorkoutView::from(server));
            prop_assert_eq!(
                conflict.fields.is_empty(),
                server.content == incoming.content,
                "fields {:?}", conflict.fields
            );
        }

        // Deletions: each live stored row named at least once, once.
        let mut named: Vec<&String> = case.deletions.iter().collect();
        named.sort();
        named.dedup();
        let live = named
            .iter()
            .filter(|id| case.stored.iter().any(|s| s.client_id == ***id && s.deleted_at.is_none()))
            .count();
        prop_assert_eq!(c.deleted, live);

        // Writes: one per created, updated and deleted, on contiguous positions.
        let written = rows(&plan, after_seq);
        prop_assert_eq!(written.len(), c.created + c.updated + c.deleted);
        let seqs: Vec<i64> = written.iter().map(|r| r.change_seq).collect();
        prop_assert_eq!(seqs, (after_seq + 1..=after_seq + written.len() as i64).collect::<Vec<_>>());
        prop_assert_eq!(plan.seq_after(after_seq), after_seq + written.len() as i64);
        for (write, row) in plan.writes.iter().zip(&written) {
            match write {
                PlannedWrite::Create(_) => {
                    prop_assert_eq!(row.revision, 1);
                    prop_assert!(!case.stored.iter().any(|s| s.id == row.id || s.client_id == row.client_id));
                }
                PlannedWrite::Update { stored, .. } | PlannedWrite::Delete(stored) => {
                    prop_assert_eq!(row.id, stored.id);
                    prop_assert_eq!(row.revision, stored.revision + 1);
                    prop_assert_eq!(row.created_at, stored.created_at);
                    prop_assert!(row.client_version >= stored.client_version);
                }
            }
        }
    }

    /// (c) A workout's outcome depends neither on its place in the batch nor on the order in
    /// which the store hands over its rows.
    #[test]
    fn outcomes_do_not_depend_on_order(
        (case, workout_order, stored_order) in case().prop_flat_map(|case| {
            let n = case.workouts.len();
            let m = case.stored.len();
            (
                Just(case),
                Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
                Just((0..m).collect::<Vec<usize>>()).prop_shuffle(),
            )
        })
    ) {
        let prepared = prepare(&case);
        let original = plan(&prepared, &case.stored);

        let shuffled_case = Case {
            workouts: permuted(&case.workouts, &workout_order),
            stored: permuted(&case.stored, &stored_order),
            ..case.clone()
        };
        let shuffled_prepared = prepare(&shuffled_case);
        let shuffled = plan(&shuffled_prepared, &shuffled_case.stored);

        // Position p of the shuffled batch is workout `workout_order[p]` of the original.
        for &(p, outcome) in &shuffled.outcomes {
            let (i, was) = original.outcomes[workout_order[p]];
            prop_assert_eq!(i, workout_order[p]);
            prop_assert_eq!(outcome, was, "workout {} moved to {}", i, p);
        }
        prop_assert_eq!(shuffled.counts, original.counts);

        let mut a = original.conflicts.clone();
        let mut b = shuffled.conflicts.clone();
        a.sort_by(|x, y| x.client_id.cmp(&y.client_id));
        b.sort_by(|x, y| x.client_id.cmp(&y.client_id));
        prop_assert_eq!(a, b);

        for r in &shuffled.rejected {
            let before = original.rejected.iter().find(|o| o.index == workout_order[r.index]).unwrap();
            prop_assert_eq!(&r.client_id, &before.client_id);
            prop_assert_eq!(&r.errors, &before.errors);
        }
        // Conflicts and rejections are listed in request order.
        let conflict_positions: Vec<usize> = shuffled
            .conflicts
            .iter()
            .map(|c| shuffled_prepared.valid.iter().find(|w| w.client_id == c.client_id).unwrap().index)
            .collect();
        prop_assert!(conflict_positions.windows(2).all(|w| w[0] < w[1]));
        prop_assert!(shuffled.rejected.windows(2).all(|w| w[0].index < w[1].index));

        prop_assert_eq!(row_states(&rows(&shuffled, 10)), row_states(&rows(&original, 10)));

        // The planner itself takes the checked workouts in any order (and the stored rows too).
        let mut valid = prepared.valid.clone();
        let mut rejected = prepared.rejected.clone();
        valid.reverse();
        rejected.reverse();
        let turn = workout_order.first().copied().unwrap_or(0).min(valid.len());
        valid.rotate_left(turn);
        let stored = permuted(&case.stored, &stored_order);
        let replanned = plan_sync(&valid, rejected, &prepared.deletions, &stored);
        prop_assert_eq!(replanned, original);
    }

    /// (d) The fingerprint sees what the request asks the server to do and nothing else.
    #[test]
    fn fingerprints_ignore_noise_and_see_every_content_field(
        case in case().prop_filter("a workout object to change", |c| c.workouts.iter().any(Value::is_object)),
        noise in proptest::collection::vec(("[a-z0-9-]{1,36}", "[a-z_]{1,10}"), 1..10),
        key in "[A-Za-z0-9_.:-]{1,64}",
        key_in_header in any::<bool>(),
        client_sync_timestamp in proptest::option::of(select(vec![
            "2024-06-01T09:00:00Z", "2024-06-01T11:00:00.123+02:00", "2023-12-31T23:59:59-08:00",
        ])),
        which_workout in any::<Index>(),
        which_field in select(WORKOUT_FIELDS.to_vec()),
    ) {
        let limits = SyncLimits::default();
        let original = prepare(&case).fingerprint;

        // Unknown fields (the iOS client's random per-request `id`, and others), another key
        // sent another way, another client timestamp: the same request.
        let mut noisy = body_of(&case);
        for (n, w) in noisy.workouts.as_mut().unwrap().iter_mut().enumerate() {
            if let Some(object) = w.as_object_mut() {
                let (id, name) = &noise[n % noise.len()];
                object.insert("id".into(), json!(id));
                if !WORKOUT_FIELDS.contains(&name.as_str()) {
                    object.insert(name.clone(), json!({"nested": id}));
                }
            }
        }
        noisy.client_sync_timestamp = client_sync_timestamp.map(str::to_owned);
        let header = if key_in_header {
            noisy.idempotency_key = None;
            Some(key.as_str())
        } else {
            noisy.idempotency_key = Some(key.clone());
            None
        };
        let noisy = prepare_sync(noisy, header, &limits, now()).unwrap();
        prop_assert_eq!(&noisy.fingerprint, &original);

        // Any change to a field the server reads is a different request.
        let objects: Vec<usize> = (0..case.workouts.len()).filter(|&i| case.workouts[i].is_object()).collect();
        let target = objects[which_workout.index(objects.len())];
        let mut changed = case.clone();
        let object = changed.workouts[target].as_object_mut().unwrap();
        let new_value = match (which_field, object.get(which_field)) {
            ("client_id", _) => json!("zz-changed"),
            ("start_time" | "end_time", Some(Value::String(text))) => match parse_client_timestamp(text) {
                Some(t) => json!(stamp(t.utc + Duration::seconds(1), 0)),
                None => json!("2024-01-01T00:00:00Z"),
            },
            (_, Some(Value::Number(n))) => json!(n.as_f64().unwrap() + 1.0),
            (_, Some(Value::String(text))) => json!(format!("{text}x")),
            _ => json!(1),
        };
        object.insert(which_field.to_owned(), new_value);
        let changed = prepare(&changed).fingerprint;
        prop_assert_ne!(changed, original, "changing {} of workout {}", which_field, target);
    }

    /// (e) Cursors read back what they were made from.
    #[test]
    fn change_cursors_round_trip(after_seq in 0i64..=i64::MAX) {
        let cursor = ChangeCursor { after_seq };
        let text = cursor.encode();
        prop_assert_eq!(ChangeCursor::decode(&text), Ok(cursor));
        prop_assert!(ListCursor::decode(&text).is_err());
        prop_assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "URL-safe: {}", text);
    }

    /// Every position the server can store (years 0000–9999) round-trips.
    #[test]
    fn list_cursors_round_trip(
        millis in Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap().timestamp_millis()
            ..=Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap().timestamp_millis(),
        id in any::<u128>(),
    ) {
        let cursor = ListCursor {
            start_time: Utc.timestamp_millis_opt(millis).unwrap(),
            id: Uuid::from_u128(id),
        };
        let text = cursor.encode();
        prop_assert_eq!(ListCursor::decode(&text), Ok(cursor));
        prop_assert!(ChangeCursor::decode(&text).is_err());
        prop_assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "URL-safe: {}", text);
    }

    /// A well-formed list cursor outside the years the server stores was not made by it: refused
    /// (comparing with it would make PostgreSQL fail).
    #[test]
    fn list_cursors_outside_the_stored_years_are_refused(
        millis in prop_oneof![
            DateTime::<Utc>::MIN_UTC.timestamp_millis()..Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap().timestamp_millis(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap().timestamp_millis()..=DateTime::<Utc>::MAX_UTC.timestamp_millis(),
        ],
        id in any::<u128>(),
    ) {
        let cursor = ListCursor { start_time: Utc.timestamp_millis_opt(millis).unwrap(), id: Uuid::from_u128(id) };
        prop_assert!(ListCursor::decode(&cursor.encode()).is_err());
    }

    /// (e) Whatever string a client sends as a cursor, decoding answers without panicking, and
    /// what it accepts is a cursor the server could have made.
    #[test]
    fn decoding_any_string_never_panics(text in prop_oneof![
        any::<String>(),
        "[A-Za-z0-9_=+/-]{0,80}",
    ]) {
        check_cursor_decoding(&text)?;
    }

    /// Strings shaped like cursors, some with the wrong tag: only a cursor's own tag is read.
    #[test]
    fn decoding_cursor_shaped_strings(
        tag in select(vec!["c1:", "l1:", "c1", "l2:", "x1:", "C1:", ""]),
        body in prop_oneof![
            ".{0,60}",
            any::<i64>().prop_map(|n| n.to_string()),
            (any::<i64>(), any::<u128>()).prop_map(|(n, id)| format!("{n}:{}", Uuid::from_u128(id))),
        ],
    ) {
        use base64::Engine;
        let plain = format!("{tag}{body}");
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&plain);
        check_cursor_decoding(&text)?;
        if !plain.starts_with("c1:") {
            prop_assert!(ChangeCursor::decode(&text).is_err(), "{}", plain);
        }
        if !plain.starts_with("l1:") {
            prop_assert!(ListCursor::decode(&text).is_err(), "{}", plain);
        }
    }

    /// The pace the server keeps is a finite, non-negative number: derived from duration and
    /// distance when there is a distance, the client's own (to the hundredth) otherwise.
    #[test]
    fn the_kept_pace_is_finite_whatever_the_numbers(
        duration in prop_oneof![Just(0i64), 1i64..100_000],
        distance in prop_oneof![
            Just(0.0),
            proptest::num::f64::POSITIVE | proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL,
            tenths(1_000_000),
        ],
        client_pace in prop_oneof![
            proptest::num::f64::POSITIVE | proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL,
            Just(f64::MAX),
            (0u32..100_000).prop_map(|p| f64::from(p) / 100.0),
        ],
    ) {
        let start = utc("2024-01-15T08:00:00Z");
        let w = incoming("p")
            .start(&stamp(start, 0))
            .end(&stamp(start + Duration::seconds(duration + 1), 0))
            .duration(duration)
            .distance(distance)
            .pace(client_pace)
            .valid();
        let pace = w.content.avg_pace_seconds_per_km;
        if let Some(p) = pace {
            prop_assert!(p.is_finite() && p >= 0.0, "pace {}", p);
        }
        if distance > 0.0 {
            let exact = duration as f64 / (distance / 1000.0);
            if exact.is_finite() {
                let p = pace.unwrap();
                prop_assert!((p - exact).abs() <= 0.005 + exact * 1e-12, "{} vs {}", p, exact);
            } else {
                prop_assert_eq!(pace, None);
            }
        } else {
            let p = pace.unwrap();
            prop_assert!((p - client_pace).abs() <= 0.005 + client_pace * 1e-12, "{} vs {}", p, client_pace);
        }
    }

    /// (f) Validation answers every JSON value, and what it accepts obeys the contract's rules.
    #[test]
    fn validation_never_panics_on_arbitrary_json(raw in any_json(), index in 0usize..2000) {
        check_validation(index, &raw)?;
    }

    #[test]
    fn validation_never_panics_on_nearly_valid_workouts(
        spec in spec(),
        replacements in proptest::collection::vec((select(WORKOUT_FIELDS.to_vec()), odd_value()), 1..4),
        index in 0usize..2000,
    ) {
        let mut raw = spec.to_json("hk-1");
        for (field, value) in replacements {
            raw[field] = value;
        }
        check_validation(index, &raw)?;
    }
}

/// Decoding answers without panicking, and what it accepts is a cursor the server could make.
fn check_cursor_decoding(text: &str) -> Result<(), TestCaseError> {
    if let Ok(c) = ChangeCursor::decode(text) {
        prop_assert!(c.after_seq >= 0);
        prop_assert_eq!(ChangeCursor::decode(&c.encode()), Ok(c));
    }
    if let Ok(c) = ListCursor::decode(text) {
        prop_assert_eq!(ListCursor::decode(&c.encode()), Ok(c));
    }
    Ok(())
}

/// Values that sit on or beyond the edges of what validation accepts.
fn odd_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        select(vec![
            json!(0),
            json!(-0.0),
            json!(-1),
            json!(0.5),
            json!(19.99),
            json!(20),
            json!(250),
            json!(250.4),
            json!(250.6),
            json!(1e15),
            json!(1e300),
            json!(1e308),
            json!(f64::MAX),
            json!(f64::MIN_POSITIVE),
            json!(5e-324),
            json!(i64::MIN),
            json!(i64::MAX),
            json!(u64::MAX),
            json!(null),
            json!(true),
            json!([]),
            json!({}),
            json!(""),
            json!("5000"),
            json!("x".repeat(300)),
            json!("a\u{0}b"),
            json!("2024-01-15T08:00:00Z"),
            json!("2024-01-15T08:00:00.999999999+14:00"),
            json!("9999-12-31T23:59:59-23:59"),
            json!("0000-01-01T00:00:00+23:59"),
            json!("2016-12-31T23:59:60Z"),
            json!("2024-02-30T00:00:00Z"),
            json!("2099-01-01T00:00:00Z"),
        ]),
        any::<f64>().prop_filter_map("a JSON number", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        any::<i64>().prop_map(Value::from),
        ".{0,70}".prop_map(Value::from),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    let name = prop_oneof![
        3 => select(WORKOUT_FIELDS.to_vec()).prop_map(str::to_owned),
        1 => "[a-z_]{1,12}",
    ];
    odd_value().prop_recursive(3, 32, 12, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(name.clone(), inner, 0..12)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn check_validation(index: usize, raw: &Value) -> Result<(), TestCaseError> {
    match validate_workout(index, raw, now()) {
        Err(rejected) => {
            prop_assert_eq!(rejected.index, index);
            prop_assert!(!rejected.errors.is_empty(), "a rejection says why");
            prop_assert_eq!(
                rejected.client_id.as_deref(),
                raw.get("client_id").and_then(Value::as_str)
            );
        }
        Ok(w) => {
            let c = &w.content;
            prop_assert_eq!(w.index, index);
            prop_assert!(raw.is_object());
            let chars = w.client_id.chars().count();
            prop_assert!((1..=MAX_CLIENT_ID_CHARS).contains(&chars));
            prop_assert!(!w.client_id.chars().any(char::is_control));
            prop_assert!(c.end_time > c.start_time);
            prop_assert!(c.start_time <= now() + Duration::days(1));
            prop_assert!(c.duration_seconds >= 0);
            let span_ms = (c.end_time - c.start_time).num_milliseconds();
            prop_assert!(
                c.duration_seconds.saturating_mul(1000) <= span_ms + 1000,
                "duration within the span"
            );
            for number in [
                Some(c.distance_meters),
                c.energy_burned_kcal,
                c.avg_pace_seconds_per_km,
            ]
            .into_iter()
            .flatten()
            {
                prop_assert!(
                    number.is_finite() && number >= 0.0,
                    "stored number {}",
                    number
                );
            }
            for bpm in [c.avg_heart_rate, c.max_heart_rate].into_iter().flatten() {
                prop_assert!((20..=250).contains(&bpm));
            }
            prop_assert!((1..=MAX_SOURCE_CHARS).contains(&c.source.chars().count()));
            prop_assert!(w.client_version.unwrap_or(0) >= 0);
            prop_assert_eq!(
                c.start_time.timestamp_subsec_nanos() % 1_000_000,
                0,
                "millisecond precision"
            );
            prop_assert_eq!(
                c.end_time.timestamp_subsec_nanos() % 1_000_000,
                0,
                "millisecond precision"
            );

            // Served, every number stays a number (serde_json writes a non-finite one as null).
            let stored = StoredWorkoutBuilder::from_valid(&w).build();
            let view = serde_json::to_value(WorkoutView::from(&stored)).unwrap();
            prop_assert!(view["distance_meters"].is_number());
            prop_assert_eq!(
                view["avg_pace_seconds_per_km"].is_number(),
                c.avg_pace_seconds_per_km.is_some()
            );
            prop_assert_eq!(
                view["energy_burned_kcal"].is_number(),
                c.energy_burned_kcal.is_some()
            );
            let start = view["start_time"].as_str().unwrap();
            prop_assert_eq!(start, format_workout_time(c.start_time));
            prop_assert_eq!(
                start.contains('.'),
                c.start_time.timestamp_subsec_millis() != 0,
                "{}",
                start
            );
            // A time sent without a fraction is echoed without one, and reads back the same.
            let sent = raw["start_time"].as_str().unwrap();
            prop_assert!(
                sent.contains('.') || !start.contains('.'),
                "sent {}, served {}",
                sent,
                start
            );
            prop_assert_eq!(
                parse_client_timestamp(start).map(|t| t.utc),
                Some(c.start_time)
            );
            let end = view["end_time"].as_str().unwrap();
            prop_assert_eq!(
                parse_client_timestamp(end).map(|t| t.utc),
                Some(c.end_time),
                "{}",
                end
            );
            prop_assert!(start.ends_with('Z') && end.ends_with('Z'));

            // Validation is a function of the value: the same JSON validates the same again.
            prop_assert_eq!(validate_workout(index, raw, now()), Ok(w));
        }
    }
    Ok(())
}

#[test]
fn a_huge_client_pace_is_kept_finite() {
    // Without a distance the client's pace is kept, rounded to hundredths; rounding a value
    // this large must not turn it into infinity (served as `null`, stored as `inf`).
    let w = incoming("treadmill").distance(0.0).pace(1e308).valid();
    assert_eq!(w.content.avg_pace_seconds_per_km, Some(1e308));
}
