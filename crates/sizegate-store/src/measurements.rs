//! Measurements: what the analyzer found in one artifact. The headline
//! figures, sections, units and the largest symbols are rows (history,
//! dashboards and diffs need no blob); the full report is kept
//! zstd-compressed in the blob store.

use std::collections::HashMap;
use std::io::Read;

use serde::Serialize;
use sizegate_analyze::Report;

use crate::{Error, Store};

/// zstd level of stored reports.
const REPORT_ZSTD_LEVEL: i32 = 3;

/// Ceiling of a report's JSON whatever the artifact: what the worker reads
/// from the analyzer, and what a stored report may inflate to.
pub const MAX_REPORT_JSON_BYTES: u64 = 64 << 20;

/// The most JSON a report of an artifact of `artifact_size` bytes may take:
/// 1 MiB plus 16 bytes per artifact byte, at most [`MAX_REPORT_JSON_BYTES`].
/// Real reports (every symbol listed) are well under one byte of JSON per
/// artifact byte; a report far larger than its artifact is made up (or a
/// decompression bomb), and is refused by the worker before it is stored
/// and by [`decode_report`] when read back.
pub fn report_json_cap(artifact_size: u64) -> u64 {
    artifact_size
        .saturating_mul(16)
        .saturating_add(1 << 20)
        .min(MAX_REPORT_JSON_BYTES)
}

/// Compress a report for the blob store.
pub fn encode_report(report: &Report) -> Result<Vec<u8>, Error> {
    let json = serde_json::to_vec(report).map_err(|e| Error::Report(e.to_string()))?;
    zstd::encode_all(json.as_slice(), REPORT_ZSTD_LEVEL).map_err(|e| Error::Report(e.to_string()))
}

/// Read back a report written by [`encode_report`] for an artifact of
/// `artifact_size` bytes. Decompression stops at [`report_json_cap`] of
/// that size: a report that inflates past it is refused, never held whole.
pub fn decode_report(bytes: &[u8], artifact_size: u64) -> Result<Report, Error> {
    let cap = report_json_cap(artifact_size);
    let decoder = zstd::Decoder::new(bytes).map_err(|e| Error::Report(e.to_string()))?;
    let mut json = Vec::new();
    decoder
        .take(cap.saturating_add(1))
        .read_to_end(&mut json)
        .map_err(|e| Error::Report(e.to_string()))?;
    if json.len() as u64 > cap {
        return Err(Error::Report(format!(
            "the stored report inflates past {cap} bytes, the cap for an artifact of \
             {artifact_size} bytes; it was not read"
        )));
    }
    serde_json::from_slice(&json).map_err(|e| Error::Report(e.to_string()))
}

/// The serde name of a unit-like enum value (`elf`, `rust`, `rodata`...).
fn serde_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// Postgres text and jsonb cannot hold NUL characters, which a hostile or
/// odd binary can put in section, symbol or compiler names.
fn text(value: &str) -> String {
    value.replace('\0', "\u{FFFD}")
}

