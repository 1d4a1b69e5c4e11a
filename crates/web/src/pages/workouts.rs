//! `/workouts`: every workout, newest first, by year; open one to correct it (the contract's
//! server-side edit: a new revision on the change feed, so a device holding the old copy gets a
//! conflict on its next sync), or delete it after a confirmation.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Map, Value};
use sync_core::time::truncate_to_seconds;
use sync_core::{edited_row, tombstone, ListCursor, StoredWorkout, WorkoutView};
use sync_store::{EditOutcome, WorkoutQuery};
use uuid::Uuid;

use super::dashboard::RunRow;
use super::fields::{year_param, FieldMessages};
use super::{ok, render, see_other, Chrome, Section};
use crate::context::WebContext;
use crate::csrf;
use crate::error::PageError;
use crate::format;
use crate::session::Viewer;

/// Workouts per page of the list.
const PAGE_SIZE: i64 = 25;

/// `?year=&cursor=` of the list.
#[derive(Deserialize)]
pub(crate) struct ListQuery {
    year: Option<String>,
    cursor: Option<String>,
    deleted: Option<String>,
}

#[derive(Template)]
#[template(path = "workouts.html")]
struct ListPage {
    chrome: Chrome,
    year: Option<i32>,
    year_text: String,
    runs: Vec<RunRow>,
    next: Option<String>,
    deleted: bool,
}

/// `GET /workouts`.
#[get("/workouts")]
pub(crate) async fn list(
    context: web::Data<WebContext>,
    viewer: Viewer,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, PageError> {
    let year = year_param(query.year.as_deref())?;
    let cursor = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(text) => Some(ListCursor::decode(text).map_err(|_| {
            PageError::BadRequest(
                "This page of the list no longer exists; start again from the first page.".into(),
            )
        })?),
        None => None,
    };
    let query_of_store = WorkoutQuery {
        limit: PAGE_SIZE,
        cursor,
        since: None,
        until: None,
        year,
    };
    let user_id = viewer.user_id;
    let (page, user) = context
        .store(move |store| {
            Ok((
                store.list_workouts(user_id, &query_of_store)?,
                store.user(user_id)?,
            ))
        })
        .await?;
    let zone = user.ok_or(PageError::SignInRequired)?.time_zone;
    let zone = sync_core::running::parse_time_zone(&zone).unwrap_or(chrono_tz::Tz::UTC);
    let runs = page
        .workouts
        .iter()
        .map(|w| RunRow::of(&WorkoutView::from(w), zone))
        .collect();
    let next = page.next_cursor.filter(|_| page.has_more).map(|c| {
        let mut href = format!("/workouts?cursor={}", c.encode());
        if let Some(year) = year {
            href.push_str(&format!("&year={year}"));
        }
        href
    });
    let view = ListPage {
        chrome: Chrome::signed_in(&context, &viewer, Section::Workouts, "Workouts"),
        year,
        year_text: year.map(|y| y.to_string()).unwrap_or_default(),
        runs,
        next,
        deleted: query.deleted.is_some(),
    };
    Ok(ok(&view))
}

/// The edit form's values, as typed.
#[derive(Deserialize, Default)]
pub(crate) struct EditForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    revision: String,
    #[serde(default)]
    distance_km: String,
    #[serde(default)]
    duration: String,
    #[serde(default)]
    avg_heart_rate: String,
    #[serde(default)]
    max_heart_rate: String,
    #[serde(default)]
    energy_burned_kcal: String,
}

impl EditForm {
    /// The form filled with the stored workout.
    fn of(workout: &StoredWorkout) -> EditForm {
        let c = &workout.content;
        let optional = |v: Option<String>| v.unwrap_or_default();
        EditForm {
            csrf: String::new(),
            revision: workout.revision.to_string(),
            distance_km: trimmed_number(c.distance_meters / 1000.0),
            duration: format::duration(c.duration_seconds),
            avg_heart_rate: optional(c.avg_heart_rate.map(|v| v.to_string())),
            max_heart_rate: optional(c.max_heart_rate.map(|v| v.to_string())),
            energy_burned_kcal: optional(c.energy_burned_kcal.map(trimmed_number)),
        }
    }

