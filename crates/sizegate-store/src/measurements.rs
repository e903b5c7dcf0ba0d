//! Measurements: what the analyzer found in one artifact. The headline
//! figures, sections, units and the largest symbols are rows (history,
//! dashboards and diffs need no blob); the full report is kept
//! zstd-compressed in the blob store.

use std::io::Read;

use serde::Serialize;
use sizegate_analyze::Report;

use crate::{Error, Store};

/// zstd level of stored reports.
const REPORT_ZSTD_LEVEL: i32 = 3;

/// A decompressed report larger than this is refused (it would be a bug or
/// a corrupted blob: real reports are a few MiB).
const MAX_REPORT_BYTES: u64 = 1 << 30;

/// Compress a report for the blob store.
pub fn encode_report(report: &Report) -> Result<Vec<u8>, Error> {
    let json = serde_json::to_vec(report).map_err(|e| Error::Report(e.to_string()))?;
    zstd::encode_all(json.as_slice(), REPORT_ZSTD_LEVEL).map_err(|e| Error::Report(e.to_string()))
}

/// Read back a report written by [`encode_report`].
pub fn decode_report(bytes: &[u8]) -> Result<Report, Error> {
    let decoder = zstd::Decoder::new(bytes).map_err(|e| Error::Report(e.to_string()))?;
    let mut json = Vec::new();
    decoder
        .take(MAX_REPORT_BYTES)
        .read_to_end(&mut json)
        .map_err(|e| Error::Report(e.to_string()))?;
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
        let mut toolchain =
            serde_json::to_value(&report.toolchain).map_err(|e| Error::Report(e.to_string()))?;
        let mut advice =
            serde_json::to_value(&report.advice).map_err(|e| Error::Report(e.to_string()))?;
        clean_json(&mut toolchain);
        clean_json(&mut advice);
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO measurements (artifact_id, schema_version, format, arch, language, stripped,
                 size_file, size_vm, size_shipped, size_gzip, size_zstd, size_debug, size_symbols,
                 toolchain, advice, symbol_count, report_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
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
        .fetch_optional(&mut *tx)
        .await?;
        let Some(measurement_id) = inserted else {
            tx.rollback().await?;
            let existing = self.measurement_id(artifact_id).await?;
            return existing.ok_or_else(|| {
                Error::Invalid(format!("measurement of artifact {artifact_id} vanished"))
            });
        };

        let positions = |n: usize| {
            (0..n)
                .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
                .collect::<Vec<_>>()
        };
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
        .bind(report.units.iter().map(|u| text(&u.name)).collect::<Vec<_>>())
        .bind(report.units.iter().map(|u| serde_name(&u.kind)).collect::<Vec<_>>())
        .bind(report.units.iter().map(|u| to_i64(u.size)).collect::<Vec<_>>())
        .bind(report.units.iter().map(|u| to_i64(u.symbols)).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
        let mut symbols: Vec<_> = report.symbols.iter().collect();
        symbols.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
        symbols.truncate(top_symbols);
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
        tx.commit().await?;
        Ok(measurement_id)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use sizegate_analyze::{
        FileInfo, Format, Language, Section, SectionKind, Sizes, Symbol, Toolchain, Unit, UnitKind,
    };

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
            symbols_truncated: false,
            compression_skipped: false,
            advice: vec![],
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
        assert_eq!(decode_report(&bytes).unwrap(), report);
        assert!(decode_report(b"not zstd").is_err());
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
