//! Benchmark helper (see `bench/run.sh`): puts certificates straight into a
//! certd SQLite database, as certd itself would store them, and writes what
//! the load generators need:
//! - a file of `GET /ocsp/...` paths, one per certificate, for wrk;
//! - an `openssl ca` index.txt of the same certificates, so that
//!   `openssl ocsp -index` serves the very same set as the baseline.
//!
//! - `serials.txt`: the serial numbers of the certificates left unrevoked,
//!   for revocation load.
//!
//! Each certificate gets an order of its own, as real ones do.
//!
//! `cargo run --release --example bench_seed -- DATABASE_URL CA_DIR CERTS REVOKED OUT_DIR`
//!
//! `--fast` (`bench/scale.sh`): SQLite only, the database file instead of a
//! URL, for millions of certificates; writes `ocsp-paths.txt`,
//! `api-paths.txt` (`/services/v2/certificate/ID`) and `serials.txt`
//! (unrevoked) for a sample of 100,000 certificates only, and no index.txt:
//!
//! `bench_seed --fast DATABASE_FILE CA_DIR CERTS REVOKED OUT_DIR`

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use der::Encode;
use der::asn1::{Null, OctetString};
use sha1::{Digest, Sha1};
use sqlx::Connection;
use x509_cert::serial_number::SerialNumber;
use x509_ocsp::{CertId, OcspRequest, Request, TbsRequest, Version};

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

#[tokio::main]
async fn main() -> BenchResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [fast, database_file, ca_dir, certs, revoked, out] = args.as_slice()
        && fast == "--fast"
    {
        let (certs, revoked) = (certs.parse()?, revoked.parse()?);
        let (ca_dir, out) = (Path::new(ca_dir), Path::new(out));
        return seed_fast(Path::new(database_file), ca_dir, certs, revoked, out);
    }
    let [database_url, ca_dir, certs, revoked, out] = args.as_slice() else {
        return Err("usage: bench_seed DATABASE_URL CA_DIR CERTS REVOKED OUT_DIR".into());
    };
    let (ca_dir, out) = (PathBuf::from(ca_dir), PathBuf::from(out));
    let (certs, revoked): (usize, usize) = (certs.parse()?, revoked.parse()?);
    std::fs::create_dir_all(&out)?;

    let issuer = IssuerHashes::read(&ca_dir.join("intermediate.pem"))?;
    let serials: Vec<[u8; 16]> = (0..certs).map(|_| random_serial()).collect();
    seed_database(database_url, &serials, revoked).await?;
    let unrevoked: Vec<String> = serials[revoked.min(certs)..]
        .iter()
        .map(hex::encode_upper)
        .collect();
    std::fs::write(out.join("serials.txt"), unrevoked.join("\n") + "\n")?;
    write_ocsp_paths(&out.join("ocsp-paths.txt"), &issuer, &serials)?;
    write_openssl_index(&out.join("index.txt"), &serials, revoked)?;
    println!("seeded {certs} certificates, {revoked} of them revoked");
    Ok(())
}

fn random_serial() -> [u8; 16] {
    let mut serial: [u8; 16] = rand::random();
    serial[0] = 1 + serial[0] % 0x7f;
    serial
}

const REASONS: [i64; 4] = [0, 1, 4, 5];

/// A key hash (SHA-256 of a SubjectPublicKeyInfo) no other certificate has:
/// seeded certificates have no real key, and certd fills a missing hash at
/// start-up from the PEM, which these lack.
fn random_key_hash() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

