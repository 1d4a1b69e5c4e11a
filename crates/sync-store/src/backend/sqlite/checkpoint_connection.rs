//! The checkpointer's connection, opened through SQLite's C API instead of Diesel: besides the
//! passive checkpoints, it syncs the database file, for which it needs the file's handle in
//! SQLite's own VFS, which Diesel does not expose.
//!
//! Why the sync: a passive checkpoint syncs the database file only when no writer committed
//! while it copied. Under writes that never pause that is never, so the pages it copied stay
//! dirty in the operating system's cache, up to the whole WAL's worth (256 MiB), and the sync
//! fell to the rewind at the start of a writer's turn: 40-310 ms of disk writes that every
//! queued writer waited for (docs/benchmarks.md, 27). Syncing through SQLite's handle, not a
//! file opened beside it, keeps SQLite's POSIX locks: closing any other descriptor of the file
//! would drop them all.

use std::ffi::{c_int, c_void, CStr, CString};
use std::ptr::{self, NonNull};

use libsqlite3_sys as ffi;

use crate::StoreError;

/// One connection to a SQLite database, used by one thread at a time.
pub(super) struct CheckpointConnection {
    db: NonNull<ffi::sqlite3>,
}

// SAFETY: SQLite is built thread-safe (the bundled default, SQLITE_THREADSAFE=1), and the
// connection is used by one thread at a time: it moves to the checkpointer's thread and stays.
unsafe impl Send for CheckpointConnection {}

/// What a passive checkpoint reports, as `PRAGMA wal_checkpoint` does.
#[derive(Debug)]
pub(super) struct Pass {
    /// Frames in the WAL.
    pub(super) log: i32,
    /// Frames of it copied back into the database.
    pub(super) checkpointed: i32,
}

impl CheckpointConnection {
    /// Opens the existing database at `path` (a path or a `file:` URI, as Diesel takes it).
    pub(super) fn open(path: &str) -> Result<CheckpointConnection, StoreError> {
        let name = CString::new(path)
            .map_err(|_| StoreError::Unavailable(format!("{path:?} holds a NUL byte")))?;
        let mut db = ptr::null_mut();
        let flags = ffi::SQLITE_OPEN_READWRITE | ffi::SQLITE_OPEN_URI;
        // SAFETY: `name` is a NUL-terminated string that outlives the call; `db` receives the
        // handle, which is closed on failure below and on drop otherwise.
        let rc = unsafe { ffi::sqlite3_open_v2(name.as_ptr(), &mut db, flags, ptr::null()) };
        let Some(db) = NonNull::new(db) else {
            return Err(StoreError::Unavailable(format!(
                "cannot open {path:?} for checkpoints: {}",
                error_string(rc)
            )));
        };
        let connection = CheckpointConnection { db };
        if rc != ffi::SQLITE_OK {
            return Err(connection.error("cannot open the database for checkpoints", rc));
        }
        // A checkpoint syncs what it copied as `synchronous` says: NORMAL, as every connection.
        connection.execute(c"PRAGMA synchronous = NORMAL;")?;
        Ok(connection)
    }

    /// One passive checkpoint: copies the WAL back into the database as far as no reader
    /// needs it, waiting for nobody. `None` when another checkpoint (the writer's rewind) is
    /// running: this one copied nothing.
    pub(super) fn passive_pass(&mut self) -> Result<Option<Pass>, StoreError> {
        let (mut log, mut checkpointed) = (0, 0);
        // SAFETY: a live handle; "main" is NUL-terminated; both counts outlive the call.
        let rc = unsafe {
            ffi::sqlite3_wal_checkpoint_v2(
                self.db.as_ptr(),
                c"main".as_ptr(),
                ffi::SQLITE_CHECKPOINT_PASSIVE,
                &mut log,
                &mut checkpointed,
            )
        };
        match rc {
            ffi::SQLITE_OK => Ok(Some(Pass { log, checkpointed })),
            ffi::SQLITE_BUSY => Ok(None),
            _ => Err(self.error("a passive checkpoint failed", rc)),
        }
    }

