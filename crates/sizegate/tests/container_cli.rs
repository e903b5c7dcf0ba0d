//! `sizegate analyze` on container images made here with the system's
//! `tar` and `gzip` (no container engine): an OCI layout directory, the
//! same layout packed as tar, and a `docker save` archive; `--platform`,
//! the JSON contract and the table.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

use sizegate_analyze::{Format, Report};

fn sizegate(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sizegate"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn run(cmd: &mut Command) {
    let status = cmd.status().unwrap();
    assert!(status.success(), "{cmd:?}");
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

/// Layer 1: `etc/motd` (300 bytes) and `tmp/scratch` (4000 bytes);
/// layer 2 deletes `tmp/scratch` and adds `app/run` (1000 bytes).
fn layer_tars(dir: &Path) -> [std::path::PathBuf; 2] {
    let one = dir.join("one");
    std::fs::create_dir_all(one.join("etc")).unwrap();
    std::fs::create_dir_all(one.join("tmp")).unwrap();
    std::fs::write(one.join("etc/motd"), vec![b'm'; 300]).unwrap();
    std::fs::write(one.join("tmp/scratch"), vec![b's'; 4000]).unwrap();
    let two = dir.join("two");
    std::fs::create_dir_all(two.join("tmp")).unwrap();
    std::fs::create_dir_all(two.join("app")).unwrap();
    std::fs::write(two.join("tmp/.wh.scratch"), b"").unwrap();
    std::fs::write(two.join("app/run"), vec![b'r'; 1000]).unwrap();
    let tars = [dir.join("one.tar"), dir.join("two.tar")];
    for (src, tar) in [(&one, &tars[0]), (&two, &tars[1])] {
        run(Command::new("tar")
            .arg("-cf")
            .arg(tar)
            .arg("-C")
            .arg(src)
            .arg("."));
    }
    tars
}

fn blob(layout: &Path, file: &Path) -> (String, u64) {
    let digest = sha256(file);
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::copy(file, blobs.join(&digest)).unwrap();
    (
        format!("sha256:{digest}"),
        std::fs::metadata(file).unwrap().len(),
    )
}

fn write_json(dir: &Path, name: &str, value: &serde_json::Value) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec(value).unwrap()).unwrap();
    path
}

#[test]
fn oci_layout_directory_tar_and_docker_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let tars = layer_tars(dir);
    let tar_sizes: Vec<u64> = tars
        .iter()
        .map(|t| std::fs::metadata(t).unwrap().len())
        .collect();
    // OCI layout with gzip layers and two platforms sharing them.
    let layout = dir.join("layout");
    let mut descriptors = Vec::new();
    for tar in &tars {
        run(Command::new("gzip").arg("-k").arg("-n").arg(tar));
        let gz = tar.with_extension("tar.gz");
        let (digest, size) = blob(&layout, &gz);
        descriptors.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": digest, "size": size
        }));
    }
    let mut manifests = Vec::new();
    for arch in ["amd64", "arm64"] {
        let config = write_json(
            dir,
            &format!("config-{arch}.json"),
            &serde_json::json!({"os": "linux", "architecture": arch,
                "history": [{"created_by": "COPY one"}, {"created_by": "RUN rm /tmp/scratch"}]}),
        );
        let (cd, cs) = blob(&layout, &config);
        let manifest = write_json(
            dir,
            &format!("manifest-{arch}.json"),
            &serde_json::json!({"schemaVersion": 2, "config": {"digest": cd, "size": cs},
                "layers": descriptors}),
        );
        let (md, ms) = blob(&layout, &manifest);
        manifests.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": md, "size": ms,
            "platform": {"os": "linux", "architecture": arch}
        }));
    }
    write_json(
        &layout,
        "index.json",
        &serde_json::json!({"schemaVersion": 2, "manifests": manifests}),
    );
    std::fs::write(
        layout.join("oci-layout"),
        b"{\"imageLayoutVersion\":\"1.0.0\"}",
    )
    .unwrap();
    let compressed: u64 = descriptors
        .iter()
        .map(|d| d["size"].as_u64().unwrap())
        .sum();

    let check = |report: &Report| {
        assert_eq!(report.format, Format::OciLayout);
        assert_eq!(report.sizes.compressed, compressed);
        let layers: Vec<u64> = report.layers.iter().map(|l| l.uncompressed_size).collect();
        assert_eq!(layers, tar_sizes);
        assert_eq!(report.sizes.wasted, 4000);
        assert_eq!(
            report.units.iter().map(|u| u.size).sum::<u64>(),
            report.sizes.uncompressed
        );
        assert_eq!(
            report.sections.iter().map(|s| s.file_size).sum::<u64>(),
            report.file.size
        );
        assert_eq!(
            report.layers[1].created_by.as_deref(),
            Some("RUN rm /tmp/scratch")
        );
    };
    // The directory: both platforms, then one.
    let out = sizegate(&["analyze", "layout", "--format", "json"], dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Vec<Report> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reports.len(), 2);
    reports.iter().for_each(check);
    let out = sizegate(
        &[
            "analyze",
            "layout",
            "--format",
            "json",
            "--platform",
            "linux/arm64",
        ],
        dir,
    );
    let report: Report = serde_json::from_slice(&out.stdout).unwrap();
    check(&report);
    assert_eq!(report.arch, "aarch64");
    // The same layout packed as tar.
    run(Command::new("tar")
        .arg("-cf")
        .arg(dir.join("layout.tar"))
        .arg("-C")
        .arg(&layout)
        .arg("."));
    let out = sizegate(
        &[
            "analyze",
            "layout.tar",
            "--format",
            "json",
            "--platform",
            "linux/amd64",
        ],
        dir,
    );
    let report: Report = serde_json::from_slice(&out.stdout).unwrap();
    check(&report);
    assert_eq!(
        report.file.size,
        std::fs::metadata(dir.join("layout.tar")).unwrap().len()
    );
    // A platform the index does not hold: exit 2 naming those it does.
    let out = sizegate(&["analyze", "layout", "--platform", "linux/s390x"], dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("linux/amd64, linux/arm64"));

    // A `docker save` archive of the same layers, uncompressed.
    let save = dir.join("save");
    for (i, tar) in tars.iter().enumerate() {
        std::fs::create_dir_all(save.join(format!("l{i}"))).unwrap();
        std::fs::copy(tar, save.join(format!("l{i}/layer.tar"))).unwrap();
    }
    std::fs::copy(dir.join("config-amd64.json"), save.join("config.json")).unwrap();
    write_json(
        &save,
        "manifest.json",
        &serde_json::json!([{"Config": "config.json", "RepoTags": ["t:1"],
            "Layers": ["l0/layer.tar", "l1/layer.tar"]}]),
    );
    run(Command::new("tar")
        .arg("-cf")
        .arg(dir.join("save.tar"))
        .arg("-C")
        .arg(&save)
        .arg("."));
    let out = sizegate(&["analyze", "save.tar", "--format", "json"], dir);
    let report: Report = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report.format, Format::DockerArchive);
    assert_eq!(report.file.sha256, sha256(&dir.join("save.tar")));
    assert_eq!(report.sizes.compressed, tar_sizes.iter().sum::<u64>());
    assert_eq!(report.sizes.wasted, 4000);
    // The table names the layers, the files and the advice.
    let out = sizegate(&["analyze", "save.tar"], dir);
    let table = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "docker-archive",
        "LAYERS (2)",
        "RUN rm /tmp/scratch",
        "/app/run",
        "image-hidden-files",
        "[wasted]",
    ] {
        assert!(table.contains(needle), "{needle} missing from:\n{table}");
    }
}
