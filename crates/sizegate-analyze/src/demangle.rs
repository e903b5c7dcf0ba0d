//! Symbol names: demangling (Rust legacy and v0, C++ Itanium, Go as is) and
//! the unit each symbol is charged to — for Rust the crate that defines the
//! function, not the crates of its type arguments.

use std::fmt::Write as _;

use crate::go;
use crate::report::UnitKind;

/// Longest demangled name we produce; longer output is cut with `…`. Bounds
/// the work on hostile names whose demangling would explode.
const MAX_NAME: usize = 4096;

/// Source language a symbol comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Lang {
    /// Rust (mangled, or a Rust runtime symbol).
    Rust,
    /// C++ (Itanium mangling).
    Cpp,
    /// Go.
    Go,
    /// C or anything unmangled.
    C,
}

/// A symbol name, demangled and attributed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Demangled {
    /// Display name (Rust without hash nor crate disambiguators).
    pub name: String,
    /// The unit it is charged to.
    pub unit: String,
    /// Kind of that unit.
    pub unit_kind: UnitKind,
    /// Language.
    pub lang: Lang,
    /// Disambiguator of the defining crate (Rust v0 only).
    pub disambiguator: Option<String>,
    /// Every `(crate, disambiguator)` the name mentions (Rust v0 only).
    pub crate_ids: Vec<(String, String)>,
}

/// Demangle `raw` and find its unit. `go_binary` says whether unmangled
/// dotted names are Go symbols.
pub(crate) fn demangle(raw: &str, go_binary: bool) -> Demangled {
    if let Some(d) = rust(raw) {
        return d;
    }
    if raw.starts_with("_Z")
        && let Some(d) = cpp(raw)
    {
        return d;
    }
    if raw.starts_with("__rust")
        || raw.starts_with("rust_")
        || raw.starts_with("__rdl_")
        || raw.starts_with("__rg_")
    {
        return plain(raw, "std", UnitKind::Crate, Lang::Rust);
    }
    if go_binary && is_go_name(raw) {
        let package = go::package_of(raw);
        let package = if package.is_empty() { "[Go]" } else { package };
        return plain(raw, package, UnitKind::Package, Lang::Go);
    }
    plain(raw, "[C]", UnitKind::C, Lang::C)
}

/// [`demangle`], or for a name that is already demangled (a PDB's
/// procedure and data names) the unit its language's rule gives: Rust the
/// defining crate (MSVC-style paths such as `core::fmt::impl$12::fmt`
/// included), C++ the first namespace, C `[C]`.
pub(crate) fn demangle_as(raw: &str, undecorated: Option<Lang>, go_binary: bool) -> Demangled {
    match undecorated {
        None => demangle(raw, go_binary),
        // A Rust module's names without a path (`main`, `__rust_alloc`)
        // follow the rules of symbol names.
        Some(Lang::Rust) if !raw.contains("::") => demangle(raw, false),
        Some(Lang::Rust) => {
            let krate = match defining_crate(raw, 0) {
                Some(krate) => krate,
                None if raw.starts_with('<') => "core",
                None => "[Rust]",
            };
            plain(raw, krate, UnitKind::Crate, Lang::Rust)
        }
        Some(Lang::Cpp) => {
            let (unit, unit_kind) = cpp_unit(raw);
            plain(raw, &unit, unit_kind, Lang::Cpp)
        }
        Some(Lang::C | Lang::Go) => plain(raw, "[C]", UnitKind::C, Lang::C),
    }
}

fn plain(raw: &str, unit: &str, unit_kind: UnitKind, lang: Lang) -> Demangled {
    Demangled {
        // Most names need no cap: copy them without the formatting machinery.
        name: if raw.len() <= MAX_NAME {
            raw.to_string()
        } else {
            capped(&raw, false)
        },
        unit: unit.to_string(),
        unit_kind,
        lang,
        disambiguator: None,
        crate_ids: Vec::new(),
    }
}

/// Go symbol names hold a dot (`main.main`, `type:*foo.T`, `go:buildid`).
fn is_go_name(raw: &str) -> bool {
    (raw.contains('.') || raw.starts_with("go:") || raw.starts_with("type:"))
        && !raw.starts_with('_')
}

