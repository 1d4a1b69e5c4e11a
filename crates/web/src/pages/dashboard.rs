//! `/`: the runner's year at a glance, modelled on the app's dashboard. The figures are
//! [`DashboardBody`], made by the function `GET /stats/dashboard` serves, from the same read.

use actix_web::{get, web, HttpResponse};
use askama::Template;
use chrono::Utc;
use chrono_tz::Tz;
use serde::Deserialize;
use sync_core::running::{
    dashboard as dashboard_body, days_in_year, elapsed_days, DashboardBody, RECENT_RUNS,
};
use sync_core::WorkoutView;
use sync_store::YearRead;

use super::fields::year_param;
use super::{ok, Chrome, Section};
use crate::charts::{BarChart, Datum, Ring};
use crate::context::WebContext;
use crate::error::PageError;
use crate::format;
use crate::session::Viewer;

/// `?year=`: another year than the current one.
#[derive(Deserialize)]
pub(crate) struct YearQuery {
    pub year: Option<String>,
}

/// A workout as a row of a list.
pub(crate) struct RunRow {
    pub id: String,
    pub day: String,
    pub started: String,
    pub distance: String,
    pub duration: String,
    pub pace: String,
    pub source: String,
}

impl RunRow {
    pub(crate) fn of(workout: &WorkoutView, zone: Tz) -> RunRow {
        RunRow {
            id: workout.id.to_string(),
            day: workout.date.clone(),
            started: format::local_time(workout.start_time, zone),
            distance: format::km(workout.distance_meters / 1000.0),
            duration: format::duration(workout.duration_seconds),
            pace: format::pace_from_seconds(workout.avg_pace_seconds_per_km),
            source: workout.source.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    year: i32,
    numbers: DashboardBody,
    ring: String,
    pace_line: String,
    pace_class: &'static str,
    day_of_year: u32,
    days_of_year: u16,
    distance: String,
    time: String,
    avg_pace: String,
    runs: Vec<RunRow>,
    chart: String,
}

/// `GET /` (`?year=`).
#[get("/")]
pub(crate) async fn page(
    context: web::Data<WebContext>,
    viewer: Viewer,
    query: web::Query<YearQuery>,
) -> Result<HttpResponse, PageError> {
    let year = year_param(query.year.as_deref())?;
    let read = YearRead {
        recent_runs: RECENT_RUNS,
        ..YearRead::WITH_STREAKS
    };
    let default_target = context.settings().goal_default_target;
    let running = context
        .store(move |store| store.running_year(viewer.user_id, year, Utc::now(), read))
        .await?
        .ok_or(PageError::SignInRequired)?;
    let goal = running.state.goal_or_default(default_target);
    let recent: Vec<WorkoutView> = running.recent_runs.iter().map(WorkoutView::from).collect();
    let numbers = dashboard_body(&running.data, &goal, recent);
    let zone = running.state.time_zone;
    let year = running.state.year;
    let (pace_line, pace_class) = pace_line(numbers.progress.days_ahead);
    let view = DashboardPage {
        chrome: Chrome::signed_in(&context, &viewer, Section::Dashboard, format!("{year}")),
        year,
        ring: Ring::new(numbers.progress.days_completed, numbers.goal.target_days).svg(),
        pace_line,
        pace_class,
        day_of_year: elapsed_days(year, running.state.today),
        days_of_year: days_in_year(year),
        distance: format::km(numbers.stats.total_distance_km),
        time: format::hours(numbers.stats.total_duration_hours),
        avg_pace: format::pace(numbers.stats.avg_pace_min_per_km),
        runs: numbers
            .recent_runs
            .iter()
            .map(|w| RunRow::of(w, zone))
            .collect(),
        chart: last_running_days_chart(&numbers).svg(),
        numbers,
    };
    Ok(ok(&view))
}

/// "N days ahead of pace" / "behind" / "on pace", and its style.
fn pace_line(days_ahead: i32) -> (String, &'static str) {
    match days_ahead {
        0 => ("On pace".to_owned(), "ahead"),
        n if n > 0 => (
            format!("{} ahead of pace", format::days(n.unsigned_abs())),
            "ahead",
        ),
        n => (
            format!("{} behind pace", format::days(n.unsigned_abs())),
            "behind",
        ),
    }
}

fn last_running_days_chart(numbers: &DashboardBody) -> BarChart {
    let data: Vec<Datum> = numbers
        .chart_data
        .iter()
        .map(|point| Datum {
            label: format::short_date(point.date),
            value: point.distance / 1000.0,
            text: format!(
                "{}, {}",
                format::km(point.distance / 1000.0),
                format::duration(point.duration)
            ),
        })
        .collect();
    let summary = match (numbers.chart_data.first(), numbers.chart_data.last()) {
        (Some(first), Some(last)) => format!(
            "Distance on each of the last {} running days, from {} to {}.",
            numbers.chart_data.len(),
            format::date(first.date),
            format::date(last.date)
        ),
        _ => "No running days yet this year.".to_owned(),
    };
    BarChart::new(
        "recent",
        "Distance of the last 30 running days",
        summary,
        data,
        5,
    )
}

#[cfg(test)]
mod tests {
    use super::pace_line;

    #[test]
    fn the_pace_line_says_ahead_behind_or_on_pace() {
        assert_eq!(pace_line(3).0, "3 days ahead of pace");
        assert_eq!(pace_line(-1).0, "1 day behind pace");
        assert_eq!(pace_line(-1).1, "behind");
        assert_eq!(pace_line(0).0, "On pace");
    }
}
