//! Accounts, sessions and refresh-token families.

use chrono::Duration;
use serde_json::json;
use sync_store::testing::per_backend;
use sync_store::{RefreshOutcome, StoreError, SyncCommand, SyncOutcome};
use uuid::Uuid;

use crate::{new_session, prepare, register, t0, ttl, workout, Backend};

per_backend!(
    refresh_tokens_rotate_and_reuse_revokes_the_session,
    |b: Backend| {
        let n = b.name;
        let (user, session) = register(&b, "tokens@example.com");
        let first = session.refresh_token_hash.clone();
        let t1 = t0() + Duration::minutes(20);

        match b.store.rotate_refresh(&first, "second", t1).unwrap() {
            RefreshOutcome::Rotated(s) => {
                assert_eq!(
                    (s.id, s.user_id),
                    (session.id, user.id),
                    "{n}: the session rotated"
                );
                assert!(s.revoked_at.is_none(), "{n}");
            }
            other => panic!("{n}: expected Rotated, got {other:?}"),
        }
        let after = b.store.session(session.id).unwrap().expect("session");
        assert_eq!(after.last_used_at, t1, "{n}: a refresh counts as use");

        // The new token works in turn.
        let t2 = t0() + Duration::minutes(40);
        let rotated = b.store.rotate_refresh("second", "third", t2).unwrap();
        assert!(
            matches!(rotated, RefreshOutcome::Rotated(_)),
            "{n}: {rotated:?}"
        );

        // An already exchanged token is reuse: the session is revoked with all its tokens.
        let t3 = t0() + Duration::minutes(50);
        assert_eq!(
            b.store.rotate_refresh(&first, "thief", t3).unwrap(),
            RefreshOutcome::Reused {
                session_id: session.id,
                user_id: user.id
            },
            "{n}"
        );
        let revoked = b.store.session(session.id).unwrap().expect("session");
        assert_eq!(
            revoked.revoked_at,
            Some(t3),
            "{n}: reuse revokes the session"
        );
        assert!(!revoked.is_active(t3), "{n}");
        assert_eq!(
            b.store.rotate_refresh("third", "fourth", t3).unwrap(),
            RefreshOutcome::Invalid,
            "{n}: the owner's current token stops working too"
        );
        assert_eq!(
            b.store.rotate_refresh("thief", "x", t3).unwrap(),
            RefreshOutcome::Invalid,
            "{n}: the token handed out on reuse does not exist"
        );
        assert!(
            b.store.active_sessions(user.id, t3).unwrap().is_empty(),
            "{n}"
        );

        // Unknown tokens are invalid.
        assert_eq!(
            b.store.rotate_refresh("no-such-hash", "y", t3).unwrap(),
            RefreshOutcome::Invalid,
            "{n}"
        );
    }
);

per_backend!(
    refresh_tokens_of_an_expired_or_logged_out_session_are_invalid,
    |b: Backend| {
        let n = b.name;
        let (user, session) = register(&b, "expired@example.com");
        let past_end = session.expires_at + Duration::seconds(1);
        assert_eq!(
            b.store
                .rotate_refresh(&session.refresh_token_hash, "next", past_end)
                .unwrap(),
            RefreshOutcome::Invalid,
            "{n}: the session's absolute lifetime is over"
        );

        let second = new_session("second-login", t0());
        b.store.open_session(user.id, &second).unwrap();
        assert!(
            b.store.revoke_session(user.id, second.id, t0()).unwrap(),
            "{n}: logout"
        );
        assert_eq!(
            b.store
                .rotate_refresh("second-login", "next2", t0())
                .unwrap(),
            RefreshOutcome::Invalid,
            "{n}: a logged-out session's token"
        );
    }
);

