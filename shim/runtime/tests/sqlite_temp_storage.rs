//! What a guest's SQL needs beside its database (sorts, `TEMP` tables) stays in the
//! process's memory under its bounds, never in the node's temporary directory: a `TEMP`
//! table is capped at an instance's memory, and a sort larger than SQLite's share of
//! the process fails as out of memory instead of spilling to disk. In a process of its
//! own, as SQLite's heap limit is process-wide.

use std::time::Duration;

use spin_runtime::host::sqlite::db::{Bounds, SqliteDb, limit_process_heap};

/// `n` rows of 1 KiB random blobs.
fn rows(n: u32) -> String {
    format!("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})")
}

#[test]
fn sorts_and_temp_tables_stay_in_memory_within_their_bounds() {
    limit_process_heap(32 << 20).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bounds = Bounds {
        max_result_bytes: 8 << 20,
        timeout: Duration::from_secs(60),
    };
    let db = SqliteDb::open(&dir.path().join("app.db"), 256 << 20, bounds).unwrap();
    let conn = db.connect().unwrap();

    // A TEMP table may hold at most an instance's memory (8 MiB), not the database's
    // 256 MiB.
    db.execute(&conn, "CREATE TEMP TABLE scratch (b BLOB)", vec![])
        .unwrap();
    let full = db
        .execute(
            &conn,
            &format!(
                "{} INSERT INTO scratch SELECT randomblob(1024) FROM n",
                rows(20_000)
            ),
            vec![],
        )
        .unwrap_err();
    assert!(format!("{full:?}").contains("DatabaseFull"), "{full:?}");

    // A 64 MiB sort does not fit SQLite's 32 MiB and is not spilled to disk.
    let sort = format!(
        "{} SELECT count(*) FROM (SELECT randomblob(1024) AS b FROM n ORDER BY b)",
        rows(65_536)
    );
    let out_of_memory = db.execute(&conn, &sort, vec![]).unwrap_err();
    assert!(
        format!("{out_of_memory:?}").contains("out of memory"),
        "{out_of_memory:?}"
    );

    // The connection goes on serving statements that fit.
    let small = format!(
        "{} SELECT count(*) FROM (SELECT randomblob(64) AS b FROM n ORDER BY b)",
        rows(1_000)
    );
    let result = db.execute(&conn, &small, vec![]).unwrap();
    assert_eq!(
        format!("{:?}", result.rows[0].values),
        "[Value::Integer(1000)]"
    );
    db.release(conn);
}
