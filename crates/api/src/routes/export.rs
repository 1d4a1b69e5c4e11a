//! `GET /export?format=json|csv`: a runner's data as a download, streamed.
//!
//! A blocking task walks the store a page at a time (keyset pagination, [`EXPORT_PAGE`] rows a
//! query) and hands the serialised pages to the response through a channel of
//! [`PAGES_IN_FLIGHT`] chunks, so the server holds a page or two whatever the account's size,
//! and a client that reads slowly slows the walk instead of filling memory. Each page is its
//! own short read: no transaction or connection is held for the length of a download.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::web::Bytes;
use actix_web::{get, web, HttpResponse};
use chrono::Utc;
use futures_core::Stream;
use serde::Deserialize;
use sync_core::time::truncate_to_seconds;
use sync_core::wire::{csv_row, ExportBody, WorkoutView, EXPORT_CSV_HEADER};
use sync_store::{Store, StoreError, User, EXPORT_PAGE};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::auth::user_view;
use super::history::sync_view;
use crate::auth::AuthUser;
use crate::error::{blocking, ApiError};
use crate::openapi::{BadRequest, CommonErrors, NotFound, Unauthorized};
use crate::state::AppState;

/// Chunks serialised ahead of the client.
const PAGES_IN_FLIGHT: usize = 2;
/// A chunk is sent once it holds this much (a page of workouts is a few hundred KiB).
const CHUNK_BYTES: usize = 64 * 1024;

/// `GET /export` parameters.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `json` (the default: workouts, goals and sync history) or `csv` (workouts, with a
    /// header row).
    #[param(value_type = Option<ExportFormat>)]
    format: Option<String>,
}

/// The export's formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// One JSON document ([`ExportBody`]).
    Json,
    /// The live workouts as CSV, one row each after a header row.
    Csv,
}

impl ExportFormat {
    fn parse(raw: Option<&str>) -> Result<ExportFormat, ApiError> {
        match raw {
            None | Some("json") => Ok(ExportFormat::Json),
            Some("csv") => Ok(ExportFormat::Csv),
            Some(_) => Err(ApiError::BadRequest {
                code: "invalid_parameter",
                message: "format must be \"json\" or \"csv\"".into(),
                errors: Some(
                    [("format".to_owned(), vec!["must be json or csv".to_owned()])].into(),
                ),
            }),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Json => "application/json",
            ExportFormat::Csv => "text/csv; charset=utf-8",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            ExportFormat::Json => "json",
            ExportFormat::Csv => "csv",
        }
    }
}

/// `GET /export?format=json|csv` → 200, an attachment streamed as it is read.
#[utoipa::path(operation_id = "export_data", tag = "workouts", params(ExportParams),
    responses(
        (status = 200, description = "The download (`Content-Disposition: attachment`). JSON: the account, every live workout, the goals and the whole sync history; CSV: the live workouts under a header row",
            content((ExportBody = "application/json"), (String = "text/csv")),
            headers(("Content-Disposition" = String, description = "attachment; filename=\"running-days-export-YYYY-MM-DD.json\""))),
        BadRequest, Unauthorized, NotFound, CommonErrors),
    security(("bearer_auth" = [])))]
#[get("/export")]
pub async fn export(
    state: web::Data<AppState>,
    auth: AuthUser,
    query: web::Query<ExportParams>,
) -> Result<HttpResponse, ApiError> {
    let format = ExportFormat::parse(query.format.as_deref())?;
    let store = state.store.clone();
    // Read before the first byte, so that a failure here is still a proper error response.
    let user = blocking(move || {
        store
            .user(auth.user_id)?
            .ok_or(ApiError::NotFound("user not found"))
    })
    .await?;
    let now = truncate_to_seconds(Utc::now());
    let (chunks, receiver) = mpsc::channel(PAGES_IN_FLIGHT);
    let store = state.store.clone();
    let user_id = user.id;
    let writer = crate::request_id::propagate(move || {
        let mut out = ChunkSender {
            buffer: Vec::with_capacity(CHUNK_BYTES),
            chunks,
        };
        let written = match format {
            ExportFormat::Json => write_json(&store, user, now, &mut out),
            ExportFormat::Csv => write_csv(&store, user_id, &mut out),
        };
        match written.and_then(|()| out.flush()) {
            Ok(()) => log::info!("export user={user_id} format={format:?} done"),
            Err(Stop::ClientGone) => log::info!("export user={user_id}: the client left"),
            Err(Stop::Store(e)) => {
                log::warn!("export user={user_id} failed mid-stream: {e}");
                // The response is cut off without its end, so the client sees a failed
                // download, never a short file that looks whole.
                let _ = out.chunks.blocking_send(Err(ApiError::from(e)));
            }
        }
    });
    tokio::task::spawn_blocking(writer);
    let filename = format!(
        "running-days-export-{}.{}",
        now.format("%Y-%m-%d"),
        format.extension()
    );
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(filename)],
        })
        .streaming(ReceiverStream(receiver)))
}

