//! Which day a workout belongs to, in zones far from UTC and across daylight saving changes.

use sync_core::running::{
    parse_time_zone, progress, today_in, validate_goal, workout_date, Goal, RunFact, YearData,
};

use chrono::NaiveDate;

use crate::helpers::{date, instant, run};

/// Each `(start as sent, expected date)` dated for a user in `zone`.
#[track_caller]
fn assert_dates(zone: &str, cases: &[(&str, NaiveDate)]) {
    let tz = parse_time_zone(zone).unwrap();
    for (sent, expected) in cases {
        let start = sync_core::time::parse_client_timestamp(sent).unwrap();
        let day = workout_date(start.utc, start.offset_minutes, tz);
        assert_eq!(day, *expected, "{sent} for a user in {zone}");
    }
}

#[test]
fn new_years_eve_and_day_far_from_utc() {
    // Kiritimati is UTC+14: 10:30 UTC on 31 December is 00:30 on 1 January there.
    assert_dates(
        "Pacific/Kiritimati",
        &[
            ("2024-12-31T10:30:00Z", date(2025, 1, 1)),
            ("2024-12-31T09:30:00Z", date(2024, 12, 31)),
        ],
    );
    // Pago Pago is UTC-11: 10:30 UTC on 1 January is 23:30 on 31 December there.
    assert_dates(
        "Pacific/Pago_Pago",
        &[
            ("2025-01-01T10:30:00Z", date(2024, 12, 31)),
            ("2025-01-01T11:30:00Z", date(2025, 1, 1)),
        ],
    );
}

#[test]
fn the_zone_decides_which_year_a_run_counts_in() {
    let start = instant("2024-12-31T10:30:00Z");
    let goal = Goal::default_for(2025, 300);
    for (zone, year_with_the_run) in [("Pacific/Kiritimati", 2025), ("Pacific/Pago_Pago", 2024)] {
        let day = workout_date(start, 0, parse_time_zone(zone).unwrap());
        let fact = RunFact {
            date: day,
            start_time: start,
            ..run(day)
        };
        for year in [2024, 2025] {
            let today = date(2025, 1, 2);
            let data = YearData::new(year, today, [fact.clone()]).unwrap();
            let expected = u32::from(year == year_with_the_run);
            assert_eq!(
                progress(&data, &goal).days_completed,
                expected,
                "{zone} {year}"
            );
        }
    }
}

#[test]
fn a_late_run_sent_in_utc_belongs_to_the_local_day() {
    assert_dates(
        "America/Los_Angeles",
        &[
            // 23:30 in Los Angeles (PDT, UTC-7) on 14 March 2024 is 06:30 UTC on the 15th.
            ("2024-03-15T06:30:00Z", date(2024, 3, 14)),
            // In winter (PST, UTC-8) the same local time is an hour later in UTC.
            ("2024-01-16T07:30:00Z", date(2024, 1, 15)),
            ("2024-01-16T08:30:00Z", date(2024, 1, 16)),
        ],
    );
}

#[test]
fn daylight_saving_changes_in_stockholm() {
    assert_dates(
        "Europe/Stockholm",
        &[
            // Last Sunday of March 2024: CET (+1) until 01:00 UTC on the 31st, CEST (+2) after.
            ("2024-03-30T23:30:00Z", date(2024, 3, 31)),
            ("2024-03-31T21:30:00Z", date(2024, 3, 31)),
            // 22:30 UTC on 31 March is 00:30 on 1 April in summer time (a fixed +1 says 31 March).
            ("2024-03-31T22:30:00Z", date(2024, 4, 1)),
            // Last Sunday of October 2024: CEST until 01:00 UTC on the 27th, CET after.
            ("2024-10-26T22:30:00Z", date(2024, 10, 27)),
            ("2024-10-27T22:30:00Z", date(2024, 10, 27)),
            ("2024-10-27T23:30:00Z", date(2024, 10, 28)),
        ],
    );
}

#[test]
fn a_sent_offset_other_than_zero_decides_on_its_own() {
    // Health Auto Export sends the local offset: its day wins over the user's zone.
    assert_dates(
        "Europe/Stockholm",
        &[("2024-01-15T23:30:00-05:00", date(2024, 1, 15))],
    );
    assert_dates(
        "Pacific/Kiritimati",
        &[
            ("2024-01-15T00:30:00+01:00", date(2024, 1, 15)),
            // `+00:00` is UTC, like `Z`: the zone decides.
            ("2024-01-15T10:30:00+00:00", date(2024, 1, 16)),
        ],
    );
}

#[test]
fn today_is_the_day_in_the_users_zone() {
    let now = instant("2024-03-31T22:30:00Z");
    assert_eq!(
        today_in(parse_time_zone("UTC").unwrap(), now),
        date(2024, 3, 31)
    );
    assert_eq!(
        today_in(parse_time_zone("Europe/Stockholm").unwrap(), now),
        date(2024, 4, 1)
    );
    assert_eq!(
        today_in(parse_time_zone("America/Los_Angeles").unwrap(), now),
        date(2024, 3, 31)
    );
}

#[test]
fn time_zones_are_iana_names_only() {
    for name in [
        "UTC",
        "Europe/Stockholm",
        "America/Los_Angeles",
        "Pacific/Kiritimati",
    ] {
        assert_eq!(parse_time_zone(name).unwrap().name(), name);
    }
    for name in [
        "",
        "Stockholm",
        "GMT+1",
        "+02:00",
        "Europe/Stockholm ",
        "utc",
    ] {
        let refused = parse_time_zone(name).unwrap_err();
        assert_eq!(refused.name, name);
    }
}

#[test]
fn a_leap_year_goal_may_be_every_day() {
    assert_eq!(validate_goal(2024, 366).unwrap().target_days(), 366);
    let refused = validate_goal(2025, 366).unwrap_err();
    assert_eq!(
        refused.field_errors()["target_days"],
        vec!["must be between 1 and 365".to_string()]
    );
    assert_eq!(validate_goal(2025, 365).unwrap().year(), 2025);
}
