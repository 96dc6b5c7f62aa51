//! The `ocsp_responses` table: OCSP answers signed ahead (see
//! `publish::presign`), one row per unexpired certificate with its answer to
//! a SHA-1 and to a SHA-256 CertID, and the status both attest.
//!
//! Every query here reads a bounded number of rows through an index: the
//! answer of one serial, the certificates among a list of serials, a window
//! of certificate ids, or the oldest answers (`ocsp_responses_this_update`).
//! None walks the whole table, however many certificates there are.

use serde_json::json;
use sqlx::AssertSqlSafe;

use super::json_rows::{self, Column, SqlType};
use super::{Conn, StoreResult};
use crate::model::UnixTime;

/// Most rows one statement of [`upsert_many`] or [`delete_many`] carries.
const ROWS_PER_STATEMENT: usize = 256;

/// Which CertID hash an answer was signed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CertIdDigest {
    Sha1,
    Sha256,
}

impl CertIdDigest {
    fn column(self) -> &'static str {
        match self {
            CertIdDigest::Sha1 => "der_sha1",
            CertIdDigest::Sha256 => "der_sha256",
        }
    }
}

/// A certificate's status as `certificates` stores it (`revoked_at` NULL:
/// not revoked), which an answer attests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct StoredStatus {
    pub revoked_at: Option<UnixTime>,
    pub revocation_reason: Option<i64>,
}

/// What signing a certificate's answers needs.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct ToSign {
    pub serial_number: String,
    pub revoked_at: Option<UnixTime>,
    pub revocation_reason: Option<i64>,
    pub valid_till: UnixTime,
}

impl ToSign {
    pub(crate) fn status(&self) -> StoredStatus {
        StoredStatus {
            revoked_at: self.revoked_at,
            revocation_reason: self.revocation_reason,
        }
    }
}

/// A certificate's two signed answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignedAnswers {
    pub serial_number: String,
    /// When both were signed (their thisUpdate and producedAt).
    pub this_update: UnixTime,
    pub status: StoredStatus,
    pub der_sha1: Vec<u8>,
    pub der_sha256: Vec<u8>,
}

/// One stored answer, as the request path reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredAnswer {
    pub this_update: UnixTime,
    pub status: StoredStatus,
    pub der: Vec<u8>,
}

/// A serial number's certificate and its stored answer, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lookup {
    pub status: StoredStatus,
    pub valid_till: UnixTime,
    pub answer: Option<StoredAnswer>,
}

/// The certificate `c` needs its answers (re)signed: it has none (`r` is the
/// left-joined answer), they are older than `$stale_before`, or they attest
/// another status than the certificate's now.
fn needs_signing(stale_before: usize) -> String {
    format!(
        "(r.serial_number IS NULL OR r.this_update < ${stale_before} \
         OR r.revoked_at IS DISTINCT FROM c.revoked_at \
         OR r.revocation_reason IS DISTINCT FROM c.revocation_reason)"
    )
}

const TO_SIGN_COLUMNS: &str = "c.serial_number, c.revoked_at, c.revocation_reason, c.valid_till";

/// The certificate with this serial number (uppercase hex) and its stored
/// answer to a `digest` CertID: one statement, two unique-index lookups.
/// `None`: no such certificate.
pub(crate) async fn lookup(
    conn: &mut Conn,
    serial_hex_upper: &str,
    digest: CertIdDigest,
) -> StoreResult<Option<Lookup>> {
    type Row = (
        Option<i64>,
        Option<i64>,
        i64,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<Vec<u8>>,
    );
    let sql = format!(
        "SELECT c.revoked_at, c.revocation_reason, c.valid_till, r.this_update, r.revoked_at, \
         r.revocation_reason, r.{} FROM certificates c \
         LEFT JOIN ocsp_responses r ON r.serial_number = c.serial_number \
         WHERE c.serial_number = $1",
        digest.column()
    );
    let row: Option<Row> = conn
        .fetch_optional(sqlx::query_as(AssertSqlSafe(sql)).bind(serial_hex_upper))
        .await?;
    Ok(row.map(
        |(revoked_at, revocation_reason, valid_till, this_update, r_at, r_reason, der)| Lookup {
            status: StoredStatus {
                revoked_at,
                revocation_reason,
            },
            valid_till,
            answer: this_update.zip(der).map(|(this_update, der)| StoredAnswer {
                this_update,
                status: StoredStatus {
                    revoked_at: r_at,
                    revocation_reason: r_reason,
                },
                der,
            }),
        },
    ))
}