/// [`text`] on every string of a JSON value.
fn clean_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) if s.contains('\0') => *s = text(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(clean_json),
        serde_json::Value::Object(map) => map.values_mut().for_each(clean_json),
        _ => {}
    }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl Store {
    /// Read the stored report under `report_key`, decompressed within the
    /// cap of the artifact it describes (see [`decode_report`]).
    pub async fn read_report(
        &self,
        blobs: &dyn crate::BlobStore,
        report_key: &str,
    ) -> Result<Report, Error> {
        let mut reports = self.read_reports(blobs, &[report_key]).await?;
        reports
            .remove(report_key)
            .unwrap_or_else(|| Err(Error::Report(format!("no report `{report_key}`"))))
    }

    /// Read several stored reports like [`Store::read_report`], with one
    /// query for all their caps: report key → the report, or why it could
    /// not be read.
    pub async fn read_reports(
        &self,
        blobs: &dyn crate::BlobStore,
        report_keys: &[&str],
    ) -> Result<HashMap<String, Result<Report, Error>>, Error> {
        let sizes: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
            "SELECT DISTINCT ON (m.report_key) m.report_key, a.size
             FROM measurements m JOIN artifacts a ON a.id = m.artifact_id
             WHERE m.report_key = ANY($1)",
        )
        .bind(report_keys)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .collect();
        let mut out = HashMap::with_capacity(report_keys.len());
        for &key in report_keys {
            if out.contains_key(key) {
                continue;
            }
            let report = match sizes.get(key) {
                None => Err(Error::Report(format!(
                    "no measurement refers to the report `{key}`"
                ))),
                Some(&size) => match blobs.get(key).await {
                    Ok(bytes) => decode_report(&bytes, u64::try_from(size).unwrap_or(0)),
                    Err(e) => Err(e.into()),
                },
            };
            out.insert(key.to_owned(), report);
        }
        Ok(out)
    }

    /// The measurement of an artifact, if it has been measured.
    pub async fn measurement_id(&self, artifact_id: i64) -> Result<Option<i64>, Error> {
        let id = sqlx::query_scalar("SELECT id FROM measurements WHERE artifact_id = $1")
            .bind(artifact_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(id)
    }

    /// Store the measurement of an artifact with its sections, units and
    /// `top_symbols` largest symbols. Idempotent: if the artifact is already
    /// measured (a job delivered twice), nothing changes and the existing id
    /// is returned.
    pub async fn store_measurement(
        &self,
        artifact_id: i64,
        report: &Report,
        report_key: &str,
        top_symbols: usize,
    ) -> Result<i64, Error> {
        let mut tx = self.pool.begin().await?;
        let toolchain = stored_json(&report.toolchain)?;
        let advice = stored_json(&report.advice)?;
        // Only images have the image metrics; a binary's stay NULL.
        let image = report.format.is_image();
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO measurements (artifact_id, schema_version, format, arch, language, stripped,
                 size_file, size_vm, size_shipped, size_gzip, size_zstd, size_debug, size_symbols,
                 toolchain, advice, symbol_count, report_key,
                 size_compressed, size_uncompressed, size_pull)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                     $18, $19, $20)
             ON CONFLICT (artifact_id) DO NOTHING
             RETURNING id",
        )
        .bind(artifact_id)
        .bind(i32::try_from(report.schema_version).unwrap_or(i32::MAX))
        .bind(serde_name(&report.format))
        .bind(text(&report.arch))
        .bind(serde_name(&report.language))
        .bind(report.stripped)
        .bind(to_i64(report.sizes.file))
        .bind(to_i64(report.sizes.vm))
        .bind(to_i64(report.sizes.shipped))
        .bind(to_i64(report.sizes.gzip))
        .bind(to_i64(report.sizes.zstd))
        .bind(to_i64(report.sizes.debug))
        .bind(to_i64(report.sizes.symbols))
        .bind(toolchain)
        .bind(advice)
        .bind(to_i64(report.symbols.len() as u64))
        .bind(report_key)
        .bind(image.then(|| to_i64(report.sizes.compressed)))
        .bind(image.then(|| to_i64(report.sizes.uncompressed)))
        .bind(image.then(|| to_i64(report.sizes.pull)))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(measurement_id) = inserted else {
            tx.rollback().await?;
            let existing = self.measurement_id(artifact_id).await?;
            return existing.ok_or_else(|| {
                Error::Invalid(format!("measurement of artifact {artifact_id} vanished"))
            });
        };

        insert_measurement_parts(&mut tx, measurement_id, report, top_symbols).await?;
        tx.commit().await?;
        Ok(measurement_id)
    }
}

/// `value` as stored JSON (cleaned by `clean_json`).
fn stored_json(value: &impl Serialize) -> Result<serde_json::Value, Error> {
    let mut json = serde_json::to_value(value).map_err(|e| Error::Report(e.to_string()))?;
    clean_json(&mut json);
    Ok(json)
}

/// Row positions `0..n`, as stored.
fn positions(n: usize) -> Vec<i32> {
    (0..n)
        .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
        .collect()
}

/// The `top` largest symbols of `report`, largest first (ties by name).
fn top_symbols(report: &Report, top: usize) -> Vec<&sizegate_analyze::Symbol> {
    let mut symbols: Vec<_> = report.symbols.iter().collect();
    symbols.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
    symbols.truncate(top);
    symbols
}

