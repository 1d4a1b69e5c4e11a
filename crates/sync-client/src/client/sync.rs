//! Sync: queued workouts (or all of them) pushed in batches, each persisted with its
//! idempotency key before it is sent, and the server's answers applied to the cache.

use chrono::Utc;
use reqwest::header::CONTENT_TYPE;
use sync_core::{Conflict, SyncMode, SyncResponse};

use super::transport::Auth;
use super::SyncClient;
use crate::cache::{PendingBatch, RejectionReasons};
use crate::error::ClientError;

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncReport {
    /// Requests (logical batches) confirmed by the server, including batches left over from
    /// an earlier, interrupted sync.
    pub batches: usize,
    /// Of those, how many the server answered from its idempotency store (a retry of a batch
    /// it had already applied).
    pub replayed_batches: usize,
    /// Workouts new on the server.
    pub created: usize,
    /// Workouts the server updated.
    pub updated: usize,
    /// Workouts the server already had as they are.
    pub unchanged: usize,
    /// Deletions applied on the server.
    pub deleted: usize,
    /// Workouts where the server's copy won; the local copy now is the server's.
    pub conflicts: Vec<Conflict>,
    /// Workouts the server rejected, with its reasons (they stay queued).
    pub rejected: Vec<(String, RejectionReasons)>,
    /// Workouts changed locally while their batch was out (still queued).
    pub changed_meanwhile: usize,
}

impl SyncReport {
    /// Workouts and deletions now in agreement with the server.
    pub fn synced(&self) -> usize {
        self.created + self.updated + self.unchanged + self.deleted + self.conflicts.len()
    }
}

impl SyncClient {
    /// Sends queued workouts (incremental: what changed since the last sync) or everything in
    /// the cache (full) to the server, in batches, and applies its answers to the cache.
    ///
    /// Batches left unconfirmed by an earlier run (a crash, a lost response, offline) are sent
    /// first, with their original key and body. The status goes `Syncing` (progress per batch,
    /// ending at 1.0) then `Success` or `Error`.
    pub async fn sync(&self, mode: SyncMode) -> Result<SyncReport, ClientError> {
        self.run(self.sync_inner(mode), SyncReport::synced).await
    }

    async fn sync_inner(&self, mode: SyncMode) -> Result<SyncReport, ClientError> {
        self.ensure_logged_in()?;
        let batch_size = self.config.batch_size.max(1);
        let leftover = self.cache.pending_batches()?;
        let queued = self.cache.count_to_sync(mode)?;
        let mut total = leftover.len() + queued.div_ceil(batch_size);
        let mut done = 0usize;
        let mut report = SyncReport::default();
        let progress = |done: usize, total: usize| {
            if total > 0 {
                self.status.progress(done as f64 / total as f64);
            }
        };

        for batch in &leftover {
            log::info!("resending unconfirmed batch {}", batch.key);
            self.send_batch(batch, &mut report).await?;
            done += 1;
            progress(done, total);
        }

        let mut after: Option<String> = None;
        loop {
            let key = format!("rdsync_{}", uuid::Uuid::new_v4().simple());
            let claimed =
                self.cache
                    .claim_batch(mode, batch_size, after.as_deref(), &key, Utc::now())?;
            let Some((batch, last_id)) = claimed else {
                break;
            };
            after = Some(last_id);
            self.send_batch(&batch, &mut report).await?;
            done += 1;
            total = total.max(done);
            progress(done, total);
        }
        self.cache.set_last_sync_at(Utc::now())?;
        Ok(report)
    }

    async fn send_batch(
        &self,
        batch: &PendingBatch,
        report: &mut SyncReport,
    ) -> Result<(), ClientError> {
        let url = self.url("/workouts/sync");
        let result = self
            .execute(Auth::Bearer, || {
                self.http
                    .post(&url)
                    .header(CONTENT_TYPE, "application/json")
                    .body(batch.body.clone())
            })
            .await;
        let reply = match result {
            Ok(reply) => reply,
            Err(e @ ClientError::Refused { .. }) => {
                // Refused as a whole: nothing was applied and the same body would be refused
                // again. Release its workouts (they stay queued) and forget the key.
                self.cache.drop_batch(&batch.key)?;
                return Err(e);
            }
            // Offline, server trouble, auth: the batch stays persisted with its key, and the
            // next sync sends it again unchanged.
            Err(e) => return Err(e),
        };
        let response: SyncResponse = reply.decode("sync response")?;
        let replayed = reply
            .headers
            .get("x-idempotent-replayed")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let outcome = self
            .cache
            .confirm_batch(&batch.key, &response, Utc::now())?;
        report.batches += 1;
        report.replayed_batches += usize::from(replayed);
        report.created += response.created;
        report.updated += response.updated;
        report.unchanged += response.unchanged;
        report.deleted += response.deleted;
        report.conflicts.extend(response.conflicts);
        report.rejected.extend(outcome.rejected);
        report.changed_meanwhile += outcome.changed_meanwhile;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sync-core wire types read back what the server writes, and write it again byte
    /// for byte (their `Deserialize` derives change nothing about serialisation).
    #[test]
    fn a_sync_response_round_trips_byte_for_byte() {
        let text = r#"{"success":true,"sync_id":"6f1c0d38-7c59-4a26-9a7e-3f7d1c1e8a11","server_timestamp":"2024-01-15T09:00:01Z","created":1,"updated":0,"unchanged":0,"deleted":0,"conflicts":[{"client_id":"a","server_id":"9b2e6c1a-2f8e-4d0a-8f5e-0c3d2b1a0f9e","reason":"data_mismatch","resolution":"server_wins","fields":["distance_meters","source"],"server_workout":{"id":"9b2e6c1a-2f8e-4d0a-8f5e-0c3d2b1a0f9e","client_id":"a","date":"2024-01-15","start_time":"2024-01-15T08:00:00.250Z","end_time":"2024-01-15T08:35:00Z","duration_seconds":2100,"distance_meters":5012.7,"avg_pace_seconds_per_km":418.94,"avg_heart_rate":145,"max_heart_rate":null,"energy_burned_kcal":350.0,"source":"apple_watch","revision":2,"created_at":"2024-01-15T09:00:00Z","updated_at":"2024-01-15T09:00:01Z"}}],"rejected":[{"index":2,"client_id":null,"errors":{"start_time":["is required"]}}],"next_cursor":"YzE6Mw"}"#;
        let response: SyncResponse = serde_json::from_str(text).unwrap();
        assert_eq!(
            response.conflicts[0].fields,
            vec!["distance_meters", "source"]
        );
        assert_eq!(serde_json::to_string(&response).unwrap(), text);

        // Field names a newer server might add are left out, not an error.
        let newer = text.replace(
            r#""fields":["distance_meters","source"]"#,
            r#""fields":["distance_meters","cadence"]"#,
        );
        let response: SyncResponse = serde_json::from_str(&newer).unwrap();
        assert_eq!(response.conflicts[0].fields, vec!["distance_meters"]);
    }
}