/// A string writer that stops with an error past [`MAX_NAME`] bytes, so
/// that hostile input cannot make us build a huge string.
#[derive(Debug, Default)]
struct Capped(String);

impl std::fmt::Write for Capped {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.0.len() + s.len() > MAX_NAME {
            let room = MAX_NAME.saturating_sub(self.0.len());
            let cut = (0..=room)
                .rev()
                .find(|&i| s.is_char_boundary(i))
                .unwrap_or(0);
            self.0.push_str(&s[..cut]);
            return Err(std::fmt::Error);
        }
        self.0.push_str(s);
        Ok(())
    }
}

impl Capped {
    fn finish(mut self, result: std::fmt::Result) -> String {
        if result.is_err() {
            self.0.push('…');
        }
        self.0
    }
}

/// Format with an output cap.
fn capped(value: &dyn std::fmt::Display, alternate: bool) -> String {
    // Most names fit: one allocation instead of a doubling per piece.
    let mut out = Capped(String::with_capacity(128));
    let result = if alternate {
        write!(out, "{value:#}")
    } else {
        write!(out, "{value}")
    };
    out.finish(result)
}

fn rust(raw: &str) -> Option<Demangled> {
    let is_v0 = raw.starts_with("_R");
    if !is_v0 && !raw.starts_with("_ZN") {
        return None;
    }
    let demangled = rustc_demangle::try_demangle(raw).ok()?;
    let full = capped(&demangled, false);
    if !is_v0 && !has_legacy_hash(&full) {
        return None; // a C++ name rustc-demangle also understands
    }
    // A legacy name without its hash is the full one cut before `::h…`
    // (what `{:#}` prints), unless a suffix (`.llvm.…`) or the cap is in
    // the way: then it is formatted again.
    let name = match legacy_without_hash(&full) {
        Some(name) if !is_v0 => name.to_string(),
        _ => capped(&demangled, true),
    };
    let crate_ids = if is_v0 { crate_ids(&full) } else { Vec::new() };
    let krate = match defining_crate(&name, 0) {
        // Symbols the compiler itself defines for the standard library
        // (`__rustc::rust_begin_unwind`, allocator shims).
        Some("__rustc") => "std",
        Some(krate) => krate,
        // Inherent methods of primitive types (`<u128>::fmt`) live in core.
        None if name.starts_with('<') => "core",
        None => "[Rust]",
    }
    .to_string();
    let disambiguator = crate_ids
        .iter()
        .find(|(c, _)| *c == krate)
        .map(|(_, d)| d.clone())
        .filter(|_| {
            // The defining crate is the first one named in a plain path.
            full.starts_with(&krate) || full.starts_with('<')
        });
    Some(Demangled {
        name,
        unit: krate,
        unit_kind: UnitKind::Crate,
        lang: Lang::Rust,
        disambiguator,
        crate_ids,
    })
}

/// Legacy Rust symbols end in `::h` and 16 hex digits.
fn has_legacy_hash(full: &str) -> bool {
    let Some(pos) = full.rfind("::h") else {
        return false;
    };
    let hash = &full[pos + 3..];
    hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A legacy name printed in full, without its final `::h<hex>` element
/// (`rustc-demangle` drops exactly that element in its alternate form).
fn legacy_without_hash(full: &str) -> Option<&str> {
    let pos = full.rfind("::h")?;
    let hash = &full[pos + 3..];
    (!hash.is_empty() && hash.bytes().all(|b| b.is_ascii_hexdigit())).then(|| &full[..pos])
}

/// Every `name[hex]` crate id in a v0 name printed with disambiguators.
fn crate_ids(full: &str) -> Vec<(String, String)> {
    let bytes = full.as_bytes();
    let mut out: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while let Some(open) = full[i..].find('[').map(|p| p + i) {
        let close = match full[open..].find(']') {
            Some(p) => open + p,
            None => break,
        };
        let hex = &full[open + 1..close];
        let start = full[..open]
            .char_indices()
            .rev()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |(p, c)| p + c.len_utf8());
        let valid = !hex.is_empty()
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
            && start < open
            && !bytes[start].is_ascii_digit()
            && &full[start..open] != "__rustc";
        if valid {
            let id = (full[start..open].to_string(), hex.to_string());
            if !out.contains(&id) {
                out.push(id);
            }
        }
        i = open + 1;
    }
    out
}

