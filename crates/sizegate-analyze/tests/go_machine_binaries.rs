//! Golden checks over real Go binaries found on the machine: the installed
//! toolchain's own (always there when these tests run, since they need
//! `go`), and well-known third-party ones when present (built by other Go
//! releases, e.g. 1.22 and 1.23 with the Go 1.20+ pclntab layout). They are
//! stripped, so the truth is `go version -m` for the build info and the
//! table's own invariants for the pclntab.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod go_support;

use std::path::{Path, PathBuf};

use go_support::{Binary, expected_layout, go_command, go_version_m};
use sizegate_analyze::go::{GoSection, package_of, read_build_info, read_pclntab};

/// Third-party Go binaries checked when present.
const OPTIONAL: &[&str] = &[
    "/usr/lib/google-cloud-sdk/bin/gke-gcloud-auth-plugin",
    "/usr/lib/google-cloud-sdk/platform/google_appengine/go-app-stager",
    "/usr/lib/google-cloud-sdk/bin/kubectl",
    "/usr/local/bin/docker",
    "/usr/lib/google-cloud-sdk/bin/cbt",
    "/usr/lib/google-cloud-sdk/bin/local-extract",
    "/usr/sbin/nats-server",
];

fn goroot() -> PathBuf {
    let output = go_command().args(["env", "GOROOT"]).output().unwrap();
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

fn toolchain_binaries() -> Vec<PathBuf> {
    let root = goroot();
    let mut binaries = vec![root.join("bin/go"), root.join("bin/gofmt")];
    let tools = root.join("pkg/tool");
    for platform in std::fs::read_dir(tools).unwrap() {
        let platform = platform.unwrap().path();
        for tool in ["compile", "link", "nm"] {
            if platform.join(tool).is_file() {
                binaries.push(platform.join(tool));
            }
        }
    }
    binaries
}

fn check(path: &Path) {
    let name = path.display();
    let binary = Binary::read(path);
    let (sections, target) = binary.sections();

    let info =
        read_build_info(&sections, target).unwrap_or_else(|| panic!("{name}: no build info"));
    let truth = go_version_m(path);
    assert_eq!(info.go_version, truth.go_version, "{name}");
    assert_eq!(info.path, truth.path, "{name}");
    assert_eq!(info.settings.len(), truth.settings.len(), "{name}");
    for (setting, (key, value)) in info.settings.iter().zip(&truth.settings) {
        assert_eq!((&setting.key, &setting.value), (key, value), "{name}");
    }
    let modules = info.main.iter().count()
        + info.deps.len()
        + info.deps.iter().filter(|d| d.replace.is_some()).count()
        + info.main.iter().filter(|m| m.replace.is_some()).count();
    assert_eq!(modules, truth.modules.len(), "{name}");
    for (dep, (_, columns)) in info
        .deps
        .iter()
        .zip(truth.modules.iter().filter(|(k, _)| k == "dep"))
    {
        assert_eq!(&dep.path, &columns[0], "{name}");
        assert_eq!(&dep.version, &columns[1], "{name}");
        assert_eq!(dep.sum.as_ref(), columns.get(2), "{name}");
    }

    let table = read_pclntab(&sections, target).unwrap_or_else(|| panic!("{name}: no pclntab"));
    assert_eq!(table.version, expected_layout(&info.go_version), "{name}");
    assert!(table.functions.len() > 1000, "{name}");
    let text = sections
        .iter()
        .find(|s| s.name == ".text")
        .expect("a .text section");
    let text_end = text.address + text.data.len() as u64;
    let first = &table.functions[0];
    let last = table.functions.last().unwrap();
    assert!(
        first.entry >= text.address && last.entry + last.size + last.padding <= text_end,
        "{name}"
    );
    // Code and padding tile the text the table covers.
    let total: u64 = table.functions.iter().map(|f| f.size + f.padding).sum();
    assert_eq!(
        total,
        last.entry + last.size + last.padding - first.entry,
        "{name}"
    );
    for wanted in ["runtime.main", "main.main"] {
        let function = table.functions.iter().find(|f| f.name == wanted);
        assert!(function.is_some_and(|f| f.size > 0), "{name}: {wanted}");
    }
    // Found by its magic too, when its section is not named as such.
    let hidden: Vec<GoSection<'_>> = sections
        .iter()
        .map(|s| GoSection {
            name: if s.name == table.section {
                "hidden"
            } else {
                s.name
            },
            ..*s
        })
        .collect();
    let scanned = read_pclntab(&hidden, target).unwrap_or_else(|| panic!("{name}: scan failed"));
    assert_eq!(scanned.functions, table.functions, "{name}");
    let runtime: u64 = table
        .functions
        .iter()
        .filter(|f| package_of(&f.name) == "runtime")
        .map(|f| f.size)
        .sum();
    assert!(runtime > 100_000, "{name}: runtime code is {runtime} bytes");
    eprintln!(
        "{name}: {}, {:?} pclntab in {}, {} functions, {} deps",
        info.go_version,
        table.version,
        table.section,
        table.functions.len(),
        info.deps.len()
    );
}

#[test]
fn go_binaries_on_the_machine_decode() {
    let toolchain = toolchain_binaries();
    assert!(toolchain.len() >= 3);
    let present = OPTIONAL.iter().map(PathBuf::from).filter(|p| p.is_file());
    for path in toolchain.into_iter().chain(present) {
        check(&path);
    }
}

#[test]
fn non_go_binaries_have_neither_pclntab_nor_build_info() {
    // A C program built now, and this Rust test binary itself.
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("hello.c");
    std::fs::write(
        &source,
        "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n",
    )
    .unwrap();
    let c_binary = dir.path().join("hello");
    let status = std::process::Command::new("gcc")
        .arg("-O2")
        .arg("-o")
        .arg(&c_binary)
        .arg(&source)
        .status()
        .unwrap();
    assert!(status.success());
    for path in [c_binary, std::env::current_exe().unwrap()] {
        let binary = Binary::read(&path);
        let (sections, target) = binary.sections();
        assert!(sections.len() > 5, "{}", path.display());
        assert!(
            read_pclntab(&sections, target).is_none(),
            "{}",
            path.display()
        );
        assert!(
            read_build_info(&sections, target).is_none(),
            "{}",
            path.display()
        );
    }
}
