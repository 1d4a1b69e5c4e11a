//! The sync status of the seed's UI, a [`SyncPhase`]: idle, syncing with progress, success with
//! a count, error with a message. Published on a [`tokio::sync::watch`] channel (the latest
//! phase, for a UI) and to callbacks (every transition, for progress bars and tests).

use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// What the client is doing, as a UI shows it: the phase of its latest sync or pull.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncPhase {
    /// Nothing has run yet.
    Idle,
    /// A sync or pull is running; `progress` goes from 0.0 to 1.0 as batches complete.
    Syncing {
        /// Fraction done, 0.0–1.0, never decreasing within one run.
        progress: f64,
    },
    /// The last run completed; `count` workouts (and deletions) are now in agreement with the
    /// server.
    Success {
        /// Workouts sent and confirmed (sync) or changes applied (pull).
        count: usize,
    },
    /// The last run failed; `message` says why and what to do.
    Error {
        /// A sentence for the user.
        message: String,
    },
}

type Listener = Box<dyn Fn(&SyncPhase) + Send + Sync>;

/// Where status changes are published.
pub(crate) struct StatusHub {
    sender: watch::Sender<SyncPhase>,
    listeners: Mutex<Vec<Arc<Listener>>>,
    last_progress: Mutex<f64>,
}

impl StatusHub {
    pub(crate) fn new() -> StatusHub {
        StatusHub {
            sender: watch::Sender::new(SyncPhase::Idle),
            listeners: Mutex::new(Vec::new()),
            last_progress: Mutex::new(0.0),
        }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<SyncPhase> {
        self.sender.subscribe()
    }

    pub(crate) fn current(&self) -> SyncPhase {
        self.sender.borrow().clone()
    }

    pub(crate) fn add_listener(&self, listener: Listener) {
        if let Ok(mut listeners) = self.listeners.lock() {
            listeners.push(Arc::new(listener));
        }
    }

    /// A run starts: `Syncing { progress: 0.0 }`.
    pub(crate) fn start(&self) {
        if let Ok(mut last) = self.last_progress.lock() {
            *last = 0.0;
        }
        self.publish(SyncPhase::Syncing { progress: 0.0 });
    }

    /// Progress within a run; clamped to 0.0–1.0 and never lower than the last value.
    pub(crate) fn progress(&self, progress: f64) {
        let progress = if progress.is_finite() {
            progress.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let progress = match self.last_progress.lock() {
            Ok(mut last) => {
                if progress <= *last {
                    return;
                }
                *last = progress;
                progress
            }
            Err(_) => progress,
        };
        self.publish(SyncPhase::Syncing { progress });
    }

    pub(crate) fn finish(&self, status: SyncPhase) {
        if matches!(status, SyncPhase::Success { .. }) {
            self.progress(1.0);
        }
        self.publish(status);
    }

    fn publish(&self, status: SyncPhase) {
        self.sender.send_replace(status.clone());
        // Call the listeners outside the lock so that one may register another.
        let listeners: Vec<Arc<Listener>> = match self.listeners.lock() {
            Ok(listeners) => listeners.clone(),
            Err(_) => Vec::new(),
        };
        for listener in &listeners {
            listener(&status);
        }
    }
}