fn is_std_crate(name: &str) -> bool {
    matches!(name, "std" | "core" | "alloc" | "proc_macro" | "test")
}

/// The crate that defines the function a demangled Rust path names:
/// `core::ptr::drop_in_place<my::X>` → `core`; `<my::X as core::fmt::Debug>::fmt`
/// → `my` (the impl lives with the type); `<core::option::Option<T> as
/// serde::Serialize>::serialize` → `serde` (std cannot implement a foreign
/// trait); `<&T as core::fmt::Debug>::fmt` → `core`.
fn defining_crate(path: &str, depth: u32) -> Option<&str> {
    if depth > 16 {
        return None;
    }
    let path = path.trim_start();
    let path = ["&mut ", "&", "*const ", "*mut ", "dyn "]
        .iter()
        .find_map(|p| path.strip_prefix(p))
        .map_or(path, str::trim_start);
    if let Some(rest) = path.strip_prefix('<') {
        let close = matching_angle(rest)?;
        let inner = &rest[..close];
        let (ty, tr) = match split_top_level_as(inner) {
            Some((ty, tr)) => (ty, Some(tr)),
            None => (inner, None),
        };
        let ty_crate = if starts_with_builtin(ty) {
            None
        } else {
            defining_crate(ty, depth + 1)
        };
        let tr_crate = tr.and_then(|t| defining_crate(t, depth + 1));
        return match (ty_crate, tr_crate) {
            (Some(t), Some(r)) if is_std_crate(t) && !is_std_crate(r) => Some(r),
            (Some(t), _) => Some(t),
            (None, r) => r,
        };
    }
    if starts_with_builtin(path) {
        return None;
    }
    let end =
        path.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '$'))?;
    (path[end..].starts_with("::") && end > 0).then(|| &path[..end])
}

/// Types with no crate of their own: references, pointers, slices, arrays,
/// tuples, function pointers, trait objects and primitives.
fn starts_with_builtin(ty: &str) -> bool {
    let ty = ty.trim_start();
    ty.starts_with(['&', '*', '[', '(', '!'])
        || ty.starts_with("fn(")
        || ty.starts_with("unsafe ")
        || ty.starts_with("extern ")
        || ty.starts_with("dyn ")
        || !ty.contains("::")
}

/// Position of the `>` closing an already opened `<` (ignoring `->`).
fn matching_angle(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut depth = 1usize;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'<' => depth += 1,
            b'>' if i > 0 && bytes[i - 1] == b'-' => {}
            b'>' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Split `T as Trait` at its top-level ` as `.
fn split_top_level_as(s: &str) -> Option<(&str, &str)> {
    let bytes = s.as_bytes();
    let mut depth = 0i32;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'<' | b'(' | b'[' => depth += 1,
            b'>' if i > 0 && bytes[i - 1] == b'-' => {}
            b'>' | b')' | b']' => depth -= 1,
            b' ' if depth == 0 && s[i..].starts_with(" as ") => {
                return Some((&s[..i], &s[i + 4..]));
            }
            _ => {}
        }
    }
    None
}

/// C++: the unit is the first namespace, or `[C]` at global scope.
fn cpp(raw: &str) -> Option<Demangled> {
    if raw.len() > MAX_NAME {
        return None;
    }
    // cpp_demangle bounds its own recursion by default.
    let symbol = cpp_demangle::Symbol::new(raw).ok()?;
    let mut out = Capped::default();
    let result = symbol.structured_demangle(&mut out, &cpp_demangle::DemangleOptions::default());
    let name = out.finish(result);
    let (unit, unit_kind) = cpp_unit(&name);
    Some(Demangled {
        name,
        unit,
        unit_kind,
        lang: Lang::Cpp,
        disambiguator: None,
        crate_ids: Vec::new(),
    })
}