per_backend!(
    sessions_are_listed_and_revoked_only_by_their_owner,
    |b: Backend| {
        let n = b.name;
        let (alice, alice_first) = register(&b, "alice@example.com");
        let (bob, bob_session) = register(&b, "bob@example.com");
        let alice_second = new_session("alice-2", t0() + Duration::minutes(1));
        b.store.open_session(alice.id, &alice_second).unwrap();
        let alice_third = new_session("alice-3", t0() + Duration::minutes(2));
        b.store.open_session(alice.id, &alice_third).unwrap();
        let now = t0() + Duration::minutes(3);

        let ids = |user_id: Uuid| -> Vec<Uuid> {
            b.store
                .active_sessions(user_id, now)
                .unwrap()
                .iter()
                .map(|s| s.id)
                .collect()
        };
        assert_eq!(
            ids(alice.id),
            vec![alice_third.id, alice_second.id, alice_first.id],
            "{n}: Alice's sessions, newest first"
        );
        assert_eq!(
            ids(bob.id),
            vec![bob_session.id],
            "{n}: only Bob's own session"
        );

        // Alice cannot revoke Bob's session.
        assert!(
            !b.store
                .revoke_session(alice.id, bob_session.id, now)
                .unwrap(),
            "{n}"
        );
        let bobs = b
            .store
            .session(bob_session.id)
            .unwrap()
            .expect("Bob's session");
        assert!(bobs.revoked_at.is_none(), "{n}: Bob's session stays active");
        assert_eq!(ids(bob.id), vec![bob_session.id], "{n}");
        assert!(
            !b.store
                .revoke_session(alice.id, Uuid::new_v4(), now)
                .unwrap(),
            "{n}: unknown"
        );

        // She can revoke her own, once.
        assert!(
            b.store
                .revoke_session(alice.id, alice_second.id, now)
                .unwrap(),
            "{n}"
        );
        assert!(
            !b.store
                .revoke_session(alice.id, alice_second.id, now)
                .unwrap(),
            "{n}: again"
        );
        assert_eq!(ids(alice.id), vec![alice_third.id, alice_first.id], "{n}");
        let revoked = b.store.session(alice_second.id).unwrap().expect("session");
        assert_eq!(revoked.revoked_at, Some(now), "{n}");

        // Expired sessions are not active.
        let after_first_expired = alice_first.expires_at + Duration::seconds(30);
        let active = b
            .store
            .active_sessions(alice.id, after_first_expired)
            .unwrap();
        assert_eq!(
            active.iter().map(|s| s.id).collect::<Vec<_>>(),
            vec![alice_third.id],
            "{n}: the first session has expired"
        );
        assert_eq!(
            active[0].user_agent.as_deref(),
            Some("RunningDays/1.0 (iPhone)"),
            "{n}"
        );
    }
);

per_backend!(
    touching_a_session_records_use_to_the_minute,
    |b: Backend| {
        let n = b.name;
        let (_, new) = register(&b, "touch@example.com");
        let session = b.store.session(new.id).unwrap().expect("session");
        assert_eq!(session.last_used_at, t0(), "{n}");

        b.store
            .touch_session(&session, t0() + Duration::seconds(30))
            .unwrap();
        let same = b.store.session(new.id).unwrap().expect("session");
        assert_eq!(
            same.last_used_at,
            t0(),
            "{n}: within the minute nothing is written"
        );

        let later = t0() + Duration::minutes(5);
        b.store.touch_session(&session, later).unwrap();
        let touched = b.store.session(new.id).unwrap().expect("session");
        assert_eq!(touched.last_used_at, later, "{n}");
    }
);