    /// Syncs the database file (`fdatasync`), making durable every page the checkpoints have
    /// copied into it, so that the rewind's own sync, in the writer's turn, has only what the
    /// last pass copied to write.
    pub(super) fn sync_database_file(&mut self) -> Result<(), StoreError> {
        let mut file: *mut ffi::sqlite3_file = ptr::null_mut();
        // SAFETY: a live handle; SQLITE_FCNTL_FILE_POINTER writes the main database's
        // `sqlite3_file` (owned by the connection, valid while it is open) into `file`.
        let rc = unsafe {
            ffi::sqlite3_file_control(
                self.db.as_ptr(),
                c"main".as_ptr(),
                ffi::SQLITE_FCNTL_FILE_POINTER,
                (&mut file as *mut *mut ffi::sqlite3_file).cast::<c_void>(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(self.error("cannot reach the database file", rc));
        }
        // SAFETY: `file` is the open file SQLite just handed out; its methods are its VFS's.
        let sync = unsafe { file.as_ref().and_then(|f| f.pMethods.as_ref()) }
            .and_then(|methods| methods.xSync);
        let Some(sync) = sync else {
            return Err(StoreError::Unavailable(
                "the database file has no sync method".into(),
            ));
        };
        // SAFETY: the VFS's own sync of its own open file, from the thread using the handle.
        let rc = unsafe { sync(file, ffi::SQLITE_SYNC_NORMAL) };
        if rc != ffi::SQLITE_OK {
            return Err(self.error("syncing the database file failed", rc));
        }
        Ok(())
    }

    fn execute(&self, sql: &CStr) -> Result<(), StoreError> {
        // SAFETY: a live handle and a NUL-terminated statement; no callback, no error buffer.
        let rc = unsafe {
            ffi::sqlite3_exec(
                self.db.as_ptr(),
                sql.as_ptr(),
                None,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(self.error("cannot set up the checkpoint connection", rc));
        }
        Ok(())
    }

    fn error(&self, what: &str, rc: c_int) -> StoreError {
        // SAFETY: a live handle; SQLite owns the message, copied out before the next call.
        let message = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(self.db.as_ptr())) };
        StoreError::Unavailable(format!("{what}: {} ({rc})", message.to_string_lossy()))
    }
}

fn error_string(rc: c_int) -> String {
    // SAFETY: sqlite3_errstr returns a static NUL-terminated string for any code.
    unsafe { CStr::from_ptr(ffi::sqlite3_errstr(rc)) }
        .to_string_lossy()
        .into_owned()
}

impl Drop for CheckpointConnection {
    fn drop(&mut self) {
        // SAFETY: the handle is live and closed once; it has no statement left open
        // (`sqlite3_exec` finalizes its own), so the close cannot be refused as busy.
        unsafe { ffi::sqlite3_close(self.db.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::CheckpointConnection;
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, SqliteConnection};

    #[test]
    fn a_missing_database_is_not_created_but_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.db");
        let refused = CheckpointConnection::open(path.to_str().unwrap()).err();
        assert!(
            refused.is_some_and(|e| e.to_string().contains("cannot open")),
            "a checkpoint connection to a file that does not exist"
        );
        assert!(!path.exists(), "opening for checkpoints created the file");
    }

    #[test]
    fn a_pass_copies_the_wal_back_and_the_file_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pass.db");
        let path = path.to_str().unwrap();
        let mut writer = SqliteConnection::establish(path).unwrap();
        writer
            .batch_execute(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
                 CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2), (3);",
            )
            .unwrap();
        let mut checkpoints = CheckpointConnection::open(path).unwrap();

        let pass = checkpoints.passive_pass().unwrap().unwrap();
        assert!(pass.log > 0, "the writes are in the WAL: {pass:?}");
        assert_eq!(pass.checkpointed, pass.log, "no reader held any of it back");
        checkpoints.sync_database_file().unwrap();

        // Copied back whole with no reader on it, the WAL is started over by the next write.
        writer.batch_execute("INSERT INTO t VALUES (4);").unwrap();
        let next = checkpoints.passive_pass().unwrap().unwrap();
        assert!(next.log < pass.log, "{next:?} after {pass:?}");
        assert_eq!(next.checkpointed, next.log);
    }
}
