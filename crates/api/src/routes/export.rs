//! `GET /export?format=json|csv`: a runner's data as a download, streamed.
//!
//! A task walks the store a page at a time (keyset pagination, [`EXPORT_PAGE`] rows a query,
//! each read and serialised on the blocking pool) and hands the pages to the response through
//! a channel of [`PAGES_IN_FLIGHT`], so the server holds a few pages whatever the account's
//! size, and a client that reads slowly slows the walk instead of filling memory. Each page is
//! its own short read: no transaction, connection or thread is held for the length of a
//! download, and a client that takes nothing for [`STALL_LIMIT`] is let go.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::web::Bytes;
use actix_web::{get, web, HttpResponse};
use chrono::Utc;
use futures_core::Stream;
use serde::Deserialize;
use sync_core::time::truncate_to_seconds;
use sync_core::wire::{csv_row, ExportBody, WorkoutView, EXPORT_CSV_HEADER};
use sync_store::{Store, User, EXPORT_PAGE};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::auth::user_view;
use super::history::sync_view;
use crate::auth::AuthUser;
use crate::error::{blocking, ApiError};
use crate::openapi::{BadRequest, CommonErrors, NotFound, Unauthorized};
use crate::state::AppState;

/// Pages serialised ahead of the client (a page of 1,000 workouts is about 400 KiB).
const PAGES_IN_FLIGHT: usize = 2;
/// How long the client may leave a page untaken before the download is abandoned.
const STALL_LIMIT: Duration = Duration::from_secs(60);

/// `GET /export` parameters.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `json` (the default: workouts, goals and sync history) or `csv` (workouts, with a
    /// header row).
    #[param(value_type = Option<ExportFormat>, inline)]
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
    download(&state, auth.user_id, query.format.as_deref()).await
}

/// The runner's export in `format` (`json` when `None`) as a streamed attachment: the API's
/// `GET /export` and the dashboard's download both answer with it.
pub async fn download(
    state: &AppState,
    user_id: Uuid,
    format: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let format = ExportFormat::parse(format)?;
    let store = state.store.clone();
    // Read before the first byte, so that a failure here is still a proper error response.
    let user = blocking(move || {
        store
            .user(user_id)?
            .ok_or(ApiError::NotFound("user not found"))
    })
    .await?;
    let now = truncate_to_seconds(Utc::now());
    let (chunks, receiver) = mpsc::channel(PAGES_IN_FLIGHT);
    let complete = Arc::new(AtomicBool::new(false));
    let writer = Writer {
        store: state.store.clone(),
        user_id: user.id,
        chunks,
    };
    let finished = complete.clone();
    actix_web::rt::spawn(async move {
        let user_id = writer.user_id;
        let written = match format {
            ExportFormat::Json => writer.json(user, now).await,
            ExportFormat::Csv => writer.csv().await,
        };
        match written {
            Ok(()) => {
                finished.store(true, Ordering::Release);
                log::info!("export user={user_id} format={format:?} done");
            }
            Err(Stop::ClientGone) => log::info!("export user={user_id}: the client left"),
            Err(Stop::Stalled) => log::info!(
                "export user={user_id}: the client took nothing for {}s; abandoned",
                STALL_LIMIT.as_secs()
            ),
            Err(Stop::Failed(e)) => log::warn!("export user={user_id} failed mid-stream: {e}"),
        }
        // Dropping the sender ends the body; without `finished` the stream ends in an error.
    });
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
        .streaming(ExportStream {
            chunks: receiver,
            complete,
            failed: false,
        }))
}

/// Why the export stopped early.
enum Stop {
    /// The response was dropped: nobody is reading.
    ClientGone,
    /// The client took no chunk for [`STALL_LIMIT`].
    Stalled,
    /// A read failed.
    Failed(ApiError),
}

/// Walks the user's data a page at a time. Each page is read and serialised on the blocking
/// pool; only the hand-over to the response waits here, on an async task, so a slow reader
/// holds a task and a couple of pages, never a thread or a database connection.
struct Writer {
    store: Arc<Store>,
    user_id: Uuid,
    chunks: mpsc::Sender<Bytes>,
}

