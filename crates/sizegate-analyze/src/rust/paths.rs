//! Source paths of Rust code, as panic locations hold them: which crate,
//! and which version, a path names.

use std::cmp::Ordering;

/// The crate a source path belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SourcePath {
    /// Crate name as symbols spell it (`-` as `_`).
    pub crate_name: String,
    /// Its version, when the path has it (Cargo registry directories).
    pub version: Option<String>,
    /// Named by a workspace member's directory (a convention, not a fact).
    pub workspace: bool,
}

/// The crate of a `.rs` path:
/// - the standard library: `…/library/<crate>/src/…` (`/rustc/<commit>/…`
///   or a rustc source tree);
/// - a Cargo registry or vendor directory `<crate>-<version>/` anywhere in
///   the path (the last one wins: `~/.cargo/registry/src/<index>/regex-1.11.1/src/lib.rs`).
///
/// - a relative path of a workspace member, `<dir>/src/…`
///   (`crates/oxc_linter/src/lib.rs`: crate `oxc_linter`, no version): Cargo
///   records a member's paths relative to the workspace root, and members
///   live in a directory named after the crate by convention.
///
/// The root package's own paths (`src/main.rs`) name no crate: `None`.
pub(crate) fn parse_source_path(path: &str) -> Option<SourcePath> {
    if !path.ends_with(".rs") || path.len() > 4096 {
        return None;
    }
    let components: Vec<&str> = path.split(['/', '\\']).collect();
    // The last `<name>-<version>` directory followed (somewhere) by more
    // components.
    // (`rustc-1.63.0` is a rustc source tree, not a crate.)
    for component in components.iter().rev().skip(1) {
        if let Some((name, version)) = split_name_version(component)
            && name != "rustc"
        {
            return Some(SourcePath {
                crate_name: name.replace('-', "_"),
                version: Some(version.to_string()),
                workspace: false,
            });
        }
    }
    // The standard library: `…/library/core/src/…`, or as Windows builds
    // write it, `…/library\core\src\…`.
    let library = ["/library/", "/library\\"]
        .iter()
        .find_map(|p| Some(path.find(p)? + p.len()))
        .or_else(|| (path.starts_with("library/") || path.starts_with("library\\")).then_some(8));
    if let Some(at) = library {
        let rest = path.get(at..)?;
        return library_crate(rest.as_bytes()).map(|name| SourcePath {
            crate_name: name.to_string(),
            version: None,
            workspace: false,
        });
    }
    workspace_member(&components)
}

/// `[…/]<dir>/src/…` in a relative path: the workspace member `<dir>`.
fn workspace_member(components: &[&str]) -> Option<SourcePath> {
    let first = components.first()?;
    // Absolute (`/home/…`, `C:\…`) paths are not the workspace's.
    if first.is_empty() || first.ends_with(':') {
        return None;
    }
    let src = components.iter().position(|&c| c == "src")?;
    let dir = components.get(src.checked_sub(1)?)?;
    let valid = !dir.is_empty()
        && dir.len() <= 64
        && dir.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && dir
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    valid.then(|| SourcePath {
        crate_name: dir.replace('-', "_"),
        version: None,
        workspace: true,
    })
}

/// `<crate>/src/…` right after `/library/`: the standard library crate
/// (Windows builds write `library/core\src\time.rs`).
pub(crate) fn library_crate(rest: &[u8]) -> Option<&str> {
    let slash = rest.iter().position(|&b| b == b'/' || b == b'\\')?;
    let name = std::str::from_utf8(&rest[..slash]).ok()?;
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let src = rest[slash..].starts_with(b"/src/") || rest[slash..].starts_with(b"\\src\\");
    (valid && src).then_some(name)
}

/// `regex-1.11.1` → (`regex`, `1.11.1`); `foo-bar-0.1.0-alpha.1` →
/// (`foo-bar`, `0.1.0-alpha.1`). The version is semver: three numbers,
/// then an optional pre-release and build.
pub(crate) fn split_name_version(component: &str) -> Option<(&str, &str)> {
    let bytes = component.as_bytes();
    for (i, _) in component.match_indices('-') {
        if !bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            continue;
        }
        let (name, version) = (&component[..i], &component[i + 1..]);
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name.as_bytes()[0].is_ascii_alphabetic()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if name_ok && is_semver(version) {
            return Some((name, version));
        }
        return None;
    }
    None
}