/// The unit of a demangled C++ name: its first namespace, or `[C]` at
/// global scope.
fn cpp_unit(name: &str) -> (String, UnitKind) {
    let head = name
        .strip_prefix("non-virtual thunk to ")
        .or_else(|| name.strip_prefix("virtual thunk to "))
        .or_else(|| name.strip_prefix("vtable for "))
        .or_else(|| name.strip_prefix("typeinfo for "))
        .or_else(|| name.strip_prefix("typeinfo name for "))
        .or_else(|| name.strip_prefix("VTT for "))
        .or_else(|| name.strip_prefix("guard variable for "))
        .unwrap_or(name);
    let end = head.find(['(', '<', ' ']).unwrap_or(head.len());
    let namespace = head[..end]
        .split("::")
        .next()
        .filter(|_| head[..end].contains("::"));
    match namespace {
        Some(ns) if !ns.is_empty() => (ns.to_string(), UnitKind::Namespace),
        _ => ("[C]".to_string(), UnitKind::C),
    }
}

/// A generic function's name with its type arguments erased, for grouping
/// instantiations: `core::ptr::drop_in_place<a::B>` → `core::ptr::drop_in_place<_>`.
/// `None` when the name has no generic arguments.
pub(crate) fn erase_generics(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let mut out = String::with_capacity(name.len());
    let mut erased = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let after_ident = i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let turbofish = i > 1 && &bytes[i - 2..i] == b"::";
        if b == b'<'
            && (after_ident || turbofish)
            && let Some(close) = matching_angle(&name[i + 1..])
        {
            out.push_str("<_>");
            i += close + 2;
            erased = true;
            continue;
        }
        let ch_len = name[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&name[i..i + ch_len]);
        i += ch_len;
    }
    erased.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_names_without_hash_match_the_alternate_form() {
        for raw in [
            "_ZN4core3ptr85drop_in_place$LT$std..rt..lang_start$LT$$LP$$RP$$GT$..$u7b$$u7b$closure$u7d$$u7d$$GT$17h0123456789abcdefE",
            "_ZN3std2io5stdio6_print17h9f7d6a1c2b3e4f50E",
            "_ZN3foo3bar17h0123456789abcdefE.llvm.4242",
            "_ZN3foo17h0123456789abcdefE",
        ] {
            let demangled = rustc_demangle::try_demangle(raw).unwrap();
            let expected = format!("{demangled:#}");
            let full = capped(&demangled, false);
            let by_cut = legacy_without_hash(&full);
            // Either the cut gives the alternate form, or (a suffix after
            // the hash) no cut is made and the name is formatted again.
            assert!(
                by_cut.is_none_or(|name| name == expected),
                "{raw}: {by_cut:?} != {expected}"
            );
            assert_eq!(rust(raw).map(|d| d.name), Some(expected));
        }
    }

    #[test]
    fn rust_legacy_names_drop_the_hash() {
        let d = demangle("_ZN4core3ptr13drop_in_place17h0123456789abcdefE", false);
        assert_eq!(d.name, "core::ptr::drop_in_place");
        assert_eq!(d.unit, "core");
        assert_eq!(d.lang, Lang::Rust);
    }

    #[test]
    fn defining_crate_ignores_type_arguments() {
        assert_eq!(
            defining_crate("core::ptr::drop_in_place<mycrate::X>", 0),
            Some("core")
        );
        assert_eq!(defining_crate("alloc::vec::Vec<T>::push", 0), Some("alloc"));
        assert_eq!(
            defining_crate("<alloc::vec::Vec<u8>>::push", 0),
            Some("alloc")
        );
        assert_eq!(
            defining_crate("<mycrate::X as core::fmt::Debug>::fmt", 0),
            Some("mycrate")
        );
        assert_eq!(
            defining_crate(
                "<core::option::Option<u8> as serde::Serialize>::serialize",
                0
            ),
            Some("serde")
        );
        assert_eq!(
            defining_crate("<&T as core::fmt::Debug>::fmt", 0),
            Some("core")
        );
        assert_eq!(
            defining_crate("<[u8] as core::fmt::Debug>::fmt", 0),
            Some("core")
        );
        assert_eq!(
            defining_crate("<fn() -> u8 as core::ops::FnOnce<()>>::call_once", 0),
            Some("core")
        );
        assert_eq!(defining_crate("main", 0), None);
    }

    #[test]
    fn v0_names_keep_crate_ids() {
        // From a real binary: `<std::io::error::Error>::new::<&str>`.
        let d = demangle(
            "_RINvMs5_NtNtCsjrHSEGnQ3l9_3std2io5errorNtB6_5Error3newReEBa_",
            false,
        );
        assert_eq!(d.unit, "std");
        assert_eq!(d.name, "<std::io::error::Error>::new::<&str>");
        assert_eq!(d.crate_ids.len(), 1);
        assert_eq!(d.crate_ids[0].0, "std");
        assert!(d.disambiguator.is_some());
        // Compiler-defined std symbols.
        let d = demangle("_RNvCsfLfy6EI15iL_7___rustc17rust_begin_unwind", false);
        assert_eq!(
            (d.unit.as_str(), d.name.as_str()),
            ("std", "__rustc::rust_begin_unwind")
        );
        assert!(d.crate_ids.is_empty());
    }

    #[test]
    fn cpp_names_go_to_their_namespace() {
        let d = demangle("_ZNSt6vectorIiSaIiEE9push_backERKi", false);
        assert_eq!(d.lang, Lang::Cpp);
        assert_eq!(d.unit, "std");
        let global = demangle("_Z3fooi", false);
        assert_eq!(global.unit, "[C]");
        assert_eq!(global.name, "foo(int)");
    }

    #[test]
    fn c_names_are_c() {
        let d = demangle("main", false);
        assert_eq!((d.unit.as_str(), d.lang), ("[C]", Lang::C));
    }

    #[test]
    fn generics_are_erased() {
        assert_eq!(
            erase_generics("core::ptr::drop_in_place<a::B<u8>>").as_deref(),
            Some("core::ptr::drop_in_place<_>")
        );
        assert_eq!(
            erase_generics("<a::B<u8> as c::D>::f").as_deref(),
            Some("<a::B<_> as c::D>::f")
        );
        assert_eq!(erase_generics("<u8 as c::D>::f"), None);
        assert_eq!(
            erase_generics("extra::summarize::<u8>").as_deref(),
            Some("extra::summarize::<_>")
        );
        assert_eq!(erase_generics("a::b"), None);
    }

    #[test]
    fn crate_ids_after_unicode_are_found() {
        assert_eq!(
            crate_ids("é…x[ab12]::f"),
            vec![("x".to_string(), "ab12".to_string())]
        );
        assert_eq!(crate_ids("…[ab12]"), Vec::<(String, String)>::new());
    }

    #[test]
    fn hostile_names_are_bounded() {
        let long = format!("_ZN{}E", "3foo".repeat(10_000));
        let d = demangle(&long, false);
        assert!(d.name.len() <= MAX_NAME + 4);
    }

    #[test]
    fn undecorated_names_take_their_language_rule() {
        let unit = |name: &str, lang| {
            let d = demangle_as(name, Some(lang), false);
            (d.unit, d.unit_kind)
        };
        assert_eq!(
            unit("core::fmt::impl$12::fmt", Lang::Rust),
            ("core".to_string(), UnitKind::Crate)
        );
        assert_eq!(
            unit(
                "alloc::raw_vec::RawVec<u8,alloc::alloc::Global>::grow_one",
                Lang::Rust
            ),
            ("alloc".to_string(), UnitKind::Crate)
        );
        assert_eq!(
            unit("__rust_alloc", Lang::Rust),
            ("std".to_string(), UnitKind::Crate)
        );
        assert_eq!(
            unit("geometry::Square::area", Lang::Cpp),
            ("geometry".to_string(), UnitKind::Namespace)
        );
        assert_eq!(unit("main", Lang::Cpp), ("[C]".to_string(), UnitKind::C));
        assert_eq!(
            unit("helper_add", Lang::C),
            ("[C]".to_string(), UnitKind::C)
        );
        // Mangled names still go through the demangler.
        let d = demangle_as("_ZN4core3fmt5write17h0123456789abcdefE", None, false);
        assert_eq!(d.unit, "core");
    }
}
