//! A commit's measured targets come back from a real Postgres with the
//! stored toolchain and advice decoded once, at the row mapping: typed
//! fields for the dashboard, and a decode error naming the column for a
//! stored value that is not a toolchain.

#![allow(clippy::unwrap_used)] // tests may unwrap

use sizegate_store::Store;
use sizegate_store::uploads::{CommitMeta, NewArtifact, Provenance};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

const SHA: &str = "abababababababababababababababababababab";

#[sqlx::test(migrations = "../../migrations")]
async fn toolchain_and_advice_are_typed_at_the_row_mapping(
    _opts: PgPoolOptions,
    options: PgConnectOptions,
) {
    let store = Store::new(PgPoolOptions::new().connect_with(options).await.unwrap());
    let repo: i64 = sqlx::query_scalar(
        "INSERT INTO repositories (owner, name) VALUES ('acme', 'app') RETURNING id",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    let meta = CommitMeta {
        sha: SHA.to_owned(),
        branch: Some("main".to_owned()),
        pr_number: None,
        base_sha: None,
        ancestors: Vec::new(),
        config: None,
        fork: false,
        provenance: Provenance::Token,
        tag: None,
    };
    let artifact = NewArtifact {
        target: "app".to_owned(),
        sha256: "cd".repeat(32),
        size: 10,
        blob_key: format!("blobs/{}", "cd".repeat(32)),
    };
    store
        .record_upload(repo, &meta, &[artifact], 5)
        .await
        .unwrap();
    let toolchain = serde_json::json!({
        "rustc": "rustc version 1.95.0", "go": null,
        "compilers": ["Linker: LLD 17.0.6"], "debug_info": false,
        "go_build": {"go_version": "go1.22.1", "path": "example.com/app", "main": null,
                     "deps": [], "settings": [{"key": "CGO_ENABLED", "value": "0"}]}
    });
    let advice = serde_json::json!([{"id": "strip-symbols", "saving": 4096, "message": "Strip."}]);
    sqlx::query(
        "INSERT INTO measurements (artifact_id, schema_version, format, arch, language, stripped,
             size_file, size_vm, size_shipped, size_gzip, size_zstd, size_debug, size_symbols,
             toolchain, advice, symbol_count, report_key)
         SELECT id, 2, 'elf', 'x86_64', 'rust', false, 10, 10, 10, 5, 5, 0, 0, $1, $2, 0, 'r'
         FROM artifacts",
    )
    .bind(&toolchain)
    .bind(&advice)
    .execute(store.pool())
    .await
    .unwrap();

    let measured = store.commit_measurements(repo, SHA).await.unwrap();
    assert_eq!(measured.len(), 1);
    let m = &measured[0];
    assert_eq!(m.toolchain.rustc.as_deref(), Some("rustc version 1.95.0"));
    assert_eq!(m.toolchain.compilers, ["Linker: LLD 17.0.6"]);
    let go = m.toolchain.go_build.as_ref().unwrap();
    assert_eq!(go.path.as_deref(), Some("example.com/app"));
    assert_eq!(go.settings[0].key, "CGO_ENABLED");
    assert_eq!(m.advice.len(), 1);
    assert_eq!(m.advice[0].saving, 4096);
    assert_eq!(m.advice[0].message, "Strip.");

    // A stored toolchain of the wrong shape is an error naming the column,
    // not a page with silently missing facts.
    sqlx::query(r#"UPDATE measurements SET toolchain = '{"compilers": "oops"}'"#)
        .execute(store.pool())
        .await
        .unwrap();
    let error = store.commit_measurements(repo, SHA).await.unwrap_err();
    assert!(error.to_string().contains("toolchain"), "{error}");
}
