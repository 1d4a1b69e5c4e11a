//! A runner's data: the export (`GET /export`), written to a file as it downloads, and the
//! account's deletion (`DELETE /auth/me`).

use std::io::Write;
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use sync_core::wire::DeleteAccount;

use super::transport::Auth;
use super::SyncClient;
use crate::error::ClientError;

/// How long an export may take to download: it grows with the account (about 40 MB for
/// 100,000 workouts), so the client's per-request timeout does not apply.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(3600);

/// The export's formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON document: the account, every workout, the goals and the sync history
    /// (`sync_core::wire::ExportBody`).
    Json,
    /// The workouts as CSV under a header row.
    Csv,
}

impl ExportFormat {
    /// The `format` parameter's value.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Json => "json",
            ExportFormat::Csv => "csv",
        }
    }
}

impl SyncClient {
    /// Downloads the account's export into `out` as it arrives (never all of it in memory)
    /// and returns the bytes written. A download that breaks off is
    /// [`ClientError::Interrupted`]: what `out` holds then is not a whole export.
    pub async fn export(
        &self,
        format: ExportFormat,
        out: &mut impl Write,
    ) -> Result<u64, ClientError> {
        self.ensure_logged_in()?;
        let url = self.url("/export");
        let mut response = self
            .open(|| {
                self.http
                    .get(&url)
                    .query(&[("format", format.as_str())])
                    .timeout(EXPORT_TIMEOUT)
            })
            .await?;
        let mut written = 0u64;
        loop {
            let chunk = response
                .chunk()
                .await
                .map_err(|e| ClientError::Interrupted(e.to_string()))?;
            let Some(chunk) = chunk else {
                return Ok(written);
            };
            out.write_all(&chunk).map_err(ClientError::Write)?;
            written += chunk.len() as u64;
        }
    }

    /// Erases the account on the server, with everything it holds, and forgets the login. A
    /// wrong password is [`ClientError::BadCredentials`] and changes nothing.
    pub async fn delete_account(&self, password: &str) -> Result<(), ClientError> {
        self.ensure_logged_in()?;
        let url = self.url("/auth/me");
        let body = DeleteAccount {
            password: password.to_owned(),
        };
        self.execute(Auth::Bearer, || {
            self.http
                .delete(&url)
                .header(CONTENT_TYPE, "application/json")
                .json(&body)
        })
        .await?;
        self.cache.forget_tokens()?;
        Ok(())
    }
}
