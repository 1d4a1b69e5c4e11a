//! `rdsync export FILE` and `rdsync delete-account`, against the real server.

use serde_json::json;
use sync_core::wire::{ExportBody, EXPORT_CSV_HEADER};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_the_whole_download_to_a_file_in_either_format() {
    let server = TestApp::spawn().await;
    let user = server.register().await;
    let batch: Vec<serde_json::Value> = test_support::workouts("exp", 5);
    server.sync_ok(&user, &json!({ "workouts": batch })).await;
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_path(dir.path());
    let env = [
        ("RDSYNC_SERVER", server.address.as_str()),
        ("RDSYNC_PASSWORD", PASSWORD),
    ];
    let login = rdsync(&cache, &["login", "--email", &user.email], &env).await;
    assert_eq!(login.status.code(), Some(0), "{}", stderr(&login));

    let json_file = dir.path().join("everything.json");
    let output = rdsync(&cache, &["export", &json_file.to_string_lossy()], &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout_lines(&output)[0].starts_with(&format!("exported {} (json, ", json_file.display()))
    );
    let export: ExportBody = serde_json::from_slice(&std::fs::read(&json_file).unwrap()).unwrap();
    assert_eq!(export.workouts.len(), 5);
    assert_eq!(export.user.email, user.email);
    assert_eq!(export.syncs.len(), 1);
    assert!(
        !dir.path().join("everything.json.partial").exists(),
        "the partial file is renamed"
    );

    // The format follows the extension, or --format.
    let csv_file = dir.path().join("runs.csv");
    let output = rdsync(&cache, &["export", &csv_file.to_string_lossy()], &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let csv = std::fs::read_to_string(&csv_file).unwrap();
    assert_eq!(csv.lines().next(), Some(EXPORT_CSV_HEADER));
    assert_eq!(csv.lines().count(), 6);
    let forced = dir.path().join("runs.txt");
    let output = rdsync(
        &cache,
        &["export", &forced.to_string_lossy(), "--format", "csv"],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(std::fs::read_to_string(&forced)
        .unwrap()
        .starts_with(EXPORT_CSV_HEADER));
    let bad = rdsync(&cache, &["export", "x", "--format", "xml"], &[]).await;
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));

    // The server unreachable: exit 3, and no file is left behind.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let offline_file = dir.path().join("offline.json");
    let offline = rdsync(
        &cache,
        &["export", &offline_file.to_string_lossy(), "--server", &dead],
        &[],
    )
    .await;
    assert_eq!(offline.status.code(), Some(3), "{}", stderr(&offline));
    assert!(!offline_file.exists() && !dir.path().join("offline.json.partial").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_account_asks_first_and_then_erases_the_account() {
    let server = TestApp::spawn().await;
    let user = server.register().await;
    server
        .sync_ok(
            &user,
            &json!({ "workouts": test_support::workouts("del", 2) }),
        )
        .await;
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_path(dir.path());
    let env = [
        ("RDSYNC_SERVER", server.address.as_str()),
        ("RDSYNC_PASSWORD", PASSWORD),
    ];
    let login = rdsync(&cache, &["login", "--email", &user.email], &env).await;
    assert_eq!(login.status.code(), Some(0), "{}", stderr(&login));

    // Not confirmed (another email typed, or nothing): nothing is deleted.
    for answer in ["someone-else@example.com\n", ""] {
        let refused = rdsync_with_input(&cache, &["delete-account"], &env, answer).await;
        assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
        assert!(
            stderr(&refused).contains("nothing was deleted"),
            "{}",
            stderr(&refused)
        );
    }
    assert_eq!(server.status_counts(&user).await.0, 2);

    // Confirmed with a wrong password: refused, nothing deleted, still logged in.
    let confirmation = format!("{}\n", user.email);
    let wrong = [
        ("RDSYNC_SERVER", server.address.as_str()),
        ("RDSYNC_PASSWORD", "not the password"),
    ];
    let refused = rdsync_with_input(&cache, &["delete-account"], &wrong, &confirmation).await;
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("password is wrong"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(server.status_counts(&user).await.0, 2);

    // Confirmed on stdin, the password typed on the next line.
    let answers = format!("{}\n{PASSWORD}\n", user.email);
    let server_only = [("RDSYNC_SERVER", server.address.as_str())];
    let deleted = rdsync_with_input(&cache, &["delete-account"], &server_only, &answers).await;
    assert_eq!(deleted.status.code(), Some(0), "{}", stderr(&deleted));
    assert_eq!(
        stdout_lines(&deleted)[0],
        format!(
            "deleted the account {} and everything it held on {}",
            user.email, server.address
        )
    );
    let login = server.login(&user.email, PASSWORD).await;
    assert_eq!(
        login.status(),
        reqwest::StatusCode::UNAUTHORIZED,
        "the account is gone"
    );
    let status = rdsync(&cache, &["status"], &[]).await;
    assert!(stdout_lines(&status).contains(&"account: not logged in".to_owned()));
    let after = rdsync(
        &cache,
        &["export", &dir.path().join("x.json").to_string_lossy()],
        &[],
    )
    .await;
    assert_eq!(after.status.code(), Some(4), "{}", stderr(&after));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_account_with_yes_asks_nothing() {
    let server = TestApp::spawn().await;
    let user = server.register().await;
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_path(dir.path());
    let env = [
        ("RDSYNC_SERVER", server.address.as_str()),
        ("RDSYNC_PASSWORD", PASSWORD),
    ];
    let login = rdsync(&cache, &["login", "--email", &user.email], &env).await;
    assert_eq!(login.status.code(), Some(0), "{}", stderr(&login));
    // stdin is empty: a question would go unanswered.
    let deleted = rdsync(&cache, &["delete-account", "--yes"], &env).await;
    assert_eq!(deleted.status.code(), Some(0), "{}", stderr(&deleted));
    let me = server.get(&user, "/auth/me", &[]).await;
    assert_eq!(me.status(), reqwest::StatusCode::UNAUTHORIZED);
}
