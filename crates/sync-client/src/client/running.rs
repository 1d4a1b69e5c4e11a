//! The runner's numbers: the year's goal (read and set), its progress, the dashboard and the
//! insights. The bodies are `sync_core::running`'s own; every read goes through the same
//! recovery rules as a sync (a refreshed token, retries, offline).

use reqwest::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;
use sync_core::running::{
    DashboardBody, Goal, GoalProgressBody, GoalWithProgressBody, InsightsBody, SetGoalBody,
};

use super::transport::Auth;
use super::SyncClient;
use crate::error::ClientError;

impl SyncClient {
    /// `GET /goals/{year}`: the year's goal (the server's default when none is set) and the
    /// progress towards it.
    pub async fn goal(&self, year: i32) -> Result<GoalWithProgressBody, ClientError> {
        self.read(&format!("/goals/{year}"), None, "goal").await
    }

    /// `GET /goals/{year}/progress`: the goal with every number about it (pace, streaks,
    /// achievements, totals).
    pub async fn goal_progress(&self, year: i32) -> Result<GoalProgressBody, ClientError> {
        self.read(&format!("/goals/{year}/progress"), None, "goal progress")
            .await
    }

    /// `PUT /goals/{year} {target_days}`: sets (or replaces) the year's goal and returns it
    /// as stored. The server checks it: a year outside 2000–2100 or a target outside 1 to the
    /// days of the year is [`ClientError::Refused`] (422) with the server's message per field
    /// (check it first with [`sync_core::running::validate_goal`] to send nothing doomed).
    pub async fn set_goal(&self, year: i32, target_days: u16) -> Result<Goal, ClientError> {
        self.ensure_logged_in()?;
        let url = self.url(&format!("/goals/{year}"));
        let body = SetGoalBody { target_days };
        let reply = self
            .execute(Auth::Bearer, || {
                self.http
                    .put(&url)
                    .header(CONTENT_TYPE, "application/json")
                    .json(&body)
            })
            .await?;
        reply.decode("goal")
    }

    /// `GET /stats/dashboard?year=`: the year's goal, progress, totals, recent runs, chart,
    /// pace and streaks. Without a year, the server's "this year" in the runner's time zone.
    pub async fn dashboard(&self, year: Option<i32>) -> Result<DashboardBody, ClientError> {
        self.read("/stats/dashboard", year, "dashboard").await
    }

    /// `GET /stats/insights?year=`: the year's streaks, monthly, weekly and pace series,
    /// personal bests and achievements. Without a year, this year in the runner's zone.
    pub async fn insights(&self, year: Option<i32>) -> Result<InsightsBody, ClientError> {
        self.read("/stats/insights", year, "insights").await
    }

    /// A `GET` of `path` (with `?year=` when given) decoded as `T`.
    async fn read<T: DeserializeOwned>(
        &self,
        path: &str,
        year: Option<i32>,
        what: &str,
    ) -> Result<T, ClientError> {
        self.ensure_logged_in()?;
        let url = self.url(path);
        let reply = self
            .execute(Auth::Bearer, || {
                let request = self.http.get(&url);
                match year {
                    Some(year) => request.query(&[("year", year)]),
                    None => request,
                }
            })
            .await?;
        reply.decode(what)
    }
}
