//! `/syncs`: the sync history: which syncs came in, when, in which mode, and what each did.

use actix_web::{get, web, HttpResponse};
use askama::Template;
use chrono_tz::Tz;
use sync_store::{SyncRecord, MAX_HISTORY_PAGE};

use super::{ok, Chrome, Section};
use crate::context::WebContext;
use crate::error::PageError;
use crate::format;
use crate::session::Viewer;

/// A sync as a row of the table.
struct SyncRow {
    at: String,
    mode: String,
    created: usize,
    updated: usize,
    unchanged: usize,
    deleted: usize,
    conflicts: usize,
    rejected: usize,
}

impl SyncRow {
    fn of(record: &SyncRecord, zone: Tz) -> SyncRow {
        let c = &record.counts;
        SyncRow {
            at: format::local_time(record.created_at, zone),
            mode: record.mode.clone(),
            created: c.created,
            updated: c.updated,
            unchanged: c.unchanged,
            deleted: c.deleted,
            conflicts: c.conflicts,
            rejected: c.rejected,
        }
    }
}

#[derive(Template)]
#[template(path = "syncs.html")]
struct SyncsPage {
    chrome: Chrome,
    syncs: Vec<SyncRow>,
    limit: i64,
}

/// `GET /syncs`: the newest [`MAX_HISTORY_PAGE`] syncs.
#[get("/syncs")]
pub(crate) async fn page(
    context: web::Data<WebContext>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    let user_id = viewer.user_id;
    let (history, user) = context
        .store(move |store| {
            Ok((
                store.sync_history(user_id, MAX_HISTORY_PAGE)?,
                store.user(user_id)?,
            ))
        })
        .await?;
    let zone = user
        .and_then(|u| sync_core::running::parse_time_zone(&u.time_zone).ok())
        .unwrap_or(Tz::UTC);
    let view = SyncsPage {
        chrome: Chrome::signed_in(&context, &viewer, Section::Syncs, "Syncs"),
        syncs: history.iter().map(|r| SyncRow::of(r, zone)).collect(),
        limit: MAX_HISTORY_PAGE,
    };
    Ok(ok(&view))
}