/// Those of `serials` (uppercase hex) whose certificates are still valid at
/// `now` and need their answers signed (none, older than `stale_before`, or
/// attesting another status).
pub(crate) async fn needing_among(
    conn: &mut Conn,
    serials: &[&str],
    now: UnixTime,
    stale_before: UnixTime,
) -> StoreResult<Vec<ToSign>> {
    if serials.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {TO_SIGN_COLUMNS} FROM certificates c \
         LEFT JOIN ocsp_responses r ON r.serial_number = c.serial_number \
         WHERE {} AND c.valid_till > $2 AND {}",
        json_rows::is_one_of(conn, "c.serial_number", 1, SqlType::Text),
        needs_signing(3)
    );
    let serials = json_rows::param(serials.iter().map(|s| json!(s)));
    conn.fetch_all(
        sqlx::query_as(AssertSqlSafe(sql))
            .bind(serials)
            .bind(now)
            .bind(stale_before),
    )
    .await
}

/// The certificates with ids in `(after, up_to]` that are still valid at
/// `now` and need their answers signed, by id, at most `limit`: a walk of
/// the primary key that reads at most `up_to - after` certificates.
pub(crate) async fn needing_in_ids(
    conn: &mut Conn,
    after: i64,
    up_to: i64,
    now: UnixTime,
    stale_before: UnixTime,
    limit: i64,
) -> StoreResult<Vec<(i64, ToSign)>> {
    let sql = format!(
        "SELECT c.id, {TO_SIGN_COLUMNS} FROM certificates c \
         LEFT JOIN ocsp_responses r ON r.serial_number = c.serial_number \
         WHERE c.id > $1 AND c.id <= $2 AND c.valid_till > $3 AND {} \
         ORDER BY c.id LIMIT $5",
        needs_signing(4)
    );
    let rows: Vec<WalkedRow> = conn
        .fetch_all(
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(after)
                .bind(up_to)
                .bind(now)
                .bind(stale_before)
                .bind(limit),
        )
        .await?;
    Ok(rows.into_iter().map(|row| (row.id, row.to_sign)).collect())
}

#[derive(sqlx::FromRow)]
struct WalkedRow {
    id: i64,
    #[sqlx(flatten)]
    to_sign: ToSign,
}

/// The highest certificate id (0 when there are none).
pub(crate) async fn last_certificate_id(conn: &mut Conn) -> StoreResult<i64> {
    let last: Option<i64> = conn
        .scalar_one(sqlx::query_scalar("SELECT MAX(id) FROM certificates"))
        .await?;
    Ok(last.unwrap_or(0))
}

/// The stored answers signed before `stale_before`, oldest first, at most
/// `limit`, each with its certificate (`None`: the certificate is gone).
pub(crate) async fn stale(
    conn: &mut Conn,
    stale_before: UnixTime,
    limit: i64,
) -> StoreResult<Vec<(String, Option<ToSign>)>> {
    let rows: Vec<StaleRow> = conn
        .fetch_all(
            sqlx::query_as(
                "SELECT r.serial_number AS answered, c.serial_number, c.revoked_at, \
                 c.revocation_reason, c.valid_till FROM ocsp_responses r \
                 LEFT JOIN certificates c ON c.serial_number = r.serial_number \
                 WHERE r.this_update < $1 ORDER BY r.this_update LIMIT $2",
            )
            .bind(stale_before)
            .bind(limit),
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let to_sign =
                row.serial_number
                    .zip(row.valid_till)
                    .map(|(serial_number, valid_till)| ToSign {
                        serial_number,
                        revoked_at: row.revoked_at,
                        revocation_reason: row.revocation_reason,
                        valid_till,
                    });
            (row.answered, to_sign)
        })
        .collect())
}

