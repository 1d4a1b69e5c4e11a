//! Pull: the change feed read from the stored cursor to its end and applied to the cache.

use chrono::Utc;
use sync_core::ChangeCursor;

use super::transport::Auth;
use super::SyncClient;
use crate::cache::FeedChange;
use crate::error::ClientError;
use sync_core::wire::ChangesPage;

/// What a pull did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PullReport {
    /// Pages of the change feed read.
    pub pages: usize,
    /// Workouts new to this cache (from other devices).
    pub added: usize,
    /// Local copies replaced by a newer server version.
    pub updated: usize,
    /// Local copies deleted because they were deleted on the server.
    pub deleted: usize,
    /// Changes that needed nothing here.
    pub unchanged: usize,
}

impl PullReport {
    /// Changes that altered the cache.
    pub fn applied(&self) -> usize {
        self.added + self.updated + self.deleted
    }
}

impl SyncClient {
    /// Reads the change feed from the stored cursor to its end (following `has_more`) and
    /// applies it: workouts from other devices come in, server-side edits replace local copies,
    /// deletions made elsewhere mark local copies deleted. The cursor is stored with each page.
    pub async fn pull(&self) -> Result<PullReport, ClientError> {
        self.run(self.pull_inner(), PullReport::applied).await
    }

    async fn pull_inner(&self) -> Result<PullReport, ClientError> {
        self.ensure_logged_in()?;
        let mut cursor = self.cache.change_cursor()?;
        let limit = self.config.changes_page.clamp(1, 1000).to_string();
        let url = self.url("/workouts/changes");
        let mut report = PullReport::default();
        loop {
            let reply = self
                .execute(Auth::Bearer, || {
                    let mut request = self.http.get(&url).query(&[("limit", &limit)]);
                    if let Some(cursor) = &cursor {
                        request = request.query(&[("cursor", cursor)]);
                    }
                    request
                })
                .await?;
            let page: ChangesPage = reply.decode("change feed")?;
            let next = ChangeCursor::decode(&page.next_cursor).map_err(|_| {
                ClientError::Protocol(format!("malformed next_cursor {:?}", page.next_cursor))
            })?;
            let previous = cursor
                .as_deref()
                .and_then(|c| ChangeCursor::decode(c).ok())
                .map_or(0, |c| c.after_seq);
            let changes: Vec<FeedChange> = page
                .changes
                .into_iter()
                .map(|c| FeedChange {
                    deleted: c.deleted,
                    workout: c.workout,
                })
                .collect();
            let applied = self
                .cache
                .apply_changes(&changes, &page.next_cursor, Utc::now())?;
            report.pages += 1;
            report.added += applied.added;
            report.updated += applied.updated;
            report.deleted += applied.deleted;
            report.unchanged += applied.unchanged;
            if !page.has_more {
                break;
            }
            if next.after_seq <= previous {
                return Err(ClientError::Protocol(
                    "the change feed says has_more but its cursor did not advance".into(),
                ));
            }
            cursor = Some(page.next_cursor);
        }
        Ok(report)
    }
}
