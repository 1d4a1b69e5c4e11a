//! Store work seen from the thread that waits for it. A caller runs the work under a [`Watch`]
//! on a blocking thread and keeps the other end: it can ask whether the database the work talks
//! to has gone silent (PostgreSQL's heartbeat, see `pulse`), and give up on it. A transaction of
//! work given up on rolls back instead of committing if the database answers again later, so a
//! request answered 503 changes nothing; only a COMMIT already sent can still land, which the
//! client's retry meets as an idempotent replay.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::pulse::{Pulse, PulseState};
use crate::StoreError;

/// One piece of store work, as its waiter sees it. Cheap to clone; clones are the same watch.
#[derive(Clone, Default)]
pub struct Watch {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    given_up: AtomicBool,
    /// The heartbeat of the database the work reached for, once it has.
    pulse: OnceLock<Arc<PulseState>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Watch>> = const { RefCell::new(None) };
}

impl Watch {
    /// A watch for work not yet started.
    pub fn new() -> Watch {
        Watch::default()
    }

    /// Runs `work` on this thread under this watch (the store's calls inside report to it).
    pub fn run<T>(&self, work: impl FnOnce() -> T) -> T {
        struct Restore(Option<Watch>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let outer = self.0.take();
                CURRENT.with(|current| *current.borrow_mut() = outer);
            }
        }
        let outer = CURRENT.with(|current| current.borrow_mut().replace(self.clone()));
        let _restore = Restore(outer);
        work()
    }

    /// How long the database the work is waiting on has gone without answering, once that is
    /// past the store's heartbeat timeout; `None` while it answers, on SQLite, and before the
    /// work has reached for a connection.
    pub fn database_silence(&self) -> Option<Duration> {
        self.shared.pulse.get().and_then(|pulse| pulse.silence())
    }

    /// Gives up on the work: a write transaction it has not yet committed rolls back.
    pub fn give_up(&self) {
        self.shared.given_up.store(true, Ordering::Release);
    }
}

/// Tells the current watch (if any) that its work is about to use the database behind `pulse`.
pub(crate) fn reaching_for(pulse: &Pulse) {
    CURRENT.with(|current| {
        if let Some(watch) = current.borrow().as_ref() {
            // Work reaches one store; a second `set` (the same store again) changes nothing.
            let _ = watch.shared.pulse.set(pulse.state().clone());
        }
    });
}

/// `value` unless the current work has been given up on: the last step before a COMMIT, so that
/// such a transaction rolls back instead.
pub(crate) fn commit_allowed_with<T>(value: T) -> Result<T, StoreError> {
    commit_allowed().map(|()| value)
}

fn commit_allowed() -> Result<(), StoreError> {
    let given_up = CURRENT.with(|current| {
        current
            .borrow()
            .as_ref()
            .is_some_and(|watch| watch.shared.given_up.load(Ordering::Acquire))
    });
    if given_up {
        Err(StoreError::Unavailable(
            "given up on while the database was silent; rolled back".into(),
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_given_up_on_may_not_commit_and_other_work_is_untouched() {
        let watch = Watch::new();
        assert!(watch.run(commit_allowed).is_ok());
        watch.give_up();
        assert!(matches!(
            watch.run(commit_allowed),
            Err(StoreError::Unavailable(_))
        ));
        // Outside the watch, and under another one, commits go ahead.
        assert!(commit_allowed().is_ok());
        assert!(Watch::new().run(commit_allowed).is_ok());
        // A watch nested inside another restores the outer one when it ends.
        let outer = Watch::new();
        outer.give_up();
        outer.run(|| {
            assert!(Watch::new().run(commit_allowed).is_ok());
            assert!(commit_allowed().is_err());
        });
    }

    #[test]
    fn work_that_has_not_reached_a_database_is_never_silent() {
        assert_eq!(Watch::new().database_silence(), None);
    }
}
