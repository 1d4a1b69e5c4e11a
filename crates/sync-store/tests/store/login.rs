//! Failed-login budgets: taken before a password is checked, all or none, locked when used up.

use chrono::{DateTime, Duration, Utc};
use sync_store::testing::per_backend;
use sync_store::{LoginAttempt, LoginBudget, Reservation};

use crate::{t0, Backend};

const LOCK_FOR: Duration = Duration::minutes(15);

fn budget(key: &str, threshold: i32) -> LoginBudget {
    LoginBudget {
        key: key.to_owned(),
        threshold,
    }
}

/// Reserves, expecting a grant; returns the attempt numbers and the reservation.
fn granted(b: &Backend, budgets: &[LoginBudget], now: DateTime<Utc>) -> (Vec<i32>, Reservation) {
    match b.store.reserve_login(budgets, now, LOCK_FOR).unwrap() {
        LoginAttempt::Granted(reservation) => (
            reservation.attempts.iter().map(|(_, n)| *n).collect(),
            reservation,
        ),
        refused => panic!("{}: {budgets:?} refused at {now}: {refused:?}", b.name),
    }
}

per_backend!(
    a_budget_locks_at_its_threshold_and_a_success_clears_it,
    |b: Backend| {
        let n = b.name;
        let here = [budget("address:a", 5), budget("email:e", 100)];
        let elsewhere = [budget("address:b", 5), budget("email:e", 100)];

        // Each attempt is reserved before its password is checked, then fails.
        let fail = |attempt: i32| {
            let now = t0() + Duration::seconds(attempt.into());
            let (numbers, reservation) = granted(&b, &here, now);
            assert_eq!(
                numbers,
                [attempt, attempt],
                "{n}: both budgets count attempts"
            );
            b.store.fail_login(&reservation, now, LOCK_FOR).unwrap()
        };
        for attempt in 1..=4 {
            assert_eq!(
                fail(attempt),
                None,
                "{n}: attempt {attempt} is under the threshold"
            );
        }
        let fifth = t0() + Duration::seconds(5);
        assert_eq!(
            fail(5),
            Some(fifth + LOCK_FOR),
            "{n}: the fifth failure locks the pair"
        );

        // While locked, no attempt is granted (and so no password checked).
        assert_eq!(
            b.store
                .reserve_login(&here, fifth + Duration::seconds(1), LOCK_FOR)
                .unwrap(),
            LoginAttempt::Refused {
                locked_until: Some(fifth + LOCK_FOR)
            },
            "{n}: locked"
        );
        // The same email from another address has its own budget; the one across all
        // addresses has counted all five.
        let (numbers, _) = granted(&b, &elsewhere, fifth + Duration::seconds(2));
        assert_eq!(numbers, [1, 6], "{n}: another address");

        // A success clears both budgets; after the lock the pair starts afresh too.
        b.store
            .clear_login_budgets(&elsewhere.map(|budget| budget.key))
            .unwrap();
        let (numbers, _) = granted(&b, &here, fifth + LOCK_FOR);
        assert_eq!(numbers, [1, 1], "{n}: after the lock and a success");
    }
);

per_backend!(
    a_burst_of_attempts_gets_no_more_than_the_budget_checked,
    |b: Backend| {
        let n = b.name;
        let budgets = [budget("address:burst", 5)];
        // Five attempts reserved and still being checked: the sixth is refused before any
        // lock is set, and so is every later one until a result comes in.
        let mut last = None;
        for attempt in 1..=5 {
            let (numbers, reservation) = granted(&b, &budgets, t0());
            assert_eq!(numbers, [attempt], "{n}");
            last = Some(reservation);
        }
        for _ in 0..3 {
            assert_eq!(
                b.store.reserve_login(&budgets, t0(), LOCK_FOR).unwrap(),
                LoginAttempt::Refused { locked_until: None },
                "{n}: over the budget"
            );
        }
        // The last of the budget fails: the budget locks, and after the lock a fresh one.
        let until = b
            .store
            .fail_login(&last.expect("five reservations"), t0(), LOCK_FOR)
            .unwrap();
        assert_eq!(until, Some(t0() + LOCK_FOR), "{n}");
        let (numbers, _) = granted(&b, &budgets, t0() + LOCK_FOR);
        assert_eq!(numbers, [1], "{n}: a fresh budget once the lock is over");
    }
);

per_backend!(
    a_login_refused_by_one_budget_takes_nothing_from_the_others,
    |b: Backend| {
        let n = b.name;
        let email = budget("email:small", 2);
        for address in ["address:1", "address:2"] {
            granted(&b, &[budget(address, 5), email.clone()], t0());
        }
        // The email's budget is used up (both attempts still being checked).
        assert_eq!(
            b.store
                .reserve_login(&[budget("address:3", 5), email.clone()], t0(), LOCK_FOR)
                .unwrap(),
            LoginAttempt::Refused { locked_until: None },
            "{n}"
        );
        // Address 3's budget was given back: its next attempt is its first.
        let (numbers, _) = granted(&b, &[budget("address:3", 5)], t0());
        assert_eq!(numbers, [1], "{n}: the refused login took nothing");
    }
);

per_backend!(
    a_budget_without_attempts_for_the_window_starts_afresh,
    |b: Backend| {
        let n = b.name;
        let budgets = [budget("address:idle", 5)];
        for attempt in 1..=3 {
            let (numbers, reservation) = granted(&b, &budgets, t0());
            assert_eq!(numbers, [attempt], "{n}");
            b.store.fail_login(&reservation, t0(), LOCK_FOR).unwrap();
        }
        let (numbers, _) = granted(&b, &budgets, t0() + LOCK_FOR - Duration::seconds(1));
        assert_eq!(numbers, [4], "{n}: within the window the count holds");
        let quiet = t0() + LOCK_FOR * 2;
        let (numbers, _) = granted(&b, &budgets, quiet);
        assert_eq!(numbers, [1], "{n}: a window without attempts forgets them");
    }
);

per_backend!(
    the_purge_deletes_idle_unlocked_budgets_only,
    |b: Backend| {
        let n = b.name;
        for key in ["address:old-1", "address:old-2"] {
            granted(&b, &[budget(key, 5)], t0());
        }
        // Locked until t0 + 15 min.
        let (_, locking) = granted(&b, &[budget("address:locked", 1)], t0());
        b.store.fail_login(&locking, t0(), LOCK_FOR).unwrap();
        let recent = t0() + Duration::minutes(10);
        granted(&b, &[budget("address:recent", 5)], recent);

        let idle_since = t0() + Duration::minutes(5);
        let now = t0() + Duration::minutes(6);
        assert_eq!(
            b.store.purge_login_budgets(idle_since, now, 1).unwrap(),
            1,
            "{n}: at most the limit"
        );
        assert_eq!(
            b.store.purge_login_budgets(idle_since, now, 100).unwrap(),
            1,
            "{n}: the other idle budget; the locked and the recent ones stay"
        );
        assert_eq!(
            b.store
                .reserve_login(&[budget("address:locked", 1)], now, LOCK_FOR)
                .unwrap(),
            LoginAttempt::Refused {
                locked_until: Some(t0() + LOCK_FOR)
            },
            "{n}: the lock survived the purge"
        );
        let (numbers, _) = granted(&b, &[budget("address:recent", 5)], now);
        assert_eq!(numbers, [2], "{n}: the recent budget kept its count");
    }
);