/// Why the walk stopped early.
enum Stop {
    /// The response was dropped: nobody is reading.
    ClientGone,
    Store(StoreError),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Store(e)
    }
}

/// Collects output and hands it on in chunks of about [`CHUNK_BYTES`].
struct ChunkSender {
    buffer: Vec<u8>,
    chunks: mpsc::Sender<Result<Bytes, ApiError>>,
}

impl ChunkSender {
    fn put(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn put_json<T: serde::Serialize>(&mut self, value: &T) -> Result<(), Stop> {
        serde_json::to_writer(&mut self.buffer, value)
            .map_err(|e| Stop::Store(StoreError::Corrupt(format!("not serialisable: {e}"))))?;
        if self.buffer.len() >= CHUNK_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Stop> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK_BYTES),
        ));
        self.chunks
            .blocking_send(Ok(chunk))
            .map_err(|_| Stop::ClientGone)
    }
}

/// Every live workout of the user, newest first, one page a query.
fn for_each_workout(
    store: &Store,
    user_id: Uuid,
    mut each: impl FnMut(&WorkoutView) -> Result<(), Stop>,
) -> Result<(), Stop> {
    let mut cursor = None;
    loop {
        let page = store.export_workouts_page(user_id, cursor)?;
        for workout in &page.workouts {
            each(&WorkoutView::from(workout))?;
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(()),
        }
    }
}

/// The JSON export, written as [`ExportBody`] serialises: the same keys in the same order.
fn write_json(
    store: &Store,
    user: User,
    now: chrono::DateTime<Utc>,
    out: &mut ChunkSender,
) -> Result<(), Stop> {
    let user_id = user.id;
    out.put(b"{\"exported_at\":")?;
    out.put_json(&sync_core::time::format_server_time(now))?;
    out.put(b",\"user\":")?;
    out.put_json(&user_view(user))?;
    out.put(b",\"workouts\":[")?;
    let mut first = true;
    for_each_workout(store, user_id, |w| {
        if !std::mem::take(&mut first) {
            out.put(b",")?;
        }
        out.put_json(w)
    })?;
    out.put(b"],\"goals\":")?;
    out.put_json(&store.goals(user_id)?)?;
    out.put(b",\"syncs\":[")?;
    let mut before = None;
    let mut first = true;
    loop {
        let page = store.sync_history_page(user_id, before)?;
        let full = page.len() as i64 == EXPORT_PAGE;
        before = page.last().map(|r| r.seq);
        for record in page {
            if !std::mem::take(&mut first) {
                out.put(b",")?;
            }
            out.put_json(&sync_view(record))?;
        }
        if !full {
            break;
        }
    }
    out.put(b"]}")
}

/// The CSV export: a header row, then one row per live workout.
fn write_csv(store: &Store, user_id: Uuid, out: &mut ChunkSender) -> Result<(), Stop> {
    out.put(EXPORT_CSV_HEADER.as_bytes())?;
    out.put(b"\r\n")?;
    for_each_workout(store, user_id, |w| out.put(csv_row(w).as_bytes()))
}

/// The writer's chunks as the response body.
struct ReceiverStream(mpsc::Receiver<Result<Bytes, ApiError>>);

impl Stream for ReceiverStream {
    type Item = Result<Bytes, ApiError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}
