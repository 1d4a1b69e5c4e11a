//! How numbers and times read on a page. The figures themselves come from `sync-core`; these
//! only write them out (and every page also carries the exact figure in a `<data value>`).

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

/// `12.3 km` (one decimal).
pub(crate) fn km(value: f64) -> String {
    format!("{value:.1} km")
}

/// `5:07 /km` from minutes per kilometre; an en dash when there is none.
pub(crate) fn pace(min_per_km: Option<f64>) -> String {
    match min_per_km {
        Some(minutes) if minutes.is_finite() && minutes >= 0.0 => {
            let seconds = (minutes * 60.0).round() as u64;
            format!("{}:{:02} /km", seconds / 60, seconds % 60)
        }
        _ => "–".to_owned(),
    }
}

/// `5:07 /km` from seconds per kilometre.
pub(crate) fn pace_from_seconds(seconds_per_km: Option<f64>) -> String {
    pace(seconds_per_km.map(|s| s / 60.0))
}

/// `1:02:05` or `42:10` from seconds.
pub(crate) fn duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// `12.5 h` (one decimal).
pub(crate) fn hours(value: f64) -> String {
    format!("{value:.1} h")
}

/// `Tue 3 Jun 2025`.
pub(crate) fn date(day: NaiveDate) -> String {
    day.format("%a %-d %b %Y").to_string()
}

/// `3 Jun`.
pub(crate) fn short_date(day: NaiveDate) -> String {
    day.format("%-d %b").to_string()
}

/// `Tue 3 Jun 2025, 18:40` in the runner's zone.
pub(crate) fn local_time(instant: DateTime<Utc>, zone: Tz) -> String {
    instant
        .with_timezone(&zone)
        .format("%a %-d %b %Y, %H:%M")
        .to_string()
}

/// `2 days`, `1 day`.
pub(crate) fn days(count: u32) -> String {
    if count == 1 {
        "1 day".to_owned()
    } else {
        format!("{count} days")
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn paces_durations_and_days_read_as_a_runner_writes_them() {
        assert_eq!(pace(Some(5.0)), "5:00 /km");
        assert_eq!(pace(Some(5.125)), "5:08 /km");
        assert_eq!(pace(None), "–");
        assert_eq!(pace(Some(f64::NAN)), "–");
        assert_eq!(pace_from_seconds(Some(300.0)), "5:00 /km");
        assert_eq!(duration(3725), "1:02:05");
        assert_eq!(duration(2530), "42:10");
        assert_eq!(duration(-5), "0:00");
        assert_eq!(days(1), "1 day");
        assert_eq!(days(0), "0 days");
        assert_eq!(km(12.345), "12.3 km");
    }

    #[test]
    fn times_are_written_in_the_runners_zone() {
        let late = Utc.with_ymd_and_hms(2025, 6, 3, 22, 30, 0).unwrap();
        assert_eq!(local_time(late, Tz::UTC), "Tue 3 Jun 2025, 22:30");
        assert_eq!(
            local_time(late, Tz::Europe__Berlin),
            "Wed 4 Jun 2025, 00:30"
        );
        assert_eq!(
            local_time(late, Tz::America__New_York),
            "Tue 3 Jun 2025, 18:30"
        );
    }
}
