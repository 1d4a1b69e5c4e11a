//! Importing Apple Health exports: both distance forms, skipped types, malformed elements,
//! the zip, and re-imports that do not duplicate.

use sync_client::{import_path, Cache};

use crate::helpers::*;

fn by_source_and_start(cache: &Cache) -> Vec<(String, String, f64, Option<f64>, i64)> {
    let mut rows: Vec<_> = cache
        .workouts()
        .unwrap()
        .into_iter()
        .map(|w| {
            (
                w.content.source.clone(),
                sync_core::time::format_workout_time(w.content.start_time),
                w.content.distance_meters,
                w.content.energy_burned_kcal,
                w.content.duration_seconds,
            )
        })
        .collect();
    rows.sort_by(|a, b| a.1.cmp(&b.1));
    rows
}

#[test]
fn an_export_is_imported_with_both_forms_converted_and_problems_reported() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(&cache_path(dir.path()).to_string_lossy()).unwrap();
    let path = write_xml(dir.path(), &export_xml());
    let report = import_path(&path, &cache, |_| {}).unwrap();

    assert_eq!(report.running, RUNNING_IN_EXPORT, "{report:?}");
    assert_eq!(report.inserted, 3);
    assert_eq!(report.other_workouts, 2, "cycling and walking are skipped");
    assert_eq!(report.malformed, 2);
    assert_eq!(report.malformed_reasons.len(), 2);
    assert!(
        report.malformed_reasons[0].contains("duration \"abc\" is not a number"),
        "{report:?}"
    );
    assert!(
        report.malformed_reasons[1].contains("startDate \"last tuesday\""),
        "{report:?}"
    );
    assert_eq!(report.xml_error, None);
    assert_eq!(report.bytes_read, export_xml().len() as u64);

    let rows = by_source_and_start(&cache);
    assert_eq!(
        rows,
        vec![
            // The older attribute form: km and kcal; +01:00 normalised to UTC.
            (
                "Alex's Apple Watch".to_owned(),
                "2024-01-15T07:00:00Z".to_owned(),
                5100.0,
                Some(350.0),
                2100
            ),
            // The newer WorkoutStatistics form: miles and kilojoules.
            (
                "Alex's Apple Watch".to_owned(),
                "2024-01-16T12:00:00Z".to_owned(),
                4988.966,
                Some(286.807),
                1830
            ),
            (
                "Treadmill".to_owned(),
                "2024-01-20T18:00:00Z".to_owned(),
                10000.0,
                None,
                3000
            ),
        ]
    );
    let stats_form = cache
        .workouts()
        .unwrap()
        .into_iter()
        .find(|w| w.content.distance_meters == 4988.966)
        .unwrap();
    assert_eq!(stats_form.content.avg_heart_rate, Some(153));
    assert_eq!(stats_form.content.max_heart_rate, Some(174));
    assert_eq!(stats_form.start_offset_minutes, -300);
    assert!(cache.workouts().unwrap().iter().all(|w| w.needs_sync));

    // The same export again, now from the zip the Health app shares: nothing new.
    let zip = write_zip(dir.path(), &export_xml());
    let again = import_path(&zip, &cache, |_| {}).unwrap();
    assert_eq!((again.running, again.inserted, again.unchanged), (3, 0, 3));
    assert_eq!(cache.workouts().unwrap().len(), 3);
}

#[test]
fn a_zip_export_imports_into_a_fresh_cache_and_reports_progress() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(&cache_path(dir.path()).to_string_lossy()).unwrap();
    let zip = write_zip(dir.path(), &runs_xml(1200));
    let mut last = None;
    let report = import_path(&zip, &cache, |p| last = Some(p)).unwrap();
    assert_eq!((report.running, report.inserted), (1200, 1200));
    let last = last.expect("progress was reported");
    assert_eq!(Some(last.bytes_read), last.total_bytes);
    assert_eq!(cache.summary().unwrap().needs_sync, 1200);
}

#[test]
fn an_export_that_breaks_off_keeps_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(&cache_path(dir.path()).to_string_lossy()).unwrap();
    let mut xml = runs_xml(3);
    xml.truncate(xml.rfind("<Workout").unwrap() + 40); // cut inside the last element
    let report = import_path(&write_xml(dir.path(), &xml), &cache, |_| {}).unwrap();
    assert_eq!(report.running, 2);
    assert!(report.xml_error.is_some(), "{report:?}");

    let zip_without_export = dir.path().join("other.zip");
    {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_without_export).unwrap());
        zip.start_file("notes.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(b"hello").unwrap();
        zip.finish().unwrap();
    }
    let error = import_path(&zip_without_export, &cache, |_| {}).unwrap_err();
    assert!(error.to_string().contains("no export.xml"), "{error}");
    let missing = import_path(&dir.path().join("nope.xml"), &cache, |_| {}).unwrap_err();
    assert!(matches!(missing, sync_client::ImportError::Io { .. }));
}
