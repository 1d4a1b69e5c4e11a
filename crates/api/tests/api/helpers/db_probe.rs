//! A direct connection to a test database, outside the server.

/// A direct connection to a test database, outside the server: to hold locks the server must
/// wait for, and to look at what is stored.
pub enum DbProbe {
    Sqlite(diesel::SqliteConnection),
    Pg(diesel::PgConnection),
}

#[derive(diesel::QueryableByName)]
struct CountRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(diesel::QueryableByName)]
struct NameRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

impl DbProbe {
    /// Connects to the database `database_url` selects (as the server would).
    pub fn connect(database_url: &str) -> DbProbe {
        use diesel::Connection;
        let (kind, target) = sync_store::BackendKind::of_url(database_url);
        match kind {
            sync_store::BackendKind::Sqlite => {
                let mut conn =
                    diesel::SqliteConnection::establish(target).expect("open the SQLite file");
                diesel::connection::SimpleConnection::batch_execute(
                    &mut conn,
                    "PRAGMA busy_timeout = 10000;",
                )
                .expect("busy timeout");
                DbProbe::Sqlite(conn)
            }
            sync_store::BackendKind::Postgres => {
                DbProbe::Pg(diesel::PgConnection::establish(target).expect("connect to PostgreSQL"))
            }
        }
    }

    /// Runs SQL statements (e.g. `BEGIN EXCLUSIVE`, `ROLLBACK`).
    pub fn execute(&mut self, sql: &str) {
        self.try_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Runs SQL statements; the database's error message when one fails.
    pub fn try_execute(&mut self, sql: &str) -> Result<(), String> {
        use diesel::connection::SimpleConnection;
        match self {
            DbProbe::Sqlite(c) => c.batch_execute(sql),
            DbProbe::Pg(c) => c.batch_execute(sql),
        }
        .map_err(|e| e.to_string())
    }

    /// The value of a query `SELECT COUNT(*) AS n …` (any integer aliased `n`).
    pub fn count(&mut self, sql: &str) -> i64 {
        use diesel::RunQueryDsl;
        let query = diesel::sql_query(sql);
        match self {
            DbProbe::Sqlite(c) => query.get_result::<CountRow>(c),
            DbProbe::Pg(c) => query.get_result::<CountRow>(c),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .n
    }

    /// The values of a query `SELECT … AS name …` (any text aliased `name`).
    pub fn names(&mut self, sql: &str) -> Vec<String> {
        use diesel::RunQueryDsl;
        let query = diesel::sql_query(sql);
        match self {
            DbProbe::Sqlite(c) => query.load::<NameRow>(c),
            DbProbe::Pg(c) => query.load::<NameRow>(c),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .map(|row| row.name)
        .collect()
    }

    /// Every table with a `user_id` column, from the database's own catalogue (so a table a
    /// later migration adds is included without anyone listing it).
    pub fn tables_with_user_id(&mut self) -> Vec<String> {
        let sql = match self {
            DbProbe::Sqlite(_) => {
                "SELECT m.name AS name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND p.name = 'user_id' ORDER BY m.name"
            }
            DbProbe::Pg(_) => {
                "SELECT table_name::text AS name FROM information_schema.columns \
                 WHERE column_name = 'user_id' AND table_schema = current_schema() \
                 ORDER BY table_name"
            }
        };
        self.names(sql)
    }

    /// PostgreSQL: how many sessions of this database are waiting for a lock.
    pub fn sessions_waiting_for_a_lock(&mut self) -> i64 {
        self.count(
            "SELECT COUNT(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
    }
}
