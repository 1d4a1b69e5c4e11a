//! Statements of fixed text, written out in full as SQL constants with `$1`, `$2`, … for their
//! parameters. Unlike `sql_query`, they are marked safe to cache: Diesel prepares each once per
//! connection and PostgreSQL skips parsing and analysing it on every execution. Their text is
//! the same whatever the batch, because a batch travels as arrays, one parameter per column.

use diesel::pg::Pg;
use diesel::query_builder::AstPass;
use diesel::result::Error as DieselError;
use diesel::QueryResult;

/// Makes `$name<'_>` (a `QueryFragment<Pg>`) a query Diesel caches as a prepared statement.
macro_rules! cached_statement {
    ($name:ident) => {
        impl diesel::query_builder::QueryId for $name<'_> {
            type QueryId = $name<'static>;
            const HAS_STATIC_QUERY_ID: bool = true;
        }
        impl diesel::query_builder::Query for $name<'_> {
            type SqlType = diesel::sql_types::Untyped;
        }
        impl diesel::RunQueryDsl<diesel::PgConnection> for $name<'_> {}
    };
}
pub(super) use cached_statement;

/// Pushes `sql` and its parameters: where `$n` stands, `bind(out, n)` pushes the n-th value.
/// Diesel numbers parameters in the order they are pushed, so the placeholders must run `$1`,
/// `$2`, … in order; any other text is refused, never bound to the wrong value.
pub(super) fn push_statement<'b>(
    out: &mut AstPass<'_, 'b, Pg>,
    sql: &str,
    mut bind: impl FnMut(&mut AstPass<'_, 'b, Pg>, usize) -> QueryResult<()>,
) -> QueryResult<()> {
    let mut rest = sql;
    let mut expected = 1;
    while let Some(at) = rest.find('$') {
        out.push_sql(&rest[..at]);
        let after = &rest[at + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if after[..digits].parse() != Ok(expected) {
            return Err(misplaced_parameter(sql, expected));
        }
        bind(out, expected)?;
        expected += 1;
        rest = &after[digits..];
    }
    out.push_sql(rest);
    Ok(())
}

/// The error for a statement whose placeholders do not run `$1`, `$2`, … in order.
fn misplaced_parameter(sql: &str, expected: usize) -> DieselError {
    DieselError::QueryBuilderError(format!("expected ${expected} next in: {sql}").into())
}

/// The error for a placeholder the statement has no value for.
pub(super) fn unbound_parameter(n: usize) -> DieselError {
    DieselError::QueryBuilderError(format!("no value for parameter ${n}").into())
}
