//! What the load generator sends: workouts as the iOS client sends them, and the request bodies
//! of each mix.

use std::fmt::Write;

use chrono::Utc;

/// Minutes in the window workout start times are spread over (about 9.5 years from 2015).
const START_WINDOW_MINUTES: u64 = 5_000_000;
/// 2015-01-01T06:00:00Z.
const BASE_UNIX: i64 = 1_420_092_000;

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time, without chrono's formatter: the load generator shares
/// the CPUs with the server it measures, so it should cost as little as it can.
fn push_rfc3339(out: &mut String, unix: i64) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
}

/// Appends one workout object, as the shipping iOS client sends it (with a per-request `id`,
/// an unknown field the server ignores). `n` makes its content; `client_id` its identity.
pub fn push_workout(out: &mut String, client_id: &str, n: u64) {
    // A pseudo-random but deterministic start time within the window; every value valid.
    let minutes = n.wrapping_mul(7919) % START_WINDOW_MINUTES;
    let start = BASE_UNIX + minutes as i64 * 60;
    let duration = 1200 + (n % 60) as i64 * 30;
    let distance = 3000 + (n % 97) * 53;
    let energy = 200 + (n % 41) * 4;
    let avg_hr = 120 + n % 40;
    let max_hr = avg_hr + 25;
    let _ = write!(
        out,
        r#"{{"id":"r{n:x}","client_id":"{client_id}","start_time":""#
    );
    push_rfc3339(out, start);
    out.push_str(r#"","end_time":""#);
    push_rfc3339(out, start + duration);
    let _ = write!(
        out,
        r#"","duration_seconds":{duration},"distance_meters":{distance}.5,"energy_burned_kcal":{energy}.0,"avg_heart_rate":{avg_hr},"max_heart_rate":{max_hr},"source":"apple_watch"}}"#,
    );
}

/// A sync request body of `count` workouts with client ids `{prefix}-{first}` onwards.
pub fn sync_body(prefix: &str, first: u64, count: usize, mode: &str) -> String {
    let mut out = String::with_capacity(64 + count * 330);
    out.push_str(r#"{"workouts":["#);
    let mut id = String::with_capacity(prefix.len() + 24);
    for i in 0..count as u64 {
        if i > 0 {
            out.push(',');
        }
        let n = first + i;
        id.clear();
        let _ = write!(id, "{prefix}-{n}");
        push_workout(&mut out, &id, n);
    }
    let _ = write!(
        out,
        r#"],"mode":"{mode}","client_sync_timestamp":"{}"}}"#,
        Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_formatted_as_chrono_would() {
        use chrono::TimeZone;
        for unix in [
            0,
            BASE_UNIX,
            BASE_UNIX + 299_999_940,
            951_782_400,
            4_107_542_399,
        ] {
            let mut s = String::new();
            push_rfc3339(&mut s, unix);
            let expected = Utc
                .timestamp_opt(unix, 0)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%SZ");
            assert_eq!(s, expected.to_string());
        }
    }

    #[test]
    fn bodies_are_json_with_the_asked_number_of_workouts() {
        let body = sync_body("t", 10, 3, "incremental");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let workouts = v["workouts"].as_array().unwrap();
        assert_eq!(workouts.len(), 3);
        assert_eq!(workouts[2]["client_id"], "t-12");
        assert_eq!(v["mode"], "incremental");
    }
}
