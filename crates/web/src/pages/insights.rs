//! `/insights?year=`: the year in months and weeks, the pace trend, streaks, personal bests and
//! achievements: [`InsightsBody`], made by the function `GET /stats/insights` serves.

use actix_web::{get, web, HttpResponse};
use askama::Template;
use chrono::{NaiveDate, Utc};
use chrono_tz::Tz;
use sync_core::running::{
    insights as insights_body, Achievement, InsightsBody, MAX_YEAR, MIN_YEAR,
};
use sync_store::YearRead;

use super::dashboard::YearQuery;
use super::fields::year_param;
use super::{ok, Chrome, Section};
use crate::charts::{BarChart, Datum, LineChart};
use crate::context::WebContext;
use crate::error::PageError;
use crate::format;
use crate::session::Viewer;

/// An achievement as the page lists it.
struct Badge {
    name: String,
    description: String,
    unlocked: Option<String>,
}

impl Badge {
    fn of(achievement: &Achievement, zone: Tz) -> Badge {
        Badge {
            name: achievement.name.clone(),
            description: achievement.description.clone(),
            unlocked: achievement
                .unlocked_at
                .filter(|_| achievement.is_unlocked)
                .map(|at| format::date(at.with_timezone(&zone).date_naive())),
        }
    }
}

#[derive(Template)]
#[template(path = "insights.html")]
struct InsightsPage {
    chrome: Chrome,
    year: i32,
    numbers: InsightsBody,
    monthly_distance: String,
    monthly_days: String,
    weekly: String,
    pace: String,
    longest_run: String,
    longest_run_date: String,
    fastest_pace: String,
    fastest_pace_date: String,
    badges: Vec<Badge>,
    unlocked: usize,
    previous_year: Option<i32>,
    next_year: Option<i32>,
}

/// `GET /insights` (`?year=`).
#[get("/insights")]
pub(crate) async fn page(
    context: web::Data<WebContext>,
    viewer: Viewer,
    query: web::Query<YearQuery>,
) -> Result<HttpResponse, PageError> {
    let year = year_param(query.year.as_deref())?;
    let default_target = context.settings().goal_default_target;
    let running = context
        .store(move |store| {
            store.running_year(viewer.user_id, year, Utc::now(), YearRead::WITH_STREAKS)
        })
        .await?
        .ok_or(PageError::SignInRequired)?;
    let goal = running.state.goal_or_default(default_target);
    let numbers = insights_body(&running.data, &goal);
    let zone = running.state.time_zone;
    let year = numbers.year;
    let bests = &numbers.personal_bests;
    let optional_date = |d: Option<NaiveDate>| d.map(format::date).unwrap_or_default();
    let badges: Vec<Badge> = numbers
        .achievements
        .iter()
        .map(|a| Badge::of(a, zone))
        .collect();
    let view = InsightsPage {
        chrome: Chrome::signed_in(
            &context,
            &viewer,
            Section::Insights,
            format!("Insights {year}"),
        ),
        year,
        monthly_distance: monthly_distance(&numbers).svg(),
        monthly_days: monthly_days(&numbers).svg(),
        weekly: weekly(&numbers).svg(),
        pace: pace_trend(&numbers, zone).svg(),
        longest_run: bests
            .longest_run_km
            .map(format::km)
            .unwrap_or_else(|| "–".into()),
        longest_run_date: optional_date(bests.longest_run_date),
        fastest_pace: format::pace(bests.fastest_pace_min_per_km),
        fastest_pace_date: optional_date(bests.fastest_pace_date),
        unlocked: badges.iter().filter(|b| b.unlocked.is_some()).count(),
        badges,
        previous_year: Some(year - 1).filter(|y| *y >= MIN_YEAR),
        next_year: Some(year + 1).filter(|y| *y <= MAX_YEAR),
        numbers,
    };
    Ok(ok(&view))
}

/// `Jan` from `YYYY-MM`.
fn month_label(month: &str) -> String {
    NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
        .map(|d| d.format("%b").to_string())
        .unwrap_or_else(|_| month.to_owned())
}

fn monthly_distance(numbers: &InsightsBody) -> BarChart {
    let data = numbers
        .monthly_data
        .iter()
        .map(|m| Datum {
            label: month_label(&m.month),
            value: m.total_distance_km,
            text: format::km(m.total_distance_km),
        })
        .collect();
    BarChart::new(
        "monthly-distance",
        "Distance by month",
        format!("Kilometres run in each month of {}.", numbers.year),
        data,
        1,
    )
}

fn monthly_days(numbers: &InsightsBody) -> BarChart {
    let data = numbers
        .monthly_data
        .iter()
        .map(|m| Datum {
            label: month_label(&m.month),
            value: f64::from(m.running_days),
            text: format::days(m.running_days),
        })
        .collect();
    BarChart::new(
        "monthly-days",
        "Running days by month",
        format!("Days with a run in each month of {}.", numbers.year),
        data,
        1,
    )
}

fn weekly(numbers: &InsightsBody) -> BarChart {
    let data = numbers
        .weekly_data
        .iter()
        .map(|w| Datum {
            label: format::short_date(w.week_label),
            value: w.distance_km,
            text: format!(
                "{} on {}",
                format::km(w.distance_km),
                format::days(w.running_days)
            ),
        })
        .collect();
    BarChart::new(
        "weekly",
        "Weekly volume, last 12 weeks",
        "Kilometres run in each of the last twelve weeks, oldest first; each bar is labelled with its Monday.",
        data,
        3,
    )
}

fn pace_trend(numbers: &InsightsBody, zone: Tz) -> LineChart {
    let data: Vec<Datum> = numbers
        .pace_data
        .iter()
        .map(|p| Datum {
            label: format::date(p.date.with_timezone(&zone).date_naive()),
            value: p.pace_min_per_km,
            text: format::pace(Some(p.pace_min_per_km)),
        })
        .collect();
    let summary = if data.is_empty() {
        "No runs of at least 1 km this year yet.".to_owned()
    } else {
        format!(
            "Average pace of the last {} runs of at least 1 km, oldest first; faster is higher.",
            data.len()
        )
    };
    LineChart::new("pace", "Pace trend", summary, data, true, |v| {
        format::pace(Some(v))
    })
}

#[cfg(test)]
mod tests {
    use super::month_label;

    #[test]
    fn months_are_labelled_by_their_short_name() {
        assert_eq!(month_label("2025-01"), "Jan");
        assert_eq!(month_label("2025-12"), "Dec");
        assert_eq!(month_label("garbage"), "garbage");
    }
}
