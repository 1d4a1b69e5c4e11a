//! How much sync work one instance does at once, weighed by the bytes of the bodies.
//!
//! A sync's memory is mostly what it makes of its body: the parsed workouts, the validated
//! ones, the rows written and the response, together about ten times the body's size (a
//! 1,000-workout sync of 330 kB holds about 3 MiB while it runs). Sixteen of them at once
//! doubled the server's memory, and ran no faster than four: the database, or SQLite's one
//! writer, takes them one or two at a time anyway (docs/benchmarks.md, optimisation 12). So a
//! sync whose body has arrived takes its bytes from `SYNC_BUDGET_BYTES` before it is parsed,
//! waits its turn in order when the budget is spent, and gives them back when its response is
//! made. Small syncs take a kibibyte each and never notice; a body larger than the whole
//! budget takes all of it and runs alone. A sync that cannot start within
//! `SYNC_BUDGET_WAIT_MS` is answered 503 with `Retry-After`, with nothing applied.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// The budget is counted in kibibytes (a semaphore's permits are a `u32`).
const UNIT_BYTES: usize = 1024;
/// Seconds a refused sync should wait before retrying.
const RETRY_AFTER_SECS: u64 = 1;

/// The bytes of sync bodies being worked on at once, against `SYNC_BUDGET_BYTES`.
#[derive(Debug, Clone)]
pub struct SyncBudget {
    units: Arc<Semaphore>,
    total_units: u32,
    wait: Duration,
}

/// A sync's share of the budget, given back when dropped.
#[derive(Debug)]
pub struct SyncTurn {
    _permit: OwnedSemaphorePermit,
}

impl SyncBudget {
    /// A budget of `bytes` (at least one unit), waited for at most `wait`.
    pub fn new(bytes: usize, wait: Duration) -> SyncBudget {
        let total_units = u32::try_from(bytes.div_ceil(UNIT_BYTES))
            .unwrap_or(u32::MAX)
            .max(1);
        SyncBudget {
            units: Arc::new(Semaphore::new(total_units as usize)),
            total_units,
            wait,
        }
    }

    /// The units a body of `bytes` takes: at least one, at most the whole budget.
    fn units_for(&self, bytes: usize) -> u32 {
        u32::try_from(bytes.div_ceil(UNIT_BYTES))
            .unwrap_or(u32::MAX)
            .clamp(1, self.total_units)
    }

    /// Waits, in order of arrival, until a body of `bytes` fits in the budget; 503 after the
    /// budget's wait.
    pub async fn take_turn(&self, bytes: usize) -> Result<SyncTurn, ApiError> {
        let units = self.units_for(bytes);
        let turn = tokio::time::timeout(self.wait, self.units.clone().acquire_many_owned(units));
        match turn.await {
            Ok(Ok(permit)) => return Ok(SyncTurn { _permit: permit }),
            // Never closed; a closed semaphore would mean the server is stopping.
            Ok(Err(_closed)) => {}
            Err(_elapsed) => log::warn!(
                "a sync of {bytes} bytes waited {} ms for SYNC_BUDGET_BYTES without its turn; \
                 answering 503",
                self.wait.as_millis()
            ),
        }
        Err(ApiError::Overloaded {
            retry_after: RETRY_AFTER_SECS,
        })
    }

    /// Bytes of the budget free now.
    #[cfg(test)]
    fn available_bytes(&self) -> usize {
        self.units.available_permits() * UNIT_BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::ResponseError;

    const KIB: usize = 1024;

    #[tokio::test]
    async fn syncs_within_the_budget_run_together_and_give_it_back() {
        let budget = SyncBudget::new(1024 * KIB, Duration::from_secs(1));
        let a = budget.take_turn(330 * KIB).await.unwrap();
        let b = budget.take_turn(330 * KIB).await.unwrap();
        let c = budget.take_turn(330 * KIB).await.unwrap();
        assert_eq!(budget.available_bytes(), 34 * KIB);
        drop((a, b, c));
        assert_eq!(budget.available_bytes(), 1024 * KIB);
    }

    #[tokio::test]
    async fn a_small_sync_takes_one_kibibyte_and_an_empty_one_too() {
        let budget = SyncBudget::new(4 * KIB, Duration::from_secs(1));
        let _small = budget.take_turn(200).await.unwrap();
        let _empty = budget.take_turn(0).await.unwrap();
        assert_eq!(budget.available_bytes(), 2 * KIB);
    }

    #[tokio::test]
    async fn a_body_larger_than_the_budget_runs_alone() {
        let budget = SyncBudget::new(64 * KIB, Duration::from_millis(50));
        let whole = budget.take_turn(10 * 1024 * KIB).await.unwrap();
        assert_eq!(budget.available_bytes(), 0);
        let refused = budget.take_turn(KIB).await.unwrap_err();
        assert_eq!(
            refused.status_code(),
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE
        );
        drop(whole);
        assert!(budget.take_turn(KIB).await.is_ok());
    }

    #[tokio::test]
    async fn waiting_syncs_start_in_order_of_arrival_as_the_budget_frees() {
        let budget = SyncBudget::new(100 * KIB, Duration::from_secs(5));
        let first = budget.take_turn(90 * KIB).await.unwrap();
        let (order_tx, mut order_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut waiting = Vec::new();
        for (name, bytes) in [("large", 80 * KIB), ("small", KIB)] {
            let (budget, order_tx) = (budget.clone(), order_tx.clone());
            waiting.push(tokio::spawn(async move {
                let turn = budget.take_turn(bytes).await.unwrap();
                order_tx.send(name).unwrap();
                turn
            }));
            // Let it ask before the next one does.
            tokio::task::yield_now().await;
        }
        tokio::task::yield_now().await;
        // The small sync would fit in what is free, but does not overtake the large one that
        // asked first: a stream of small syncs cannot starve a large one.
        assert!(
            order_rx.try_recv().is_err(),
            "nothing starts before the large sync"
        );
        drop(first);
        let mut turns = Vec::new();
        for task in waiting {
            turns.push(task.await.unwrap());
        }
        assert_eq!(order_rx.recv().await, Some("large"));
        assert_eq!(order_rx.recv().await, Some("small"));
        assert_eq!(budget.available_bytes(), 19 * KIB);
    }

    #[tokio::test]
    async fn a_sync_that_cannot_start_in_time_is_a_503_with_retry_after() {
        let budget = SyncBudget::new(8 * KIB, Duration::from_millis(20));
        let _held = budget.take_turn(8 * KIB).await.unwrap();
        let refused = budget.take_turn(KIB).await.unwrap_err();
        let response = refused.error_response();
        assert_eq!(
            response.status(),
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(response.headers().get("retry-after").unwrap(), "1");
    }
}
