//! The seed's recovery table, each rule demonstrated through a fault-injecting proxy in front
//! of the real server: offline → queued and reported, drained exactly once later (with the
//! persisted idempotency key when a response was lost); 500 → backoff and retry; 429 →
//! `Retry-After`; 401 → refresh once and retry, a second 401 → log in again.

use std::time::Duration;

use sync_client::{ClientError, SyncMode, SyncPhase};

use crate::helpers::*;

/// A logged-in client behind a proxy, with `n` imported runs.
async fn setup(
    overrides: &[(&str, &str)],
    n: usize,
) -> (
    TestApp,
    FaultProxy,
    tempfile::TempDir,
    sync_client::SyncClient,
    sync_client::RecordingSleeper,
    TestUser,
) {
    let server = TestApp::spawn_with(overrides).await;
    let user = server.register().await;
    let proxy = FaultProxy::start(&server.address).await;
    let dir = tempfile::tempdir().unwrap();
    let (client, sleeper) = client_at(dir.path(), &proxy.address, 1000);
    client.login(&user.email, PASSWORD).await.unwrap();
    assert_eq!(import(&client, dir.path(), &runs_xml(n)).inserted, n);
    (server, proxy, dir, client, sleeper, user)
}

fn assert_all_queued(client: &sync_client::SyncClient, n: usize) {
    let workouts = client.cache().workouts().unwrap();
    assert_eq!(workouts.len(), n);
    assert!(workouts.iter().all(|w| w.needs_sync), "{workouts:?}");
}