fn is_semver(version: &str) -> bool {
    let core_end = version.find(['-', '+']).unwrap_or(version.len());
    let (core, rest) = version.split_at(core_end);
    let numbers: Vec<&str> = core.split('.').collect();
    numbers.len() == 3
        && numbers
            .iter()
            .all(|n| !n.is_empty() && n.len() <= 20 && n.bytes().all(|b| b.is_ascii_digit()))
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+'))
}

/// Order of two versions: by their numbers, a pre-release before its
/// release, then as text.
pub(crate) fn compare_versions(a: &str, b: &str) -> Ordering {
    fn key(v: &str) -> (Vec<u64>, bool) {
        let core_end = v.find(['-', '+']).unwrap_or(v.len());
        let numbers = v[..core_end]
            .split('.')
            .map(|n| n.parse().unwrap_or(0))
            .collect();
        (numbers, !v[core_end..].starts_with('-'))
    }
    key(a).cmp(&key(b)).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(path: &str) -> Option<(String, Option<String>)> {
        parse_source_path(path).map(|p| (p.crate_name, p.version))
    }

    #[test]
    fn registry_paths_name_crate_and_version() {
        assert_eq!(
            parsed(
                "/home/u/.cargo/registry/src/index.crates.io-6f17d22bba15001f/regex-automata-0.4.9/src/util/pool.rs"
            ),
            Some(("regex_automata".into(), Some("0.4.9".into())))
        );
        assert_eq!(
            parsed("/usr/share/cargo/registry/grep-searcher-0.1.10/src/lines.rs"),
            Some(("grep_searcher".into(), Some("0.1.10".into())))
        );
        assert_eq!(
            parsed("vendor/windows-sys-0.52.0-rc.1/src/lib.rs"),
            Some(("windows_sys".into(), Some("0.52.0-rc.1".into())))
        );
        assert_eq!(
            parsed(
                r"C:\Users\u\.cargo\registry\src\index.crates.io-1949cf8c6b5b557f\clap_builder-4.5.20\src\parser\parser.rs"
            ),
            Some(("clap_builder".into(), Some("4.5.20".into())))
        );
    }

    #[test]
    fn standard_library_paths_name_the_crate() {
        assert_eq!(
            parsed("/rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/core/src/fmt/mod.rs"),
            Some(("core".into(), None))
        );
        assert_eq!(
            parsed("/usr/src/rustc-1.63.0/library/alloc/src/string.rs"),
            Some(("alloc".into(), None))
        );
        // The windows-gnu standard library's own spelling.
        assert_eq!(
            parsed(
                "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library\\std\\src\\sync\\once.rs"
            ),
            Some(("std".into(), None))
        );
    }

    #[test]
    fn local_paths_name_nothing() {
        assert_eq!(
            parsed("/rustc/20ddd01716a87c0fcf06ae4752d85a4abc15bcdf/library/core\\src\\time.rs"),
            Some(("core".into(), None))
        );
        assert_eq!(parsed("src/main.rs"), None);
        assert_eq!(
            parsed("crates/oxc_linter/src/rules/eslint/no_debugger.rs"),
            Some(("oxc_linter".into(), None))
        );
        assert_eq!(
            parsed("crates\\oxc_str\\src\\js_str.rs"),
            Some(("oxc_str".into(), None))
        );
        assert_eq!(parsed("C:\\work\\app\\src\\main.rs"), None);
        assert_eq!(parsed("crates/9lives/src/lib.rs"), None);
        assert_eq!(parsed("crates/core/args.rs"), None);
        assert_eq!(parsed("/tmp/x-1.2/src/main.rs"), None);
        assert_eq!(parsed("/srv/-1.2.3/src/main.rs"), None);
    }

    #[test]
    fn versions_order_by_numbers() {
        assert_eq!(compare_versions("1.10.0", "1.9.3"), Ordering::Greater);
        assert_eq!(compare_versions("1.0.0-rc.1", "1.0.0"), Ordering::Less);
        assert_eq!(compare_versions("0.1.0", "0.1.0"), Ordering::Equal);
    }
}
