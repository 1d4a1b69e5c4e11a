//! A body that never finishes (issue 15, finding 3): headers complete, then a few bytes and
//! silence, or a trickle. Against the real binary, each is answered 408 `request_timeout` with
//! the contract's body once `BODY_READ_TIMEOUT_SECS` has passed, instead of being held open.

use std::time::{Duration, Instant};

use test_support::TestDatabase;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::ServerProcess;

/// Sends `head` and then `body` a byte every `gap` (all of it at once when `gap` is zero),
/// never the whole declared length; returns what the server answered and after how long.
async fn send_short_body(port: u16, head: &str, body: &[u8], gap: Duration) -> (String, Duration) {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let started = Instant::now();
    stream.write_all(head.as_bytes()).await.expect("headers");
    let writing = async {
        if gap.is_zero() {
            let _ = stream.write_all(body).await;
        } else {
            for byte in body {
                if stream.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(gap).await;
            }
        }
    };
    // The writer stops at its last byte; the deadline is the server's.
    writing.await;
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buffer[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "no answer within 10 s: {}",
        String::from_utf8_lossy(&answer)
    );
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

fn assert_timed_out(answer: &str, elapsed: Duration, what: &str) {
    assert!(answer.starts_with("HTTP/1.1 408"), "{what}: {answer}");
    assert!(
        answer.contains("\"error\":\"request_timeout\""),
        "{what}: {answer}"
    );
    assert!(
        answer.to_ascii_lowercase().contains("x-request-id:"),
        "{what}: {answer}"
    );
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(5)).contains(&elapsed),
        "{what}: answered after {elapsed:?}"
    );
}

#[tokio::test]
async fn a_body_that_never_finishes_is_a_408_at_the_deadline() {
    let db = TestDatabase::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server =
        ServerProcess::start(db.url(), dir.path(), &[("BODY_READ_TIMEOUT_SECS", "1")]).await;
    let app = server.client();
    let user = app.register().await;

    // Ten bytes of a declared thousand, then silence (a JSON body read by the extractor).
    let head = "POST /api/v1/auth/login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n";
    let (answer, elapsed) =
        send_short_body(server.port, head, b"{\"email\":", Duration::ZERO).await;
    assert_timed_out(&answer, elapsed, "a stalled login body");

    // A trickle, a byte every 200 ms: the deadline is for the whole body, not between bytes.
    let head = format!(
        "POST /api/v1/workouts/sync HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
        user.access_token
    );
    let (answer, elapsed) = send_short_body(
        server.port,
        &head,
        b"{\"workouts\": [",
        Duration::from_millis(200),
    )
    .await;
    assert_timed_out(&answer, elapsed, "a trickled sync body");

    // A body that arrives in time is served as before.
    assert_eq!(app.status_counts(&user).await, (0, 0), "nothing stored");
    app.assert_all_created(&user, &[test_support::workout("after")])
        .await;
}

/// Opens a connection, sends `head` and ten bytes of its declared thousand, and keeps it.
async fn stall(port: u16, head: &str) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    stream.write_all(head.as_bytes()).await.expect("headers");
    stream
        .write_all(b"{\"email\":")
        .await
        .expect("a little body");
    stream
}

/// Issue 15, finding 3: 2,000 stalled bodies were all held open at once. Against the real
/// binary, with `MAX_PENDING_BODIES=3`: three stalled bodies take every place, a fourth
/// request with a body is answered 503 with `Retry-After` at once (before its deadline),
/// requests without a body are served meanwhile, and once the stalled clients go the places
/// are free again.
#[tokio::test]
async fn stalled_bodies_past_the_bound_are_refused_at_once() {
    let db = TestDatabase::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        db.url(),
        dir.path(),
        &[
            ("BODY_READ_TIMEOUT_SECS", "20"),
            ("MAX_PENDING_BODIES", "3"),
        ],
    )
    .await;
    let app = server.client();
    let user = app.register().await;
    let head = "POST /api/v1/auth/login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n";
    let mut stalled = Vec::new();
    for _ in 0..3 {
        stalled.push(stall(server.port, head).await);
    }
    // Each stalled body has reached the server once its bytes are in (the places are taken
    // when the request is routed); a short pause lets the last one be read.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (answer, elapsed) =
        send_short_body(server.port, head, b"{\"email\":", Duration::ZERO).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains("\"error\":\"service_unavailable\""),
        "{answer}"
    );
    let lower = answer.to_ascii_lowercase();
    assert!(lower.contains("retry-after: 1"), "{answer}");
    assert!(lower.contains("x-request-id:"), "{answer}");
    assert!(
        elapsed < Duration::from_secs(5),
        "refused at once, not at the deadline: {elapsed:?}"
    );
    // A request without a body needs no place.
    assert_eq!(app.status_counts(&user).await, (0, 0), "reads are served");

    // The stalled clients give up: their places are free again.
    drop(stalled);
    let mut created = false;
    for _ in 0..50 {
        let response = app
            .sync(
                &user,
                &serde_json::json!({"workouts": [test_support::workout("after")]}),
            )
            .await;
        if response.status() == reqwest::StatusCode::OK {
            created = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(created, "a body is accepted once the stalled ones are gone");
}