per_backend!(registering_an_existing_email_is_refused, |b: Backend| {
    let n = b.name;
    let (user, _) = register(&b, "taken@example.com");
    let second = new_session("second-account", t0());
    let result = b.store.register("taken@example.com", "other-hash", &second);
    assert!(
        matches!(result, Err(StoreError::EmailTaken)),
        "{n}: {result:?}"
    );

    // The first account is untouched and no session was opened for the refused one.
    let credentials = b
        .store
        .credentials("taken@example.com")
        .unwrap()
        .expect("account");
    assert_eq!(credentials.user, user, "{n}");
    assert_eq!(credentials.password_hash, "hash", "{n}");
    assert_eq!(b.store.user(user.id).unwrap(), Some(user.clone()), "{n}");
    assert_eq!(
        b.store.session(second.id).unwrap(),
        None,
        "{n}: nothing of it is stored"
    );
    assert_eq!(
        b.store.rotate_refresh("second-account", "x", t0()).unwrap(),
        RefreshOutcome::Invalid,
        "{n}"
    );
    assert_eq!(
        b.store
            .credentials("nobody@example.com")
            .unwrap()
            .map(|c| c.user),
        None
    );
    assert_eq!(b.store.user(Uuid::new_v4()).unwrap(), None, "{n}");
});

per_backend!(
    a_sync_that_names_its_session_runs_only_in_the_users_live_session,
    |b: Backend| {
        let n = b.name;
        let (user, session) = register(&b, "claimed@example.com");
        let (_, other_users) = register(&b, "other@example.com");
        let body = |key: &str, client_id: &str| json!({"idempotency_key": key, "workouts": [workout(client_id, 5000.0)]});
        let run = |key: &str, client_id: &str, session_id: Uuid, now| {
            let request = prepare(body(key, client_id), now);
            b.store.sync(&SyncCommand {
                user_id: user.id,
                session: Some(session_id),
                request: &request,
                now,
                idempotency_ttl: ttl(),
            })
        };
        let stored = || {
            let status = b.store.sync_status(user.id).unwrap().expect("status");
            (status.total_workouts, status.change_seq)
        };

        // In its own live session: applied, and the use recorded (to the minute).
        let t1 = t0() + Duration::minutes(5);
        let applied = run("k-1", "a", session.id, t1).unwrap();
        assert!(matches!(applied, SyncOutcome::Applied { .. }), "{n}");
        let used = b.store.session(session.id).unwrap().expect("session");
        assert_eq!(used.last_used_at, t1, "{n}: the sync recorded the use");
        assert_eq!(stored(), (1, 1), "{n}");

        // Another user's session, or one that does not exist: refused, nothing written.
        for claimed in [other_users.id, Uuid::new_v4()] {
            let refused = run("k-2", "b", claimed, t1);
            assert!(
                matches!(refused, Err(StoreError::SessionEnded)),
                "{n}: {refused:?}"
            );
        }
        assert_eq!(stored(), (1, 1), "{n}: a refused sync wrote nothing");

        // Revoked: neither a new sync nor the replay of an applied one answers.
        assert!(b.store.revoke_session(user.id, session.id, t1).unwrap());
        let t2 = t1 + Duration::minutes(1);
        let fresh = run("k-3", "c", session.id, t2);
        assert!(
            matches!(fresh, Err(StoreError::SessionEnded)),
            "{n}: {fresh:?}"
        );
        let replay = run("k-1", "a", session.id, t2);
        assert!(
            matches!(replay, Err(StoreError::SessionEnded)),
            "{n}: {replay:?}"
        );
        assert_eq!(stored(), (1, 1), "{n}: a revoked session wrote nothing");

        // Expired: refused at its end, as a checked session is.
        let later = new_session("hash-later", t0());
        b.store.open_session(user.id, &later).unwrap();
        let expired = run("k-4", "d", later.id, later.expires_at);
        assert!(
            matches!(expired, Err(StoreError::SessionEnded)),
            "{n}: {expired:?}"
        );
        let live = run(
            "k-4",
            "d",
            later.id,
            later.expires_at - Duration::seconds(1),
        );
        assert!(
            matches!(live, Ok(SyncOutcome::Applied { .. })),
            "{n}: {live:?}"
        );
        assert_eq!(stored(), (2, 2), "{n}");
    }
);