    /// The contract's patch for these values, or what to fix in the form.
    fn patch(&self) -> Result<Value, FieldMessages> {
        let mut errors = FieldMessages::default();
        let mut patch = Map::new();
        match parse_number(&self.distance_km) {
            Some(km) => {
                patch.insert("distance_meters".into(), Value::from(km * 1000.0));
            }
            None => errors.add(
                "distance_km",
                "Enter the distance in kilometres, like 10.5.",
            ),
        }
        match parse_duration(&self.duration) {
            Some(seconds) => {
                patch.insert("duration_seconds".into(), Value::from(seconds));
            }
            None => errors.add(
                "duration",
                "Enter the time as h:mm:ss or mm:ss, like 52:30.",
            ),
        }
        for (field, text) in [
            ("avg_heart_rate", &self.avg_heart_rate),
            ("max_heart_rate", &self.max_heart_rate),
        ] {
            match optional(text, |t| t.parse::<i64>().ok().map(Value::from)) {
                Some(value) => {
                    patch.insert(field.into(), value);
                }
                None => errors.add(field, "Enter whole beats per minute, or leave it empty."),
            }
        }
        match optional(&self.energy_burned_kcal, |t| {
            parse_number(t).map(Value::from)
        }) {
            Some(value) => {
                patch.insert("energy_burned_kcal".into(), value);
            }
            None => errors.add(
                "energy_burned_kcal",
                "Enter kilocalories, or leave it empty.",
            ),
        }
        if errors.is_empty() {
            Ok(Value::Object(patch))
        } else {
            Err(errors)
        }
    }
}

/// An empty field is `null` (the value is cleared); otherwise `parse` decides.
fn optional(text: &str, parse: impl Fn(&str) -> Option<Value>) -> Option<Value> {
    let text = text.trim();
    if text.is_empty() {
        Some(Value::Null)
    } else {
        parse(text)
    }
}

/// A decimal number as typed (a comma is read as the decimal mark); finite only.
fn parse_number(text: &str) -> Option<f64> {
    let value: f64 = text.trim().replace(',', ".").parse().ok()?;
    value.is_finite().then_some(value)
}

/// `h:mm:ss`, `mm:ss` or whole seconds.
fn parse_duration(text: &str) -> Option<i64> {
    let parts: Vec<&str> = text.trim().split(':').collect();
    let numbers: Option<Vec<i64>> = parts
        .iter()
        .map(|p| p.parse::<i64>().ok().filter(|n| *n >= 0))
        .collect();
    let numbers = numbers?;
    match numbers.as_slice() {
        [s] => Some(*s),
        [m, s] if *s < 60 => m.checked_mul(60)?.checked_add(*s),
        [h, m, s] if *m < 60 && *s < 60 => h.checked_mul(3600)?.checked_add(m * 60 + s),
        _ => None,
    }
}