async fn seed_database(url: &str, serials: &[[u8; 16]], revoked: usize) -> BenchResult<()> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await?;
    let now = now();
    // Commits every 10,000 certificates, so PostgreSQL's work stays bounded.
    for (chunk_index, chunk) in serials.chunks(10_000).enumerate() {
        let mut tx = conn.begin().await?;
        for (offset, serial) in chunk.iter().enumerate() {
            let i = chunk_index * 10_000 + offset;
            let is_revoked = i < revoked;
            let order_id: i64 = sqlx::query_scalar(
                "INSERT INTO orders (user_id, product, status, common_name, dns_names, csr, \
                 signature_hash, validity_days, created_at) \
                 VALUES (1, 'ssl_basic', 'issued', 'bench.example.com', '[]', '', 'sha256', 365, $1) \
                 RETURNING id",
            )
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO certificates (order_id, serial_number, status, common_name, dns_names, \
                 csr, signature_hash, pem, valid_from, valid_till, revoked_at, revocation_reason, \
                 crl_shard, created_at, spki_sha256) \
                 VALUES ($1, $2, $3, 'bench.example.com', '[]', '', 'sha256', '', $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(order_id)
            .bind(hex::encode_upper(serial))
            .bind(if is_revoked { "revoked" } else { "issued" })
            .bind(now)
            .bind(now + 86400 * 90)
            .bind(is_revoked.then_some(now))
            .bind(is_revoked.then_some(REASONS[i % REASONS.len()]))
            .bind(i64::from(certd::crl_shard_of(serial)))
            .bind(now)
            .bind(random_key_hash())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// Certificates `--fast` writes request files for.
const SAMPLE: usize = 100_000;

/// The sqlx path above pays a round trip to sqlx's connection thread per row
/// (about 7,000 certificates a second); this one drives SQLite directly, one
/// prepared statement per table, a transaction per million rows, explicit
/// ids, and no journal, to seed 10,000,000 in minutes.
fn seed_fast(
    file: &Path,
    ca_dir: &Path,
    certs: usize,
    revoked: usize,
    out: &Path,
) -> BenchResult<()> {
    const CHUNK: usize = 1_000_000;
    let started = std::time::Instant::now();
    let issuer = IssuerHashes::read(&ca_dir.join("intermediate.pem"))?;
    let mut conn = rusqlite::Connection::open(file)?;
    // certd is stopped and nothing else has the file open: a journal or
    // fsyncs would protect nothing. Serials land at random places in their
    // index, so a cache that holds all of it (about 60 bytes a certificate)
    // keeps those page writes in memory.
    let _: String = conn.query_row("PRAGMA journal_mode = OFF", [], |row| row.get(0))?;
    conn.execute_batch("PRAGMA synchronous = OFF; PRAGMA cache_size = -2000000;")?;
    let next_id = |table: &str| -> rusqlite::Result<i64> {
        conn.query_row(
            &format!("SELECT COALESCE(MAX(id), 0) + 1 FROM {table}"),
            [],
            |row| row.get(0),
        )
    };
    let (first_order, first_cert) = (next_id("orders")?, next_id("certificates")?);
    // Secondary indexes are dropped and built again at the end: one sort
    // each instead of millions of B-tree descents (half the time otherwise).
    // The serial's UNIQUE index stays: it is the table's own.
    let indexes: Vec<(String, String)> = conn
        .prepare(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' \
             AND tbl_name IN ('orders', 'certificates') AND sql IS NOT NULL",
        )?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (name, _) in &indexes {
        conn.execute_batch(&format!("DROP INDEX {name}"))?;
    }
    let now = now();
    let every = (certs / SAMPLE).max(1);
    let mut sample = Vec::new();
    for chunk in (0..certs).step_by(CHUNK) {
        let tx = conn.transaction()?;
        {
            let mut order = tx.prepare(
                "INSERT INTO orders (id, user_id, product, status, common_name, dns_names, csr, \
                 signature_hash, validity_days, created_at) \
                 VALUES (?1, 1, 'ssl_basic', 'issued', 'bench.example.com', '[]', '', 'sha256', 365, ?2)",
            )?;
            let mut certificate = tx.prepare(
                "INSERT INTO certificates (id, order_id, serial_number, status, common_name, \
                 dns_names, csr, signature_hash, pem, valid_from, valid_till, revoked_at, \
                 revocation_reason, crl_shard, created_at, spki_sha256) \
                 VALUES (?1, ?2, ?3, ?4, 'bench.example.com', '[]', '', 'sha256', '', ?5, ?6, ?7, ?8, ?9, ?5, ?10)",
            )?;
            for i in chunk..(chunk + CHUNK).min(certs) {
                let serial = random_serial();
                let is_revoked = i < revoked;
                let (order_id, id) = (first_order + i as i64, first_cert + i as i64);
                order.execute(rusqlite::params![order_id, now])?;
                certificate.execute(rusqlite::params![
                    id,
                    order_id,
                    hex::encode_upper(serial),
                    if is_revoked { "revoked" } else { "issued" },
                    now,
                    now + 86400 * 90,
                    is_revoked.then_some(now),
                    is_revoked.then_some(REASONS[i % REASONS.len()]),
                    i64::from(certd::crl_shard_of(&serial)),
                    random_key_hash(),
                ])?;
                if i % every == 0 {
                    sample.push((id, serial, is_revoked));
                }
            }
        }
        tx.commit()?;
        eprintln!("bench_seed: {} certificates", (chunk + CHUNK).min(certs));
    }
    for (_, sql) in &indexes {
        conn.execute_batch(sql)?;
    }
    // certd runs the database in WAL mode; put it back.
    let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    drop(conn);
    let seconds = started.elapsed().as_secs_f64();

    std::fs::create_dir_all(out)?;
    let serials: Vec<[u8; 16]> = sample.iter().map(|(_, serial, _)| *serial).collect();
    write_ocsp_paths(&out.join("ocsp-paths.txt"), &issuer, &serials)?;
    let api_paths: String = sample
        .iter()
        .map(|(id, _, _)| format!("/services/v2/certificate/{id}\n"))
        .collect();
    std::fs::write(out.join("api-paths.txt"), api_paths)?;
    let unrevoked: String = sample
        .iter()
        .filter(|(_, _, revoked)| !revoked)
        .map(|(_, serial, _)| hex::encode_upper(serial) + "\n")
        .collect();
    std::fs::write(out.join("serials.txt"), unrevoked)?;
    println!(
        "seeded {certs} certificates, {revoked} of them revoked, in {seconds:.1} s: {:.0} a second",
        certs as f64 / seconds
    );
    Ok(())
}

/// SHA-1 of the intermediate's name and key, as `openssl ocsp` sends them.
struct IssuerHashes {
    name: Vec<u8>,
    key: Vec<u8>,
}

impl IssuerHashes {
    fn read(pem_file: &Path) -> BenchResult<IssuerHashes> {
        let pem = std::fs::read(pem_file)?;
        let (_, block) = x509_parser::pem::parse_x509_pem(&pem)?;
        let cert = block.parse_x509()?;
        Ok(IssuerHashes {
            name: Sha1::digest(cert.subject().as_raw()).to_vec(),
            key: Sha1::digest(&cert.public_key().subject_public_key.data).to_vec(),
        })
    }

    fn request_der(&self, serial: &[u8]) -> BenchResult<Vec<u8>> {
        let request = OcspRequest {
            tbs_request: TbsRequest {
                version: Version::V1,
                requestor_name: None,
                request_list: vec![Request {
                    req_cert: CertId {
                        hash_algorithm: spki::AlgorithmIdentifierOwned {
                            oid: const_oid::db::rfc5912::ID_SHA_1,
                            parameters: Some(Null.into()),
                        },
                        issuer_name_hash: OctetString::new(self.name.clone())?,
                        issuer_key_hash: OctetString::new(self.key.clone())?,
                        serial_number: SerialNumber::new(serial)?,
                    },
                    single_request_extensions: None,
                }],
                request_extensions: None,
            },
            optional_signature: None,
        };
        Ok(request.to_der()?)
    }
}

fn write_ocsp_paths(file: &Path, issuer: &IssuerHashes, serials: &[[u8; 16]]) -> BenchResult<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(file)?);
    for serial in serials {
        let b64 = base64::engine::general_purpose::STANDARD.encode(issuer.request_der(serial)?);
        let encoded = b64
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        writeln!(out, "/ocsp/{encoded}")?;
    }
    Ok(())
}

/// `openssl ca` index format: status, expiry, revocation[,reason], serial, file, subject.
fn write_openssl_index(file: &Path, serials: &[[u8; 16]], revoked: usize) -> BenchResult<()> {
    const OPENSSL_REASONS: [&str; 4] = [
        "unspecified",
        "keyCompromise",
        "superseded",
        "cessationOfOperation",
    ];
    let mut out = std::io::BufWriter::new(std::fs::File::create(file)?);
    let stamp = |t: i64| {
        time::OffsetDateTime::from_unix_timestamp(t)
            .map(|d| {
                format!(
                    "{:02}{:02}{:02}{:02}{:02}{:02}Z",
                    d.year() % 100,
                    u8::from(d.month()),
                    d.day(),
                    d.hour(),
                    d.minute(),
                    d.second()
                )
            })
            .unwrap_or_default()
    };
    let (now, expiry) = (stamp(now()), stamp(now() + 86400 * 90));
    for (i, serial) in serials.iter().enumerate() {
        let serial = hex::encode_upper(serial);
        if i < revoked {
            let reason = OPENSSL_REASONS[i % OPENSSL_REASONS.len()];
            writeln!(
                out,
                "R\t{expiry}\t{now},{reason}\t{serial}\tunknown\t/CN=bench.example.com"
            )?;
        } else {
            writeln!(
                out,
                "V\t{expiry}\t\t{serial}\tunknown\t/CN=bench.example.com"
            )?;
        }
    }
    Ok(())
}