/// A stored answer and its certificate, if there is one.
#[derive(sqlx::FromRow)]
struct StaleRow {
    answered: String,
    serial_number: Option<String>,
    revoked_at: Option<i64>,
    revocation_reason: Option<i64>,
    valid_till: Option<i64>,
}

/// How a certificate's status ranks: good, revoked, revoked for
/// keyCompromise (code 1). A status only ever moves up (a revocation is
/// final; only an upgrade to keyCompromise changes it), so an answer of a
/// lower rank than the row's was signed from an older read.
fn rank(table: &str) -> String {
    format!(
        "(CASE WHEN {table}.revoked_at IS NULL THEN 0 \
         WHEN {table}.revocation_reason = 1 THEN 2 ELSE 1 END)"
    )
}

/// Which stored answers new ones replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replace {
    /// Those signed earlier: for answers signed from a status just read.
    Older,
    /// Those signed earlier that attest no later status (see [`rank`]): for
    /// answers stored some time after the read they were signed from, when
    /// the row may hold a later status already.
    OlderAndNotLater,
}

/// Stores signed answers, replacing stored ones as `replace` says: one
/// statement per [`ROWS_PER_STATEMENT`]. Serial numbers must not repeat.
pub(crate) async fn upsert_many(
    conn: &mut Conn,
    answers: &[SignedAnswers],
    replace: Replace,
) -> StoreResult<()> {
    let columns = [
        Column::text("serial_number"),
        Column::int("this_update"),
        Column::int("revoked_at"),
        Column::int("revocation_reason"),
        Column::text("der_sha1"),
        Column::text("der_sha256"),
    ];
    let (unhex_sha1, unhex_sha256) = if conn.is_postgres() {
        ("decode(v.der_sha1, 'hex')", "decode(v.der_sha256, 'hex')")
    } else {
        ("unhex(v.der_sha1)", "unhex(v.der_sha256)")
    };
    let newer = "excluded.this_update >= ocsp_responses.this_update";
    let condition = match replace {
        Replace::Older => newer.to_string(),
        Replace::OlderAndNotLater => format!(
            "{new} > {old} OR ({new} = {old} AND {newer})",
            new = rank("excluded"),
            old = rank("ocsp_responses"),
        ),
    };
    // `WHERE true`: SQLite reads `ON` after `INSERT ... SELECT ... FROM x`
    // as a join's ON clause otherwise.
    let sql = format!(
        "INSERT INTO ocsp_responses (serial_number, this_update, revoked_at, revocation_reason, \
         der_sha1, der_sha256) \
         SELECT v.serial_number, v.this_update, v.revoked_at, v.revocation_reason, \
         {unhex_sha1}, {unhex_sha256} FROM {} WHERE true \
         ON CONFLICT (serial_number) DO UPDATE SET this_update = excluded.this_update, \
         revoked_at = excluded.revoked_at, revocation_reason = excluded.revocation_reason, \
         der_sha1 = excluded.der_sha1, der_sha256 = excluded.der_sha256 \
         WHERE {condition}",
        json_rows::rows_of(conn, 1, &columns),
    );
    for chunk in answers.chunks(ROWS_PER_STATEMENT) {
        let rows = json_rows::param(chunk.iter().map(|answer| {
            json!({
                "serial_number": answer.serial_number,
                "this_update": answer.this_update,
                "revoked_at": answer.status.revoked_at,
                "revocation_reason": answer.status.revocation_reason,
                "der_sha1": hex::encode(&answer.der_sha1),
                "der_sha256": hex::encode(&answer.der_sha256),
            })
        }));
        conn.execute(sqlx::query(AssertSqlSafe(sql.clone())).bind(rows))
            .await?;
    }
    Ok(())
}

