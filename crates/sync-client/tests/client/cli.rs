//! The `rdsync` program, run as a child process with output that is not a terminal.

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_and_status_print_plain_lines_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_path(dir.path());
    let export = write_xml(dir.path(), &export_xml());

    let output = rdsync(&cache, &["import", &export.to_string_lossy()], &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let lines = stdout_lines(&output);
    assert_eq!(
        lines[..3],
        [
            "imported 3 running workouts: 3 new, 0 changed, 0 unchanged",
            "skipped 2 workouts of other types",
            "skipped 2 malformed workout elements:",
        ]
    );
    assert!(
        lines[3].contains("duration \"abc\" is not a number"),
        "{lines:?}"
    );
    assert!(lines[4].contains("startDate \"last tuesday\""), "{lines:?}");
    assert_eq!(lines[5], "waiting to sync: 3");
    // Not a terminal: progress as plain lines, no bar.
    let err = stderr(&output);
    assert!(err.lines().any(|l| l == "import: 100%"), "{err}");
    assert!(!err.contains('\u{1b}'), "no terminal escapes: {err:?}");

    // The zip of the same export: nothing new.
    let zip = write_zip(dir.path(), &export_xml());
    let output = rdsync(&cache, &["import", &zip.to_string_lossy()], &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout_lines(&output)[0],
        "imported 3 running workouts: 0 new, 0 changed, 3 unchanged"
    );

    let output = rdsync(&cache, &["status"], &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout_lines(&output),
        [
            "server: http://127.0.0.1:8080",
            "account: not logged in",
            "workouts: 3",
            "deleted: 0",
            "waiting to sync: 3",
            "rejected by the server: 0",
            "unconfirmed batches: 0",
            "last sync: never",
        ]
    );

    // Errors a script can tell apart.
    let missing = rdsync(&cache, &["import", "/nonexistent/export.zip"], &[]).await;
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).starts_with("rdsync: cannot read"),
        "{}",
        stderr(&missing)
    );
    let usage = rdsync(&cache, &["import"], &[]).await;
    assert_eq!(usage.status.code(), Some(2));
    let usage = rdsync(&cache, &["frobnicate"], &[]).await;
    assert_eq!(usage.status.code(), Some(2));
    let not_logged_in = rdsync(&cache, &["sync"], &[]).await;
    assert_eq!(
        not_logged_in.status.code(),
        Some(4),
        "{}",
        stderr(&not_logged_in)
    );
    assert!(stderr(&not_logged_in).contains("log in"));

    // An export that breaks off: what came before is kept, and the exit code says partial.
    let mut broken = runs_xml(2);
    broken.truncate(broken.rfind("<Workout").unwrap() + 30);
    let broken = write_xml(dir.path(), &broken);
    let output = rdsync(&cache, &["import", &broken.to_string_lossy()], &[]).await;
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_import_sync_the_three_commands_then_offline() {
    let server = TestApp::spawn().await;
    let user = server.register().await;
    let email = user.email.as_str();
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_path(dir.path());
    let zip = write_zip(dir.path(), &export_xml());
    let server_env = [("RDSYNC_SERVER", server.address.as_str())];

    let login = rdsync(
        &cache,
        &["login", "--email", email],
        &[
            ("RDSYNC_SERVER", &server.address),
            ("RDSYNC_PASSWORD", PASSWORD),
        ],
    )
    .await;
    assert_eq!(login.status.code(), Some(0), "{}", stderr(&login));
    assert_eq!(
        stdout_lines(&login),
        [format!("logged in as {email} at {}", server.address)]
    );
    let tokens = server.new_session(&user).await; // (for counting on the server below)

    let import = rdsync(&cache, &["import", &zip.to_string_lossy()], &[]).await;
    assert_eq!(import.status.code(), Some(0), "{}", stderr(&import));

    // No --server: the server logged in to is remembered.
    let sync = rdsync(&cache, &["sync"], &[]).await;
    assert_eq!(sync.status.code(), Some(0), "{}", stderr(&sync));
    let lines = stdout_lines(&sync);
    assert_eq!(
        lines[0],
        "synced 3 workouts: 3 created, 0 updated, 0 unchanged, 0 deleted, 0 conflicts"
    );
    assert_eq!(
        lines.last().unwrap(),
        "pulled 0 changes: 0 new, 0 updated, 0 deleted"
    );
    assert!(
        stderr(&sync).lines().any(|l| l == "sync: 100%"),
        "{}",
        stderr(&sync)
    );
    assert_eq!(total_workouts(&server, &tokens).await, 3);

    let status = rdsync(&cache, &["status"], &server_env).await;
    let lines = stdout_lines(&status);
    assert!(
        lines.contains(&format!("account: {email} (logged in)")),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"waiting to sync: 0".to_owned()),
        "{lines:?}"
    );
    assert!(
        !String::from_utf8_lossy(&status.stdout).contains("eyJ"),
        "no token printed"
    );

    // The server unreachable: exit 3, nothing lost.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    write_xml(dir.path(), &runs_xml(2));
    let import = rdsync(
        &cache,
        &["import", &dir.path().join("export.xml").to_string_lossy()],
        &[],
    )
    .await;
    assert_eq!(import.status.code(), Some(0));
    let offline = rdsync(&cache, &["sync", "--server", &dead], &[]).await;
    assert_eq!(offline.status.code(), Some(3), "{}", stderr(&offline));
    assert!(stderr(&offline).contains("offline"), "{}", stderr(&offline));
    let status = rdsync(&cache, &["status"], &[]).await;
    assert!(stdout_lines(&status).contains(&"waiting to sync: 2".to_owned()));

    // Back online: the queue drains.
    let sync = rdsync(&cache, &["sync"], &[]).await;
    assert_eq!(sync.status.code(), Some(0), "{}", stderr(&sync));
    assert_eq!(
        stdout_lines(&sync)[0],
        "synced 2 workouts: 2 created, 0 updated, 0 unchanged, 0 deleted, 0 conflicts"
    );
    assert_eq!(total_workouts(&server, &tokens).await, 5);
}