/// `10.5` rather than `10.500000`: up to three decimals, trailing zeros dropped.
fn trimmed_number(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The contract's field names as the form's.
fn form_field(field: &str) -> &str {
    match field {
        "distance_meters" => "distance_km",
        "duration_seconds" | "end_time" | "start_time" => "duration",
        other => other,
    }
}

#[derive(Template)]
#[template(path = "workout.html")]
struct EditPage {
    chrome: Chrome,
    id: String,
    summary: RunRow,
    form: EditForm,
    errors: FieldMessages,
    problem: Option<String>,
    saved: bool,
    revision: i64,
}

/// `?saved=` after an edit.
#[derive(Deserialize)]
pub(crate) struct SavedQuery {
    saved: Option<String>,
}

/// The user's live workout `id` and the zone to show it in; a 404 page for anyone else's.
async fn workout_of(
    context: &WebContext,
    viewer: &Viewer,
    id: Uuid,
) -> Result<(StoredWorkout, chrono_tz::Tz), PageError> {
    let user_id = viewer.user_id;
    let (workout, user) = context
        .store(move |store| Ok((store.workout(user_id, id)?, store.user(user_id)?)))
        .await?;
    let zone = user
        .and_then(|u| sync_core::running::parse_time_zone(&u.time_zone).ok())
        .unwrap_or(chrono_tz::Tz::UTC);
    Ok((workout.ok_or(PageError::NotFound)?, zone))
}

fn workout_id(raw: &str) -> Result<Uuid, PageError> {
    Uuid::try_parse(raw).map_err(|_| PageError::NotFound)
}

/// `GET /workouts/{id}`: the edit form.
#[get("/workouts/{id}")]
pub(crate) async fn edit_page(
    context: web::Data<WebContext>,
    viewer: Viewer,
    path: web::Path<String>,
    query: web::Query<SavedQuery>,
) -> Result<HttpResponse, PageError> {
    let id = workout_id(&path)?;
    let (workout, zone) = workout_of(&context, &viewer, id).await?;
    let view = EditPage {
        chrome: Chrome::signed_in(&context, &viewer, Section::Workouts, "Edit workout"),
        id: id.to_string(),
        summary: RunRow::of(&WorkoutView::from(&workout), zone),
        form: EditForm::of(&workout),
        errors: FieldMessages::default(),
        problem: None,
        saved: query.saved.is_some(),
        revision: workout.revision,
    };
    Ok(ok(&view))
}

/// Why an edit was not written.
enum Refusal {
    /// The workout changed since the form was opened (a sync or another tab).
    Stale,
    /// The values are not a valid workout.
    Invalid(FieldMessages),
}

/// `POST /workouts/{id}`: the edit, or the form again with what to fix.
#[post("/workouts/{id}")]
pub(crate) async fn edit(
    req: HttpRequest,
    context: web::Data<WebContext>,
    viewer: Viewer,
    path: web::Path<String>,
    form: web::Form<EditForm>,
) -> Result<HttpResponse, PageError> {
    csrf::check(&req, context.settings(), &viewer, &form.csrf)?;
    let id = workout_id(&path)?;
    let form = form.into_inner();
    let refusal = match form.patch() {
        Err(errors) => Refusal::Invalid(errors),
        Ok(patch) => {
            let expected: Option<i64> = form.revision.trim().parse().ok();
            let now = truncate_to_seconds(Utc::now());
            let user_id = viewer.user_id;
            let outcome = context
                .store(move |store| {
                    store.edit_workout(user_id, id, now, |current: &StoredWorkout| {
                        if expected != Some(current.revision) {
                            return Err(Refusal::Stale);
                        }
                        edited_row(current, &patch, now).map_err(|rejected| {
                            Refusal::Invalid(FieldMessages::from_errors(
                                rejected.errors,
                                form_field,
                            ))
                        })
                    })
                })
                .await?;
            match outcome {
                EditOutcome::Written(w) => {
                    log::info!(
                        "user {user_id} edited workout {id} on the dashboard (revision {})",
                        w.revision
                    );
                    return Ok(see_other(&format!("/workouts/{id}?saved=1")));
                }
                EditOutcome::Unchanged(_) => {
                    return Ok(see_other(&format!("/workouts/{id}?saved=1")))
                }
                EditOutcome::NotFound => return Err(PageError::NotFound),
                EditOutcome::Refused(refusal) => refusal,
            }
        }
    };
    let (workout, zone) = workout_of(&context, &viewer, id).await?;
    let (status, problem, errors, form) = match refusal {
        Refusal::Invalid(errors) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Nothing was saved: check the fields marked below.".to_owned(),
            errors,
            form,
        ),
        Refusal::Stale => (
            StatusCode::CONFLICT,
            "This workout changed since you opened it (a sync, or another window). Nothing was \
             saved; here it is as it is now."
                .to_owned(),
            FieldMessages::default(),
            EditForm::of(&workout),
        ),
    };
    let view = EditPage {
        chrome: Chrome::signed_in(&context, &viewer, Section::Workouts, "Edit workout"),
        id: id.to_string(),
        summary: RunRow::of(&WorkoutView::from(&workout), zone),
        revision: workout.revision,
        form: EditForm {
            revision: workout.revision.to_string(),
            ..form
        },
        errors,
        problem: Some(problem),
        saved: false,
    };
    Ok(render(status, &view))
}

