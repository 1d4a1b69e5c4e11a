//! The CPU cost of the rules per workout: validation, fingerprinting, and planning a batch of
//! 1, 100 and 1,000 workouts against a stored snapshot; and of the running-days numbers of a
//! ten-year daily runner, from the rows a store reads to the dashboard and insights bodies.
//! `cargo bench -p sync-core`.

use chrono::{DateTime, Duration, TimeZone, Utc};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::{json, Value};
use sync_core::request::fingerprint_request;
use sync_core::running::{dashboard, insights, Goal, RunFact, YearData};
use sync_core::{plan_sync, prepare_sync, validate_workout, SyncLimits, SyncMode, SyncRequestBody};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).unwrap()
}

/// A realistic workout: a 30–60 minute run on day `i`.
fn workout(i: usize, distance_bump: f64) -> Value {
    let start = Utc.with_ymd_and_hms(2023, 1, 1, 7, 0, 0).unwrap() + Duration::days(i as i64);
    let minutes = 30 + (i % 30) as i64;
    json!({
        "client_id": format!("healthkit-{i:08}"),
        "id": format!("random-{i}"),
        "start_time": start.to_rfc3339(),
        "end_time": (start + Duration::minutes(minutes)).to_rfc3339(),
        "duration_seconds": minutes * 60,
        "distance_meters": 5000.0 + i as f64 + distance_bump,
        "energy_burned_kcal": 350.5,
        "avg_heart_rate": 145,
        "max_heart_rate": 172,
        "source": "apple_watch"
    })
}

fn batch(n: usize, distance_bump: f64) -> Vec<Value> {
    (0..n).map(|i| workout(i, distance_bump)).collect()
}

fn validation(c: &mut Criterion) {
    let raw = workout(7, 0.0);
    c.bench_function("validate_workout", |b| {
        b.iter(|| validate_workout(0, black_box(&raw), now()))
    });
}

fn fingerprinting(c: &mut Criterion) {
    let mut group = c.benchmark_group("fingerprint_request");
    for n in [1usize, 100, 1000] {
        let workouts = batch(n, 0.0);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &workouts, |b, w| {
            b.iter(|| fingerprint_request(SyncMode::Incremental, black_box(w), &[]))
        });
    }
    group.finish();
}

/// Plans a batch against a snapshot holding every workout already: a third identical
/// (unchanged), a third changed without a version (conflict), a third new.
fn planning(c: &mut Criterion) {
    let mut group = c.benchmark_group("plan_sync");
    for n in [1usize, 100, 1000] {
        let stored_batch = batch(n * 2 / 3, 0.0);
        let stored = {
            let body = SyncRequestBody {
                workouts: Some(stored_batch),
                ..Default::default()
            };
            let request = prepare_sync(body, None, &SyncLimits { max_batch: 1000 }, now()).unwrap();
            plan_sync(&request.valid, vec![], &[], &[]).rows_to_write(
                0,
                now(),
                sync_core::running::Tz::UTC,
                uuid::Uuid::new_v4,
            )
        };
        let mut incoming = batch(n, 0.0);
        for w in incoming.iter_mut().skip(n / 3).take(n / 3) {
            w["distance_meters"] = json!(w["distance_meters"].as_f64().unwrap() + 1.0);
        }
        let body = SyncRequestBody {
            workouts: Some(incoming),
            ..Default::default()
        };
        let request = prepare_sync(body, None, &SyncLimits { max_batch: 1000 }, now()).unwrap();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(n),
            &(request, stored),
            |b, (r, s)| {
                b.iter(|| {
                    plan_sync(
                        black_box(&r.valid),
                        r.rejected.clone(),
                        &r.deletions,
                        black_box(s),
                    )
                })
            },
        );
    }
    group.finish();
}

/// The whole pure part of a sync request: envelope checks, validation, fingerprint.
fn preparing(c: &mut Criterion) {
    let mut group = c.benchmark_group("prepare_sync");
    for n in [1usize, 100, 1000] {
        let workouts = batch(n, 0.0);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &workouts, |b, w| {
            b.iter(|| {
                let body = SyncRequestBody {
                    workouts: Some(w.clone()),
                    ..Default::default()
                };
                prepare_sync(body, None, &SyncLimits { max_batch: 1000 }, now())
            })
        });
    }
    group.finish();
}

/// A runner who ran every day for ten years, seen on 2 December 2026: the year's 336 workouts,
/// then the streak's 3,650 days in the spans the rules ask for, then each body. What a stats
/// read costs the server beside its queries.
fn running_days(c: &mut Criterion) {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
    let first = chrono::NaiveDate::from_ymd_opt(2016, 12, 13).unwrap();
    let history: Vec<chrono::NaiveDate> = first.iter_days().take_while(|d| *d <= today).collect();
    let run = |i: usize, day: chrono::NaiveDate| RunFact {
        id: uuid::Uuid::from_u128(i as u128),
        start_time: Utc.from_utc_datetime(&day.and_hms_opt(6, 30, 0).unwrap()),
        date: day,
        distance_meters: 6000.0 + (i % 7) as f64 * 1000.0,
        duration_seconds: 2400,
    };
    let read = || {
        let spans = YearData::workout_spans(2026, today).unwrap();
        let runs = history
            .iter()
            .enumerate()
            .filter(|(_, d)| spans.iter().any(|s| s.contains(**d)))
            .map(|(i, d)| run(i, *d));
        let mut data = YearData::new(2026, today, runs).unwrap();
        data.fill_running_days(|span| {
            let days = history.iter().copied().filter(move |d| span.contains(*d));
            Ok::<_, std::convert::Infallible>(days)
        })
        .unwrap();
        data
    };
    let goal = Goal::default_for(2026, 300);
    let mut group = c.benchmark_group("running_days_ten_year_runner");
    group.bench_function("read", |b| b.iter(read));
    let data = read();
    group.bench_function("dashboard", |b| {
        b.iter(|| dashboard(black_box(&data), &goal, Vec::new()))
    });
    group.bench_function("insights", |b| b.iter(|| insights(black_box(&data), &goal)));
    group.finish();
}

criterion_group!(
    benches,
    validation,
    fingerprinting,
    planning,
    preparing,
    running_days
);
criterion_main!(benches);
