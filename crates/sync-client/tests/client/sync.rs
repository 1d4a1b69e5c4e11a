//! Sync against the real server: created, unchanged on a full re-sync, a server-side edit
//! winning over a local change, the change feed bringing other devices' workouts and
//! deletions, and the status stream.

use std::sync::{Arc, Mutex};

use serde_json::json;
use sync_client::cache::workout_from_json;
use sync_client::{SaveOutcome, SyncMode, SyncPhase};
use sync_core::ConflictReason;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_sync_resync_server_edit_and_pull() {
    let (server, user, dir, client) = server_and_client(&[], 2).await;
    client.login(&user.email, PASSWORD).await.unwrap();

    let report = import(&client, dir.path(), &export_xml());
    assert_eq!((report.running, report.malformed), (3, 2));

    // First sync: everything is new on the server, in two batches of at most two.
    let first = client.sync(SyncMode::Incremental).await.unwrap();
    assert_eq!(first.created, 3, "{first:?}");
    assert_eq!((first.batches, first.synced()), (2, 3));
    assert!(first.conflicts.is_empty() && first.rejected.is_empty());
    for w in client.cache().workouts().unwrap() {
        assert!(!w.needs_sync && w.synced_at.is_some(), "{w:?}");
    }
    let summary = client.cache().summary().unwrap();
    assert_eq!((summary.needs_sync, summary.pending_batches), (0, 0));
    assert!(summary.last_sync_at.is_some());
    let dashboard = server.new_session(&user).await;
    assert_eq!(total_workouts(&server, &dashboard).await, 3);

    // A full re-sync sends everything again: all unchanged. An incremental one sends nothing.
    let full = client.sync(SyncMode::Full).await.unwrap();
    assert_eq!(
        (full.created, full.unchanged, full.updated),
        (0, 3, 0),
        "{full:?}"
    );
    let nothing = client.sync(SyncMode::Incremental).await.unwrap();
    assert_eq!((nothing.batches, nothing.synced()), (0, 0));

    // The dashboard corrects a distance; meanwhile this device changes the same workout
    // (without a client_version): the server's version wins and replaces the local copy.
    let treadmill = client
        .cache()
        .workouts()
        .unwrap()
        .into_iter()
        .find(|w| w.content.source == "Treadmill")
        .unwrap();
    let server_id = server.id_of(&dashboard, &treadmill.client_id).await;
    let edited = server
        .patch_ok(&dashboard, &server_id, &json!({"distance_meters": 10500.0}))
        .await;
    assert_eq!(edited["revision"], 2);
    let local_change = workout_from_json(&json!({
        "client_id": treadmill.client_id, "start_time": "2024-01-20T18:00:00Z",
        "end_time": "2024-01-20T18:52:00Z", "duration_seconds": 3000,
        "distance_meters": 9900.0, "source": "Treadmill"
    }))
    .unwrap();
    assert_eq!(
        client.cache().save(&local_change).unwrap(),
        SaveOutcome::Changed
    );
    assert!(cached(&client, &treadmill.client_id).needs_sync);

    let conflicted = client.sync(SyncMode::Incremental).await.unwrap();
    assert_eq!(conflicted.conflicts.len(), 1, "{conflicted:?}");
    let conflict = &conflicted.conflicts[0];
    assert_eq!(conflict.reason, ConflictReason::DataMismatch);
    assert_eq!(conflict.fields, vec!["distance_meters"]);
    let local = cached(&client, &treadmill.client_id);
    assert_eq!(
        local.content.distance_meters, 10500.0,
        "the server's copy won"
    );
    assert_eq!(local.revision, Some(2));
    assert_eq!(
        local.server_id.map(|id| id.to_string()),
        Some(server_id.clone())
    );
    assert!(!local.needs_sync);

    // Another device syncs a new workout; the dashboard deletes one of the imported runs.
    let other = server
        .sync_ok(
            &dashboard,
            &json!({"workouts": [{
                "client_id": "garmin-42", "start_time": "2024-01-25T06:00:00Z",
                "end_time": "2024-01-25T06:40:00Z", "duration_seconds": 2400,
                "distance_meters": 8000, "source": "garmin"
            }]}),
        )
        .await;
    assert_eq!(other["created"], 1);
    let first_run = client
        .cache()
        .workouts()
        .unwrap()
        .into_iter()
        .find(|w| w.content.distance_meters == 5100.0)
        .unwrap();
    let first_run_id = server.id_of(&dashboard, &first_run.client_id).await;
    server.delete_ok(&dashboard, &first_run_id).await;

    let pulled = client.pull().await.unwrap();
    assert_eq!((pulled.added, pulled.deleted), (1, 1), "{pulled:?}");
    let garmin = cached(&client, "garmin-42");
    assert_eq!(garmin.content.distance_meters, 8000.0);
    assert!(!garmin.needs_sync && !garmin.deleted);
    let deleted = cached(&client, &first_run.client_id);
    assert!(deleted.deleted && !deleted.needs_sync);
    assert!(client.cache().change_cursor().unwrap().is_some());

    // Pulling again brings nothing; re-importing the export does not bring the deleted run
    // back, and nothing is queued by it except what it really changes.
    let again = client.pull().await.unwrap();
    assert_eq!(again.applied(), 0, "{again:?}");
    let reimport = import(&client, dir.path(), &export_xml());
    // The deleted run stays deleted; the treadmill run differs from what was last saved
    // locally (9900 m), so it is queued again; the other run is as imported before.
    assert_eq!(
        (
            reimport.inserted,
            reimport.changed,
            reimport.unchanged,
            reimport.kept_deleted
        ),
        (0, 1, 1, 1),
        "{reimport:?}"
    );
    assert_eq!(total_workouts(&server, &dashboard).await, 3);

    // A local deletion goes to the server as a deletion; the re-queued treadmill run meets
    // the server's copy again, and the server's copy wins again.
    assert!(client.cache().delete("garmin-42").unwrap());
    let deletion = client.sync(SyncMode::Incremental).await.unwrap();
    assert_eq!(deletion.deleted, 1, "{deletion:?}");
    assert_eq!(deletion.conflicts.len(), 1, "{deletion:?}");
    assert!(!cached(&client, "garmin-42").needs_sync);
    let local = cached(&client, &treadmill.client_id);
    assert_eq!(
        (local.content.distance_meters, local.needs_sync),
        (10500.0, false)
    );
    assert_eq!(total_workouts(&server, &dashboard).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_goes_idle_syncing_with_progress_then_success() {
    let (_server, user, dir, client) = server_and_client(&[], 1).await;
    let watch = client.status();
    assert_eq!(*watch.borrow(), SyncPhase::Idle);
    client.login(&user.email, PASSWORD).await.unwrap();
    import(&client, dir.path(), &runs_xml(4));

    let seen: Arc<Mutex<Vec<SyncPhase>>> = Arc::default();
    let record = seen.clone();
    client.on_status(move |s| record.lock().unwrap().push(s.clone()));
    let report = client.sync(SyncMode::Incremental).await.unwrap();
    assert_eq!(report.created, 4);

    let seen = seen.lock().unwrap().clone();
    let progress: Vec<f64> = seen
        .iter()
        .filter_map(|s| match s {
            SyncPhase::Syncing { progress } => Some(*progress),
            _ => None,
        })
        .collect();
    assert_eq!(progress, vec![0.0, 0.25, 0.5, 0.75, 1.0], "{seen:?}");
    assert_eq!(seen.last(), Some(&SyncPhase::Success { count: 4 }));
    assert_eq!(seen.len(), progress.len() + 1, "{seen:?}");
    assert_eq!(*watch.borrow(), SyncPhase::Success { count: 4 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_of_more_than_one_batch_and_a_fresh_device_pulling_everything() {
    let (server, user, dir, client) = server_and_client(&[("MAX_BATCH_SIZE", "50")], 50).await;
    client.login(&user.email, PASSWORD).await.unwrap();
    import(&client, dir.path(), &runs_xml(120));
    let report = client.sync(SyncMode::Full).await.unwrap();
    assert_eq!((report.created, report.batches), (120, 3));

    // A second device with an empty cache pulls them all, in pages of 25.
    let second = tempfile::tempdir().unwrap();
    let mut config = sync_client::ClientConfig::new(server.address.clone());
    config.changes_page = 25;
    let cache = sync_client::Cache::open(&cache_path(second.path()).to_string_lossy()).unwrap();
    let device = sync_client::SyncClient::new(cache, config).unwrap();
    device.login(&user.email, PASSWORD).await.unwrap();
    let pulled = device.pull().await.unwrap();
    assert_eq!((pulled.added, pulled.pages), (120, 5), "{pulled:?}");
    assert_eq!(device.cache().summary().unwrap().needs_sync, 0);
    // Nothing for it to send back.
    assert_eq!(device.sync(SyncMode::Incremental).await.unwrap().batches, 0);
}