#[derive(Template)]
#[template(path = "workout_delete.html")]
struct DeletePage {
    chrome: Chrome,
    id: String,
    summary: RunRow,
}

/// `GET /workouts/{id}/delete`: the confirmation.
#[get("/workouts/{id}/delete")]
pub(crate) async fn delete_page(
    context: web::Data<WebContext>,
    viewer: Viewer,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id = workout_id(&path)?;
    let (workout, zone) = workout_of(&context, &viewer, id).await?;
    let view = DeletePage {
        chrome: Chrome::signed_in(&context, &viewer, Section::Workouts, "Delete workout"),
        id: id.to_string(),
        summary: RunRow::of(&WorkoutView::from(&workout), zone),
    };
    Ok(ok(&view))
}

/// `POST /workouts/{id}/delete`: the workout becomes a tombstone on the change feed.
#[post("/workouts/{id}/delete")]
pub(crate) async fn delete(
    req: HttpRequest,
    context: web::Data<WebContext>,
    viewer: Viewer,
    path: web::Path<String>,
    form: web::Form<super::auth::CsrfForm>,
) -> Result<HttpResponse, PageError> {
    csrf::check(&req, context.settings(), &viewer, &form.csrf)?;
    let id = workout_id(&path)?;
    let now = truncate_to_seconds(Utc::now());
    let user_id = viewer.user_id;
    let outcome = context
        .store(move |store| {
            store.edit_workout(user_id, id, now, |current: &StoredWorkout| {
                Ok::<_, ()>(Some(tombstone(current, now)))
            })
        })
        .await?;
    match outcome {
        EditOutcome::NotFound => Err(PageError::NotFound),
        _ => {
            log::info!("user {user_id} deleted workout {id} on the dashboard");
            Ok(see_other("/workouts?deleted=1"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_read_as_a_runner_types_them() {
        assert_eq!(parse_duration("52:30"), Some(3150));
        assert_eq!(parse_duration("1:02:05"), Some(3725));
        assert_eq!(parse_duration("300"), Some(300));
        for bad in [
            "",
            "1:60",
            "1:2:60",
            "-5",
            "a:b",
            "1:02:03:04",
            "99999999999999999999",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_form_becomes_the_contracts_patch_or_names_what_to_fix() {
        let form = EditForm {
            distance_km: "10,5".into(),
            duration: "52:30".into(),
            avg_heart_rate: "150".into(),
            max_heart_rate: String::new(),
            energy_burned_kcal: "612.5".into(),
            ..EditForm::default()
        };
        let patch = form.patch().unwrap();
        assert_eq!(patch["distance_meters"], Value::from(10_500.0));
        assert_eq!(patch["duration_seconds"], Value::from(3150));
        assert_eq!(patch["avg_heart_rate"], Value::from(150));
        assert_eq!(patch["max_heart_rate"], Value::Null);
        let bad = EditForm {
            distance_km: "far".into(),
            duration: "soon".into(),
            avg_heart_rate: "1.5".into(),
            energy_burned_kcal: "NaN".into(),
            ..EditForm::default()
        };
        let errors = bad.patch().unwrap_err();
        for field in [
            "distance_km",
            "duration",
            "avg_heart_rate",
            "energy_burned_kcal",
        ] {
            assert!(errors.invalid(field), "{field}");
        }
        assert!(!errors.invalid("max_heart_rate"));
    }

    #[test]
    fn numbers_are_shown_without_trailing_zeros() {
        assert_eq!(trimmed_number(10.5), "10.5");
        assert_eq!(trimmed_number(10.0), "10");
        assert_eq!(trimmed_number(5.1234), "5.123");
    }
}