/// Insert the sections, units and `top` largest symbols of a new
/// measurement, one statement each.
async fn insert_measurement_parts(
    tx: &mut sqlx::PgConnection,
    measurement_id: i64,
    report: &Report,
    top: usize,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO measurement_sections (measurement_id, position, name, kind, file_size, vm_size)
         SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[], $5::bigint[], $6::bigint[])",
    )
    .bind(measurement_id)
    .bind(positions(report.sections.len()))
    .bind(report.sections.iter().map(|s| text(&s.name)).collect::<Vec<_>>())
    .bind(report.sections.iter().map(|s| serde_name(&s.kind)).collect::<Vec<_>>())
    .bind(report.sections.iter().map(|s| to_i64(s.file_size)).collect::<Vec<_>>())
    .bind(report.sections.iter().map(|s| to_i64(s.vm_size)).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO measurement_units (measurement_id, position, name, kind, size, symbols)
         SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[], $5::bigint[], $6::bigint[])",
    )
    .bind(measurement_id)
    .bind(positions(report.units.len()))
    .bind(
        report
            .units
            .iter()
            .map(|u| text(&u.name))
            .collect::<Vec<_>>(),
    )
    .bind(
        report
            .units
            .iter()
            .map(|u| serde_name(&u.kind))
            .collect::<Vec<_>>(),
    )
    .bind(
        report
            .units
            .iter()
            .map(|u| to_i64(u.size))
            .collect::<Vec<_>>(),
    )
    .bind(
        report
            .units
            .iter()
            .map(|u| to_i64(u.symbols))
            .collect::<Vec<_>>(),
    )
    .execute(&mut *tx)
    .await?;
    let symbols = top_symbols(report, top);
    sqlx::query(
        "INSERT INTO measurement_symbols (measurement_id, rank, name, unit, section, size)
         SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::bigint[])",
    )
    .bind(measurement_id)
    .bind(positions(symbols.len()))
    .bind(symbols.iter().map(|s| text(&s.name)).collect::<Vec<_>>())
    .bind(symbols.iter().map(|s| text(&s.unit)).collect::<Vec<_>>())
    .bind(symbols.iter().map(|s| text(&s.section)).collect::<Vec<_>>())
    .bind(symbols.iter().map(|s| to_i64(s.size)).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use sizegate_analyze::{
        FileInfo, Format, Language, Section, SectionKind, Sizes, Symbol, Toolchain, Unit, UnitKind,
    };

    #[test]
    fn the_top_symbols_are_the_largest_then_by_name() {
        let mut report = sample_report(5000);
        let mut tie = report.symbols[1].clone();
        tie.name = "also_big".into();
        report.symbols.push(tie);
        let names: Vec<&str> = top_symbols(&report, 2)
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["also_big", "big"]);
        assert!(top_symbols(&report, 0).is_empty());
        assert_eq!(positions(3), [0, 1, 2]);
    }

    /// A small but complete report, for tests of this crate.
    pub(crate) fn sample_report(size: u64) -> Report {
        Report {
            schema_version: sizegate_analyze::SCHEMA_VERSION,
            file: FileInfo {
                name: "app".into(),
                size,
                sha256: "c".repeat(64),
            },
            format: Format::Elf,
            arch: "x86_64".into(),
            language: Language::Rust,
            stripped: false,
            toolchain: Toolchain::default(),
            sizes: Sizes {
                file: size,
                vm: size + 10,
                shipped: size - 100,
                gzip: size / 2,
                zstd: size / 3,
                debug: 40,
                symbols: 60,
                ..Default::default()
            },
            sections: vec![
                Section {
                    name: ".text".into(),
                    kind: SectionKind::Code,
                    file_size: size - 64,
                    vm_size: size - 64,
                },
                Section {
                    name: "[headers]".into(),
                    kind: SectionKind::Other,
                    file_size: 64,
                    vm_size: 0,
                },
            ],
            units: vec![Unit {
                name: "std".into(),
                kind: UnitKind::Crate,
                size: size - 100,
                symbols: 2,
                version: None,
                module: None,
            }],
            symbols: vec![
                Symbol {
                    name: "small".into(),
                    unit: "std".into(),
                    section: ".text".into(),
                    size: 1,
                },
                Symbol {
                    name: "big".into(),
                    unit: "std".into(),
                    section: ".text".into(),
                    size: 500,
                },
            ],
            units_instantiating: Vec::new(),
            symbols_truncated: false,
            notes: Vec::new(),
            compression_skipped: false,
            advice: vec![],
            layers: Vec::new(),
            files: Vec::new(),
            directories: Vec::new(),
        }
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn nul_characters_in_names_are_stored(pool: sqlx::PgPool) {
        let store = Store::new(pool);
        let artifact_id: i64 = sqlx::query_scalar(
            "INSERT INTO artifacts (sha256, size, blob_key) VALUES ($1, 5000, 'k') RETURNING id",
        )
        .bind("d".repeat(64))
        .fetch_one(store.pool())
        .await
        .unwrap();
        let mut report = sample_report(5000);
        report.sections[0].name = ".te\0xt".into();
        report.symbols[1].name = "big\0".into();
        report.toolchain.compilers = vec!["GCC\0: 12".into()];
        store
            .store_measurement(artifact_id, &report, "r", 10)
            .await
            .unwrap();
        let section: String =
            sqlx::query_scalar("SELECT name FROM measurement_sections WHERE position = 0")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(section, ".te\u{FFFD}xt");
    }

    #[test]
    fn reports_round_trip_compressed() {
        let report = sample_report(5000);
        let bytes = encode_report(&report).unwrap();
        assert_eq!(decode_report(&bytes, report.file.size).unwrap(), report);
        assert!(decode_report(b"not zstd", 1 << 20).is_err());
    }

    #[test]
    fn the_decompression_cap_grows_with_the_artifact_up_to_a_ceiling() {
        assert_eq!(report_json_cap(0), 1 << 20);
        assert_eq!(report_json_cap(1000), (1 << 20) + 16_000);
        assert_eq!(report_json_cap(1 << 30), MAX_REPORT_JSON_BYTES);
        assert_eq!(report_json_cap(u64::MAX), MAX_REPORT_JSON_BYTES);
    }

    #[test]
    fn a_repetitive_report_is_not_inflated_past_the_cap() {
        // A report padded with 8 MiB of one repeated symbol name: a few KiB
        // compressed, but far more JSON than a 5000-byte artifact allows.
        let mut report = sample_report(5000);
        report.symbols[0].name = "x".repeat(8 << 20);
        let bytes = encode_report(&report).unwrap();
        assert!(bytes.len() < 64 << 10, "{} bytes compressed", bytes.len());
        let err = decode_report(&bytes, 5000).unwrap_err().to_string();
        assert!(
            err.contains("inflates past 1128576 bytes") && err.contains("5000 bytes"),
            "{err}"
        );
        // The same bytes describe a large enough artifact: read.
        assert_eq!(decode_report(&bytes, 1 << 20).unwrap(), report);
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn stored_reports_are_read_within_their_artifacts_cap(pool: sqlx::PgPool) {
        let store = Store::new(pool);
        let dir = tempfile::tempdir().unwrap();
        let blobs = crate::blob::LocalBlobStore::open(dir.path()).await.unwrap();
        let artifact_id: i64 = sqlx::query_scalar(
            "INSERT INTO artifacts (sha256, size, blob_key) VALUES ($1, 5000, 'k') RETURNING id",
        )
        .bind("e".repeat(64))
        .fetch_one(store.pool())
        .await
        .unwrap();
        let report = sample_report(5000);
        store
            .store_measurement(artifact_id, &report, "reports/ee/good.json.zst", 10)
            .await
            .unwrap();
        use crate::BlobStore as _;
        blobs
            .put(
                "reports/ee/good.json.zst",
                encode_report(&report).unwrap().into(),
            )
            .await
            .unwrap();
        let read = store
            .read_report(&blobs, "reports/ee/good.json.zst")
            .await
            .unwrap();
        assert_eq!(read, report);
        // Another 5000-byte artifact whose stored report is a bomb:
        // refused, not inflated.
        let bomb_artifact: i64 = sqlx::query_scalar(
            "INSERT INTO artifacts (sha256, size, blob_key) VALUES ($1, 5000, 'k2') RETURNING id",
        )
        .bind("f".repeat(64))
        .fetch_one(store.pool())
        .await
        .unwrap();
        store
            .store_measurement(bomb_artifact, &report, "reports/ff/bomb.json.zst", 10)
            .await
            .unwrap();
        let mut bomb = report.clone();
        bomb.units[0].name = "u".repeat(4 << 20);
        blobs
            .put(
                "reports/ff/bomb.json.zst",
                encode_report(&bomb).unwrap().into(),
            )
            .await
            .unwrap();
        let err = store
            .read_report(&blobs, "reports/ff/bomb.json.zst")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("inflates past"), "{err}");
        // A key no measurement names is not read at all.
        let err = store
            .read_report(&blobs, "reports/ee/other.json.zst")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no measurement refers"), "{err}");
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn storing_is_idempotent(pool: sqlx::PgPool) {
        let store = Store::new(pool);
        let artifact_id: i64 = sqlx::query_scalar(
            "INSERT INTO artifacts (sha256, size, blob_key) VALUES ($1, 5000, 'k') RETURNING id",
        )
        .bind("c".repeat(64))
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(store.measurement_id(artifact_id).await.unwrap(), None);
        let report = sample_report(5000);
        let first = store
            .store_measurement(artifact_id, &report, "reports/cc/x", 1)
            .await
            .unwrap();
        let second = store
            .store_measurement(artifact_id, &report, "reports/cc/x", 1)
            .await
            .unwrap();
        assert_eq!(first, second);
        assert_eq!(
            store.measurement_id(artifact_id).await.unwrap(),
            Some(first)
        );
        let counts: (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM measurement_sections),
                    (SELECT count(*) FROM measurement_units),
                    (SELECT count(*) FROM measurement_symbols)",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(counts, (2, 1, 1));
        let top: String = sqlx::query_scalar("SELECT name FROM measurement_symbols WHERE rank = 0")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(top, "big");
        let (format, shipped): (String, i64) =
            sqlx::query_as("SELECT format, size_shipped FROM measurements")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!((format.as_str(), shipped), ("elf", 4900));
    }
}
