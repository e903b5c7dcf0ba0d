//! Who owns each file: the OS package that installed it, from the image's
//! own package databases (dpkg `status` and `info/*.list`, distroless
//! `status.d/`, apk `installed`), else a path-prefix unit.

use std::collections::{BTreeMap, HashMap, HashSet};

/// Path (relative, as the merged filesystem keys it) -> package name.
pub(crate) fn package_map(captured: &BTreeMap<String, Vec<u8>>) -> HashMap<String, String> {
    let mut owners = HashMap::new();
    let installed = dpkg_installed(captured);
    for (path, bytes) in captured {
        let text = String::from_utf8_lossy(bytes);
        if let Some(name) = path
            .strip_prefix("var/lib/dpkg/info/")
            .and_then(|n| n.strip_suffix(".list"))
        {
            let package = name.split(':').next().unwrap_or(name);
            if installed.as_ref().is_some_and(|i| !i.contains(package)) {
                continue;
            }
            for line in text.lines() {
                let line = line.trim_start_matches('/');
                if !line.is_empty() && line != "." {
                    owners.insert(line.to_string(), package.to_string());
                }
            }
        } else if let Some(name) = path
            .strip_prefix("var/lib/dpkg/status.d/")
            .and_then(|n| n.strip_suffix(".md5sums"))
        {
            // Distroless: `<md5>  <path>` lines, one file of them per package.
            for line in text.lines() {
                if let Some((_, file)) = line.split_once("  ") {
                    owners.insert(file.trim_start_matches('/').to_string(), name.to_string());
                }
            }
        } else if path == "lib/apk/db/installed" {
            apk(&text, &mut owners);
        }
    }
    owners
}

/// Installed packages per `var/lib/dpkg/status`, when it is there.
fn dpkg_installed(captured: &BTreeMap<String, Vec<u8>>) -> Option<HashSet<String>> {
    let status = captured.get("var/lib/dpkg/status")?;
    let text = String::from_utf8_lossy(status);
    let mut out = HashSet::new();
    for stanza in text.split("\n\n") {
        let mut name = None;
        let mut installed = false;
        for line in stanza.lines() {
            if let Some(v) = line.strip_prefix("Package:") {
                name = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix("Status:") {
                installed = v.trim().ends_with(" installed");
            }
        }
        if let (Some(name), true) = (name, installed) {
            out.insert(name);
        }
    }
    Some(out)
}

/// `P:` names a package, `F:` a directory, `R:` a file in it.
fn apk(text: &str, owners: &mut HashMap<String, String>) {
    for stanza in text.split("\n\n") {
        let mut package = String::new();
        let mut dir = String::new();
        for line in stanza.lines() {
            if let Some(v) = line.strip_prefix("P:") {
                package = v.to_string();
            } else if let Some(v) = line.strip_prefix("F:") {
                dir = v.trim_matches('/').to_string();
            } else if let Some(v) = line.strip_prefix("R:") {
                if package.is_empty() {
                    continue;
                }
                let path = if dir.is_empty() {
                    v.to_string()
                } else {
                    format!("{dir}/{v}")
                };
                owners.insert(path, package.clone());
            }
        }
    }
}

/// The path unit of a file no package owns: the package directory of a
/// `node_modules` tree (`/app/node_modules/@scope/x`), the file itself in
/// a `bin` or `sbin` directory (`/usr/local/bin/app`), else its first two
/// directories (`/usr/share`, `/app/static`), or one for a shallow file.
pub(crate) fn path_unit(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').collect();
    if let Some(i) = parts.iter().position(|p| *p == "node_modules") {
        let take = match parts.get(i + 1) {
            Some(scope) if scope.starts_with('@') => i + 3,
            _ => i + 2,
        };
        if take < parts.len() {
            return format!("/{}", parts[..take].join("/"));
        }
    }
    if parts.len() >= 2 && matches!(parts[parts.len() - 2], "bin" | "sbin") {
        return format!("/{path}");
    }
    let dirs = parts.len().saturating_sub(1).clamp(1, 2);
    format!("/{}", parts[..dirs].join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_units() {
        assert_eq!(path_unit("usr/local/bin/app"), "/usr/local/bin/app");
        assert_eq!(
            path_unit("app/node_modules/x/lib/a.js"),
            "/app/node_modules/x"
        );
        assert_eq!(
            path_unit("app/node_modules/@s/y/index.js"),
            "/app/node_modules/@s/y"
        );
        assert_eq!(path_unit("usr/share/doc/a/b"), "/usr/share");
        assert_eq!(path_unit("etc/passwd"), "/etc");
        assert_eq!(path_unit("hello"), "/hello");
    }

    #[test]
    fn databases() {
        let mut captured = BTreeMap::new();
        captured.insert(
            "var/lib/dpkg/status".to_string(),
            b"Package: a\nStatus: install ok installed\n\nPackage: gone\nStatus: deinstall ok config-files\n".to_vec(),
        );
        captured.insert(
            "var/lib/dpkg/info/a:amd64.list".to_string(),
            b"/.\n/usr\n/usr/bin/a\n".to_vec(),
        );
        captured.insert(
            "var/lib/dpkg/info/gone.list".to_string(),
            b"/usr/bin/gone\n".to_vec(),
        );
        captured.insert(
            "lib/apk/db/installed".to_string(),
            b"P:musl\nV:1\nF:lib\nR:ld-musl.so.1\nF:usr/lib\nR:libc.so\n\nP:zlib\nF:lib\nR:libz.so.1\n".to_vec(),
        );
        let owners = package_map(&captured);
        assert_eq!(owners["usr/bin/a"], "a");
        assert!(!owners.contains_key("usr/bin/gone"));
        assert_eq!(owners["lib/ld-musl.so.1"], "musl");
        assert_eq!(owners["usr/lib/libc.so"], "musl");
        assert_eq!(owners["lib/libz.so.1"], "zlib");
    }
}