/// Deletes the answers of these serial numbers (expired or gone certificates).
pub(crate) async fn delete_many(conn: &mut Conn, serials: &[&str]) -> StoreResult<()> {
    for chunk in serials.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "DELETE FROM ocsp_responses WHERE {}",
            json_rows::is_one_of(conn, "serial_number", 1, SqlType::Text)
        );
        let serials = json_rows::param(chunk.iter().map(|s| json!(s)));
        conn.execute(sqlx::query(AssertSqlSafe(sql)).bind(serials))
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, fresh_store, seed_user_and_order};

    const NOW: UnixTime = 1_800_000_000;
    const STALE_BEFORE: UnixTime = NOW - 2 * 86400;

    /// Certificate `id` with serial `serial`, valid until `valid_till`.
    async fn add_certificate(store: &Store, id: i64, serial: &str, valid_till: UnixTime) {
        let mut tx = store.write().await.unwrap();
        tx.execute(
            sqlx::query(
                "INSERT INTO certificates (id, order_id, serial_number, status, common_name, \
                 dns_names, csr, signature_hash, pem, valid_from, valid_till, crl_shard, \
                 created_at) VALUES ($1, 1, $2, 'issued', 'a.example.com', '[]', '', 'sha256', \
                 '', 0, $3, 0, 0)",
            )
            .bind(id)
            .bind(serial)
            .bind(valid_till),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }

    async fn seeded() -> (tempfile::TempDir, Store) {
        let (dir, store) = fresh_store().await;
        let mut tx = store.write().await.unwrap();
        seed_user_and_order(&mut tx).await;
        tx.commit().await.unwrap();
        (dir, store)
    }

    async fn revoke(store: &Store, serial: &str, reason: i64) {
        let mut tx = store.write().await.unwrap();
        tx.execute(
            sqlx::query(
                "UPDATE certificates SET status = 'revoked', \
                 revoked_at = COALESCE(revoked_at, $1), revocation_reason = $2 \
                 WHERE serial_number = $3",
            )
            .bind(NOW - 10)
            .bind(reason)
            .bind(serial),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }

    fn signed(serial: &str, this_update: UnixTime, status: StoredStatus) -> SignedAnswers {
        SignedAnswers {
            serial_number: serial.into(),
            this_update,
            status,
            der_sha1: vec![0x30, 0x01, this_update as u8],
            der_sha256: vec![0x30, 0x02, 0x00, this_update as u8],
        }
    }

    async fn store_answers(store: &Store, answers: &[SignedAnswers]) {
        store_replacing(store, answers, Replace::OlderAndNotLater).await;
    }

    async fn store_replacing(store: &Store, answers: &[SignedAnswers], replace: Replace) {
        let mut tx = store.write().await.unwrap();
        upsert_many(&mut tx, answers, replace).await.unwrap();
        tx.commit().await.unwrap();
    }

    async fn needing(store: &Store, serials: &[&str]) -> Vec<String> {
        let mut conn = store.read().await.unwrap();
        let mut found: Vec<String> = needing_among(&mut conn, serials, NOW, STALE_BEFORE)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.serial_number)
            .collect();
        found.sort();
        found
    }

    fn revoked(reason: i64) -> StoredStatus {
        StoredStatus {
            revoked_at: Some(NOW - 10),
            revocation_reason: Some(reason),
        }
    }

    #[tokio::test]
    async fn answers_are_needed_when_missing_stale_or_attesting_another_status() {
        let (_dir, store) = seeded().await;
        for (id, serial) in [(1, "0A"), (2, "0B"), (3, "0C"), (4, "0D")] {
            add_certificate(&store, id, serial, NOW + 86400).await;
        }
        add_certificate(&store, 5, "0E", NOW - 1).await;
        let all = ["0A", "0B", "0C", "0D", "0E", "FF"];
        assert_eq!(needing(&store, &all).await, ["0A", "0B", "0C", "0D"]);

        let good = StoredStatus::default();
        store_answers(
            &store,
            &[
                signed("0A", NOW - 60, good),
                signed("0B", STALE_BEFORE - 1, good),
                signed("0C", NOW - 60, good),
            ],
        )
        .await;
        revoke(&store, "0C", 4).await;
        assert_eq!(
            needing(&store, &all).await,
            ["0B", "0C", "0D"],
            "stale, revoked since, never signed; the expired one never"
        );

        let mut conn = store.read().await.unwrap();
        let walked = needing_in_ids(&mut conn, 0, 5, NOW, STALE_BEFORE, 100)
            .await
            .unwrap();
        let ids: Vec<i64> = walked.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, [2, 3, 4]);
        assert_eq!(walked[1].1.status(), revoked(4));
        let limited = needing_in_ids(&mut conn, 2, 5, NOW, STALE_BEFORE, 1)
            .await
            .unwrap();
        assert_eq!(limited.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [3]);
        assert_eq!(last_certificate_id(&mut conn).await.unwrap(), 5);
    }

    #[tokio::test]
    async fn a_lookup_reads_the_status_and_the_asked_answer_together() {
        let (_dir, store) = seeded().await;
        add_certificate(&store, 1, "0A", NOW + 86400).await;
        let mut conn = store.read().await.unwrap();
        assert_eq!(
            lookup(&mut conn, "0B", CertIdDigest::Sha1).await.unwrap(),
            None
        );
        let unsigned = lookup(&mut conn, "0A", CertIdDigest::Sha1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(unsigned.answer, None);
        assert_eq!(unsigned.valid_till, NOW + 86400);
        drop(conn);

        let answers = signed("0A", NOW - 5, StoredStatus::default());
        store_answers(&store, std::slice::from_ref(&answers)).await;
        revoke(&store, "0A", 1).await;
        let mut conn = store.read().await.unwrap();
        for (digest, der) in [
            (CertIdDigest::Sha1, &answers.der_sha1),
            (CertIdDigest::Sha256, &answers.der_sha256),
        ] {
            let found = lookup(&mut conn, "0A", digest).await.unwrap().unwrap();
            assert_eq!(found.status, revoked(1));
            let answer = found.answer.unwrap();
            assert_eq!(answer.der, *der);
            assert_eq!(answer.this_update, NOW - 5);
            assert_eq!(answer.status, StoredStatus::default(), "signed before");
        }
    }

    /// The stored answer of `0A`: when signed, and what it attests.
    async fn stored(store: &Store) -> (UnixTime, StoredStatus) {
        let mut conn = store.read().await.unwrap();
        let found = lookup(&mut conn, "0A", CertIdDigest::Sha1)
            .await
            .unwrap()
            .unwrap()
            .answer
            .unwrap();
        (found.this_update, found.status)
    }

    #[tokio::test]
    async fn an_answer_never_gives_way_to_a_lower_ranked_or_older_one() {
        let (_dir, store) = seeded().await;
        add_certificate(&store, 1, "0A", NOW + 86400).await;
        let good = StoredStatus::default();
        store_answers(&store, &[signed("0A", NOW - 100, good)]).await;
        store_answers(&store, &[signed("0A", NOW - 50, good)]).await;
        assert_eq!(stored(&store).await, (NOW - 50, good), "newer replaces");
        store_answers(&store, &[signed("0A", NOW - 60, good)]).await;
        assert_eq!(stored(&store).await, (NOW - 50, good), "older does not");
        store_answers(&store, &[signed("0A", NOW - 70, revoked(4))]).await;
        assert_eq!(stored(&store).await, (NOW - 70, revoked(4)), "revoked wins");
        store_answers(&store, &[signed("0A", NOW, good)]).await;
        assert_eq!(stored(&store).await, (NOW - 70, revoked(4)), "good never");
        store_answers(&store, &[signed("0A", NOW - 80, revoked(1))]).await;
        assert_eq!(stored(&store).await, (NOW - 80, revoked(1)), "upgrade");
        store_answers(&store, &[signed("0A", NOW, revoked(4))]).await;
        assert_eq!(stored(&store).await, (NOW - 80, revoked(1)), "no downgrade");
        store_answers(&store, &[signed("0A", NOW, revoked(1))]).await;
        assert_eq!(stored(&store).await, (NOW, revoked(1)), "re-signed");
        // An answer signed from a fresh read replaces any older one.
        store_replacing(&store, &[signed("0A", NOW, good)], Replace::Older).await;
        assert_eq!(stored(&store).await, (NOW, good), "fresh read");
        store_replacing(&store, &[signed("0A", NOW - 1, revoked(1))], Replace::Older).await;
        assert_eq!(stored(&store).await, (NOW, good), "but never an older one");
    }

    #[tokio::test]
    async fn the_stale_sweep_reads_the_oldest_answers_with_their_certificates() {
        let (_dir, store) = seeded().await;
        add_certificate(&store, 1, "0A", NOW + 86400).await;
        add_certificate(&store, 2, "0B", NOW - 1).await;
        let good = StoredStatus::default();
        store_answers(
            &store,
            &[
                signed("0A", STALE_BEFORE - 10, good),
                signed("0B", STALE_BEFORE - 20, good),
                signed("0C", STALE_BEFORE - 30, good),
                signed("0D", STALE_BEFORE + 10, good),
            ],
        )
        .await;
        let mut conn = store.read().await.unwrap();
        let found = stale(&mut conn, STALE_BEFORE, 10).await.unwrap();
        let serials: Vec<&str> = found.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(serials, ["0C", "0B", "0A"], "oldest first, fresh ones not");
        assert_eq!(found[0].1, None, "no such certificate");
        assert_eq!(found[1].1.as_ref().unwrap().valid_till, NOW - 1);
        assert_eq!(stale(&mut conn, STALE_BEFORE, 1).await.unwrap().len(), 1);
        drop(conn);

        let mut tx = store.write().await.unwrap();
        delete_many(&mut tx, &["0B", "0C"]).await.unwrap();
        tx.commit().await.unwrap();
        let mut conn = store.read().await.unwrap();
        let left = stale(&mut conn, STALE_BEFORE, 10).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].0, "0A");
    }

    #[tokio::test]
    async fn the_sweeps_read_through_indexes() {
        let (_dir, store) = seeded().await;
        let mut conn = store.read().await.unwrap();
        let plan = |sql: String| format!("EXPLAIN QUERY PLAN {sql}");
        let details = |rows: Vec<(i64, i64, i64, String)>| {
            rows.into_iter()
                .map(|(_, _, _, detail)| detail)
                .collect::<Vec<_>>()
                .join("\n")
        };
        let stale_plan: Vec<(i64, i64, i64, String)> = conn
            .fetch_all(sqlx::query_as(AssertSqlSafe(plan(
                "SELECT r.serial_number FROM ocsp_responses r \
                     LEFT JOIN certificates c ON c.serial_number = r.serial_number \
                     WHERE r.this_update < 5 ORDER BY r.this_update LIMIT 10"
                    .into(),
            ))))
            .await
            .unwrap();
        let text = details(stale_plan);
        assert!(text.contains("ocsp_responses_this_update"), "{text}");
        assert!(!text.contains("SCAN c"), "{text}");
        let walk_plan: Vec<(i64, i64, i64, String)> = conn
            .fetch_all(sqlx::query_as(AssertSqlSafe(plan(format!(
                "SELECT c.id FROM certificates c \
                 LEFT JOIN ocsp_responses r ON r.serial_number = c.serial_number \
                 WHERE c.id > 1 AND c.id <= 9 AND c.valid_till > 3 AND {} \
                 ORDER BY c.id LIMIT 10",
                needs_signing(1).replace("$1", "4")
            )))))
            .await
            .unwrap();
        let text = details(walk_plan);
        assert!(
            text.contains("INTEGER PRIMARY KEY (rowid>? AND rowid<?)"),
            "{text}"
        );
        assert!(!text.contains("SCAN r"), "{text}");
    }
}