fn assert_none_queued(client: &sync_client::SyncClient) {
    let workouts = client.cache().workouts().unwrap();
    assert!(workouts.iter().all(|w| !w.needs_sync), "{workouts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_leaves_everything_queued_and_the_queue_drains_exactly_once_later() {
    let (server, proxy, _dir, client, sleeper, user) = setup(&[], 5).await;
    proxy.refuse().await;

    let error = client.sync(SyncMode::Incremental).await.unwrap_err();
    assert!(matches!(error, ClientError::Offline { .. }), "{error:?}");
    assert_eq!(error.kind(), sync_client::ErrorKind::Offline);
    match client.current_status() {
        SyncPhase::Error { message } => assert!(message.starts_with("offline"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert_all_queued(&client, 5);
    assert!(
        sleeper.delays().is_empty(),
        "a refused connection is not retried"
    );
    // The batch was persisted with its key before the attempt.
    let pending = client.cache().pending_batches().unwrap();
    assert_eq!(pending.len(), 1);
    // A second attempt while still offline changes nothing.
    assert!(client.sync(SyncMode::Incremental).await.is_err());
    assert_eq!(client.cache().pending_batches().unwrap(), pending);

    proxy.restore().await;
    let report = client.sync(SyncMode::Incremental).await.unwrap();
    assert_eq!((report.created, report.batches), (5, 1), "{report:?}");
    let syncs = proxy.syncs();
    assert_eq!(syncs.len(), 1, "{syncs:?}");
    assert_eq!(
        syncs[0].idempotency_key.as_deref(),
        Some(pending[0].key.as_str())
    );
    assert!(client.cache().pending_batches().unwrap().is_empty());
    assert_none_queued(&client);

    // Drained exactly once: the server holds five, and another sync sends nothing.
    assert_eq!(
        total_workouts(&server, &server.new_session(&user).await).await,
        5
    );
    let again = client.sync(SyncMode::Incremental).await.unwrap();
    assert_eq!(again.batches, 0);
    assert_eq!(proxy.syncs().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_response_is_retried_with_the_same_key_and_replayed_not_applied_twice() {
    let (server, proxy, _dir, client, sleeper, user) = setup(&[], 4).await;
    proxy.fault("/workouts/sync", Fault::DropResponse { then_refuse: false });

    let report = client.sync(SyncMode::Incremental).await.unwrap();
    let syncs = proxy.syncs();
    assert_eq!(syncs.len(), 2, "{syncs:?}");
    assert_eq!(syncs[0].idempotency_key, syncs[1].idempotency_key);
    assert!(syncs[0].idempotency_key.is_some());
    assert_eq!(syncs[0].status, 0, "the first response was lost");
    assert!(syncs[1].replayed, "the retry got the stored response");
    assert_eq!(sleeper.delays().len(), 1, "one backoff before the retry");
    assert_eq!((report.created, report.replayed_batches), (4, 1));
    assert_eq!(
        total_workouts(&server, &server.new_session(&user).await).await,
        4
    );
    assert_none_queued(&client);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_response_was_lost_before_a_crash_is_resent_with_its_persisted_key() {
    let (server, proxy, dir, client, _sleeper, user) = setup(&[], 3).await;
    proxy.fault("/workouts/sync", Fault::DropResponse { then_refuse: true });

    // The server applies the batch, the answer is lost, and the server is unreachable after.
    let error = client.sync(SyncMode::Incremental).await.unwrap_err();
    assert!(matches!(error, ClientError::Offline { .. }), "{error:?}");
    assert_all_queued(&client, 3);
    let pending = client.cache().pending_batches().unwrap();
    assert_eq!(pending.len(), 1);
    let key = pending[0].key.clone();
    assert_eq!(
        proxy.syncs()[0].idempotency_key.as_deref(),
        Some(key.as_str())
    );
    let dashboard = server.new_session(&user).await;
    assert_eq!(
        total_workouts(&server, &dashboard).await,
        3,
        "the first attempt was applied"
    );

    // The program is restarted (a new client on the same cache file); the server is back.
    drop(client);
    proxy.restore().await;
    let (client, _) = client_at(dir.path(), &proxy.address, 1000);
    let report = client.sync(SyncMode::Incremental).await.unwrap();
    let syncs = proxy.syncs();
    assert_eq!(syncs.len(), 2, "{syncs:?}");
    assert_eq!(syncs[1].idempotency_key.as_deref(), Some(key.as_str()));
    assert!(syncs[1].replayed);
    assert_eq!((report.created, report.replayed_batches), (3, 1));
    assert_eq!(total_workouts(&server, &dashboard).await, 3, "applied once");
    assert_none_queued(&client);
    assert!(client.cache().pending_batches().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_500s_then_success_recover_with_two_backoff_waits() {
    let (_server, proxy, _dir, client, sleeper, _user) = setup(&[], 2).await;
    proxy.fault("/workouts/sync", Fault::Status(500, None));
    proxy.fault("/workouts/sync", Fault::Status(500, None));

    let report = client.sync(SyncMode::Incremental).await.unwrap();
    assert_eq!(report.created, 2);
    let delays = sleeper.delays();
    assert_eq!(delays.len(), 2, "{delays:?}");
    // Exponential backoff with jitter: 50–100 ms, then 100–200 ms (base 100 ms).
    assert!(
        delays[0] >= Duration::from_millis(50) && delays[0] <= Duration::from_millis(100),
        "{delays:?}"
    );
    assert!(
        delays[1] >= Duration::from_millis(100) && delays[1] <= Duration::from_millis(200),
        "{delays:?}"
    );
    let syncs = proxy.syncs();
    assert_eq!(
        syncs.iter().map(|s| s.status).collect::<Vec<_>>(),
        vec![500, 500, 200]
    );
    assert!(syncs
        .iter()
        .all(|s| s.idempotency_key == syncs[0].idempotency_key));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_keeps_failing_is_given_up_on_and_the_batch_waits_for_next_time() {
    let (_server, proxy, _dir, client, sleeper, _user) = setup(&[], 2).await;
    for _ in 0..4 {
        proxy.fault("/workouts/sync", Fault::Status(503, None));
    }
    let error = client.sync(SyncMode::Incremental).await.unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Server {
                status: 503,
                attempts: 4,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(sleeper.delays().len(), 3, "max_retries = 3");
    assert_all_queued(&client, 2);
    let key = client.cache().pending_batches().unwrap()[0].key.clone();

    let report = client.sync(SyncMode::Incremental).await.unwrap();
    assert_eq!(report.created, 2);
    assert_eq!(
        proxy.syncs().last().unwrap().idempotency_key.as_deref(),
        Some(key.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_waits_for_retry_after_else_backs_off() {
    let (_server, proxy, dir, client, sleeper, _user) = setup(&[], 2).await;
    proxy.fault("/workouts/sync", Fault::Status(429, Some(1)));
    let report = client.sync(SyncMode::Incremental).await.unwrap();
    assert_eq!(report.created, 2);
    assert_eq!(sleeper.delays(), vec![Duration::from_secs(1)]);

    // Without Retry-After: exponential backoff with jitter.
    sleeper.clear();
    import(&client, dir.path(), &runs_xml(3));
    proxy.fault("/workouts/sync", Fault::Status(429, None));
    let report = client.sync(SyncMode::Incremental).await.unwrap();
    assert_eq!(report.created, 1);
    let delays = sleeper.delays();
    assert_eq!(delays.len(), 1);
    assert!(delays[0] >= Duration::from_millis(50) && delays[0] <= Duration::from_millis(100));

    // A Retry-After longer than the client will wait is reported, not slept through.
    import(&client, dir.path(), &runs_xml(4));
    proxy.fault("/workouts/sync", Fault::Status(429, Some(3600)));
    let error = client.sync(SyncMode::Incremental).await.unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::RateLimited {
                retry_after: Some(3600)
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.kind(), sync_client::ErrorKind::ServerTrouble);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_access_token_is_refreshed_once_and_the_sync_retried() {
    let (_server, proxy, _dir, client, sleeper, _user) = setup(&[], 2).await;
    let session = client.cache().saved_login().unwrap().unwrap();
    client
        .cache()
        .save_tokens("garbage.access.token", &session.refresh_token)
        .unwrap();

    let report = client.sync(SyncMode::Incremental).await.unwrap();
    assert_eq!(report.created, 2);
    let calls: Vec<String> = proxy
        .seen()
        .into_iter()
        .filter(|s| !s.path.contains("/auth/login"))
        .map(|s| format!("{} {} {}", s.method, s.path, s.status))
        .collect();
    assert_eq!(
        calls,
        [
            "POST /api/v1/workouts/sync 401",
            "POST /api/v1/auth/refresh 200",
            "POST /api/v1/workouts/sync 200",
        ]
    );
    assert!(sleeper.delays().is_empty());
    let rotated = client.cache().saved_login().unwrap().unwrap();
    assert_ne!(
        rotated.refresh_token, session.refresh_token,
        "the pair was rotated"
    );
    assert_ne!(rotated.access_token, "garbage.access.token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_access_token_is_refreshed_once_and_the_sync_retried() {
    // Tokens live one second (the server allows five seconds of clock leeway).
    let (_server, proxy, _dir, client, _sleeper, _user) =
        setup(&[("ACCESS_TOKEN_TTL_SECS", "1")], 2).await;
    tokio::time::sleep(Duration::from_millis(7_200)).await;
    let report = client.sync(SyncMode::Incremental).await.unwrap();
    assert_eq!(report.created, 2);
    let refreshes = proxy
        .seen()
        .into_iter()
        .filter(|s| s.path == "/api/v1/auth/refresh")
        .count();
    assert_eq!(refreshes, 1);
    assert_eq!(proxy.syncs()[0].status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_401_after_refreshing_asks_to_log_in_again() {
    let (_server, proxy, _dir, client, _sleeper, _user) = setup(&[], 2).await;
    proxy.fault("/workouts/sync", Fault::Status(401, None));
    proxy.fault("/workouts/sync", Fault::Status(401, None));

    let error = client.sync(SyncMode::Incremental).await.unwrap_err();
    assert!(matches!(error, ClientError::SessionExpired), "{error:?}");
    match client.current_status() {
        SyncPhase::Error { message } => assert!(message.contains("log in again"), "{message}"),
        other => panic!("{other:?}"),
    }
    let refreshes = proxy
        .seen()
        .into_iter()
        .filter(|s| s.path == "/api/v1/auth/refresh")
        .count();
    assert_eq!(refreshes, 1, "refreshed once, not in a loop");
    assert_all_queued(&client, 2);

    // A refresh token the server refuses (revoked, expired) also means: log in again.
    client.cache().save_tokens("garbage", "garbage").unwrap();
    let error = client.sync(SyncMode::Incremental).await.unwrap_err();
    assert!(matches!(error, ClientError::SessionExpired), "{error:?}");
    assert_eq!(error.kind(), sync_client::ErrorKind::Auth);
    assert_all_queued(&client, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_refused_as_a_whole_is_released_not_resent_forever() {
    // The server takes at most 2 workouts per request; this client was told 1000.
    let (_server, _proxy, _dir, client, _sleeper, _user) =
        setup(&[("MAX_BATCH_SIZE", "2")], 3).await;
    let error = client.sync(SyncMode::Incremental).await.unwrap_err();
    assert!(
        matches!(error, ClientError::Refused { status: 413, .. }),
        "{error:?}"
    );
    assert!(client.cache().pending_batches().unwrap().is_empty());
    assert_all_queued(&client, 3);
}