impl Writer {
    async fn send(&self, bytes: Vec<u8>) -> Result<(), Stop> {
        if bytes.is_empty() {
            return Ok(());
        }
        match tokio::time::timeout(STALL_LIMIT, self.chunks.send(Bytes::from(bytes))).await {
            Err(_) => Err(Stop::Stalled),
            Ok(Err(_)) => Err(Stop::ClientGone),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Every live workout, newest first: one indexed page a query, one chunk a page (JSON
    /// objects separated by commas, or CSV rows).
    async fn workouts(&self, format: ExportFormat) -> Result<(), Stop> {
        let mut cursor = None;
        let mut first = true;
        loop {
            let (store, user_id) = (self.store.clone(), self.user_id);
            let (bytes, next) = blocking(move || {
                let page = store.export_workouts_page(user_id, cursor)?;
                let mut out = Vec::with_capacity(page.workouts.len() * 512);
                for workout in &page.workouts {
                    let view = WorkoutView::from(workout);
                    match format {
                        ExportFormat::Json => {
                            if !std::mem::take(&mut first) {
                                out.push(b',');
                            }
                            serde_json::to_writer(&mut out, &view).map_err(unserialisable)?;
                        }
                        ExportFormat::Csv => out.extend_from_slice(csv_row(&view).as_bytes()),
                    }
                }
                Ok((out, page.next_cursor))
            })
            .await
            .map_err(Stop::Failed)?;
            first = first && bytes.is_empty();
            self.send(bytes).await?;
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// The JSON export, written as [`ExportBody`] serialises: the same keys in the same order
    /// (the tests read the download back as an `ExportBody`).
    async fn json(&self, user: User, now: chrono::DateTime<Utc>) -> Result<(), Stop> {
        let mut head = b"{\"exported_at\":".to_vec();
        let view = user_view(user);
        serde_json::to_writer(&mut head, &sync_core::time::format_server_time(now))
            .and_then(|()| {
                head.extend_from_slice(b",\"user\":");
                serde_json::to_writer(&mut head, &view)
            })
            .map_err(|e| Stop::Failed(unserialisable(e)))?;
        head.extend_from_slice(b",\"workouts\":[");
        self.send(head).await?;
        self.workouts(ExportFormat::Json).await?;

        let (store, user_id) = (self.store.clone(), self.user_id);
        let goals = blocking(move || {
            let mut out = b"],\"goals\":".to_vec();
            serde_json::to_writer(&mut out, &store.goals(user_id)?).map_err(unserialisable)?;
            out.extend_from_slice(b",\"syncs\":[");
            Ok(out)
        })
        .await
        .map_err(Stop::Failed)?;
        self.send(goals).await?;

        let mut before = None;
        let mut first = true;
        loop {
            let (store, user_id) = (self.store.clone(), self.user_id);
            let (bytes, last, full) = blocking(move || {
                let page = store.sync_history_page(user_id, before)?;
                let full = page.len() as i64 == EXPORT_PAGE;
                let last = page.last().map(|r| r.seq);
                let mut out = Vec::with_capacity(page.len() * 256);
                for record in page {
                    if !std::mem::take(&mut first) {
                        out.push(b',');
                    }
                    serde_json::to_writer(&mut out, &sync_view(record)).map_err(unserialisable)?;
                }
                Ok((out, last, full))
            })
            .await
            .map_err(Stop::Failed)?;
            first = first && bytes.is_empty();
            self.send(bytes).await?;
            if !full {
                break;
            }
            before = last;
        }
        self.send(b"]}".to_vec()).await
    }

    /// The CSV export: a header row, then one row per live workout.
    async fn csv(&self) -> Result<(), Stop> {
        self.send(format!("{EXPORT_CSV_HEADER}\r\n").into_bytes())
            .await?;
        self.workouts(ExportFormat::Csv).await
    }
}

fn unserialisable(e: serde_json::Error) -> ApiError {
    ApiError::Internal(format!("export not serialisable: {e}"))
}

/// The writer's chunks as the response body. When the writer stops before the end, the body
/// ends in an error (the connection is cut without the last chunk), so the client sees a
/// failed download, never a short file that looks whole.
struct ExportStream {
    chunks: mpsc::Receiver<Bytes>,
    complete: Arc<AtomicBool>,
    failed: bool,
}

impl Stream for ExportStream {
    type Item = Result<Bytes, ApiError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.chunks.poll_recv(cx) {
            Poll::Ready(Some(chunk)) => Poll::Ready(Some(Ok(chunk))),
            Poll::Ready(None) if self.complete.load(Ordering::Acquire) || self.failed => {
                Poll::Ready(None)
            }
            Poll::Ready(None) => {
                self.failed = true;
                Poll::Ready(Some(Err(ApiError::Internal(
                    "the export stopped before its end".into(),
                ))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
