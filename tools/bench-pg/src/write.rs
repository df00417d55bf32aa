//! Writing one batch of chained rows: binary `COPY` or multi-row `INSERT`, and the
//! prepared-statement cache both use.
//!
//! Owns [`WriteMethod`], [`INSERT_ROWS_PER_STATEMENT`] and the batch writer behind
//! [`PgCluster::ingest`].
//!
//! Invariants: a batch is written in exactly one transaction (a single `COPY` or `INSERT`
//! statement is its own; several `INSERT` statements run inside `BEGIN`/`COMMIT`), so a failing
//! row rolls back the whole batch; an `INSERT` statement binds at most
//! [`INSERT_ROWS_PER_STATEMENT`] rows (7 parameters each, under PostgreSQL's 65535); rows are
//! written plainly, with no conflict clause.

use crate::cluster::PgCluster;
use crate::schema::{COLUMNS, COPY_TYPES, Row};
use anyhow::Result;
use postgres::Statement;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::ToSql;

/// Most rows in one multi-row `INSERT` (7 parameters a row; PostgreSQL allows 65535).
pub const INSERT_ROWS_PER_STATEMENT: usize = 8192;

/// How a batch is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteMethod {
    /// Binary `COPY ... FROM STDIN`.
    Copy,
    /// Multi-row `INSERT ... VALUES`.
    Insert,
}

impl WriteMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMethod::Copy => "COPY",
            WriteMethod::Insert => "INSERT",
        }
    }
}

impl PgCluster {
    pub(crate) fn statement(
        &mut self,
        table: &str,
        method: WriteMethod,
        rows: usize,
    ) -> Result<Statement> {
        let key = (table.to_string(), method, rows);
        if let Some(s) = self.statements.get(&key) {
            return Ok(s.clone());
        }
        let sql = match method {
            WriteMethod::Copy => {
                format!("copy {table} ({COLUMNS}) from stdin (format binary)")
            }
            WriteMethod::Insert => {
                let values: Vec<String> = (0..rows)
                    .map(|i| {
                        let p: Vec<String> = (1..=7).map(|c| format!("${}", 7 * i + c)).collect();
                        format!("({})", p.join(","))
                    })
                    .collect();
                format!(
                    "insert into {table} ({COLUMNS}) values {}",
                    values.join(",")
                )
            }
        };
        let s = self.client.prepare(&sql)?;
        self.statements.insert(key, s.clone());
        Ok(s)
    }

    /// Writes the rows in one transaction.
    pub(crate) fn write(
        &mut self,
        table: &str,
        rows: &[Row<'_>],
        method: WriteMethod,
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        match method {
            WriteMethod::Copy => {
                // One statement: its own transaction.
                let stmt = self.statement(table, method, 0)?;
                let mut w = BinaryCopyInWriter::new(self.client.copy_in(&stmt)?, &COPY_TYPES);
                for r in rows {
                    w.write(&r.values())?;
                }
                w.finish()?;
            }
            WriteMethod::Insert => {
                let chunks: Vec<&[Row<'_>]> = rows.chunks(INSERT_ROWS_PER_STATEMENT).collect();
                let mut stmts = Vec::with_capacity(chunks.len());
                for c in &chunks {
                    stmts.push(self.statement(table, method, c.len())?);
                }
                if chunks.len() == 1 {
                    // One statement: its own transaction.
                    self.client.execute(&stmts[0], &insert_params(chunks[0]))?;
                } else {
                    let mut tx = self.client.transaction()?;
                    for (c, s) in chunks.iter().zip(&stmts) {
                        tx.execute(s, &insert_params(c))?;
                    }
                    tx.commit()?;
                }
            }
        }
        Ok(())
    }
}

/// The bind parameters of a multi-row `INSERT` of these rows.
fn insert_params<'r>(rows: &'r [Row<'_>]) -> Vec<&'r (dyn ToSql + Sync)> {
    let mut p: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(7 * rows.len());
    for r in rows {
        p.extend_from_slice(&r.values());
    }
    p
}
