//! Which Go package a symbol name belongs to.
//!
//! Go symbol names start with the full import path of their package, but
//! neither the path nor what follows it is delimited: the path itself may
//! hold dots (`golang.org/x/net`), generic instantiations may hold dots and
//! slashes (`pkg.F[go.shape.struct { a/b.T }]`), and the compiler and linker
//! add symbols of their own (`type:`, `go:`, and before Go 1.20 `type.` and
//! `go.`). The rules used here:
//!
//! - The path ends at the first `.` after the last `/` that comes before any
//!   `(` or `[` (receivers and type arguments never belong to the path).
//! - The Go toolchain escapes dots in the last path element as `%2e`
//!   (`gopkg.in/yaml%2ev3.(*decoder).unmarshal`), which the rule above gets
//!   right as is ([`unescape_package`] turns it into `gopkg.in/yaml.v3`). For
//!   names where the dot was not escaped, a last element ending in a major
//!   version suffix (`yaml.v3`) is kept whole.
//! - Compiler-generated helper functions of a type (`type:.eq.pkg.T`,
//!   `type..hash.pkg.T`) are charged to the package of that type. When the
//!   type has no package (`type:.eq.[2]interface {}`), they go to
//!   [`GO_TYPE_DATA`], with all other runtime type data (`type:*pkg.T`,
//!   `type:.namedata.*`, `go:itab.*`, `go:typelink`...) and the methods of
//!   unnamed types (`go:struct { io.Reader; io.WriterTo }.Read`), whose
//!   names do not tell which package declared the type.
//! - String data (`go:string.*`) goes to [`GO_STRINGS`]; other linker-made
//!   symbols (`go:buildid`, `go:func.*`, `go:cuinfo.*`...) to [`GO_LINKER`].
//! - cgo glue (`_cgo_*`, `x_cgo_*`, `crosscall2`...) goes to [`CGO`]; names
//!   that are not Go names at all (assembly entry points such as
//!   `_rt0_amd64_linux`, C functions, `completed.0`) to [`NO_PACKAGE`].

use std::borrow::Cow;

/// Pseudo-package for runtime type data: type descriptors, name data,
/// itabs, typelinks; and code generated for types without a package:
/// equality/hash helpers and promoted-method wrappers of unnamed types.
pub const GO_TYPE_DATA: &str = "[go type data]";
/// Pseudo-package for string literal data (`go:string.*`).
pub const GO_STRINGS: &str = "[go strings]";
/// Pseudo-package for other linker-generated symbols (`go:buildid`,
/// `go:func.*`, `go:cuinfo.*`, `go:funcdesc.*`...).
pub const GO_LINKER: &str = "[go linker data]";
/// Pseudo-package for cgo glue (`_cgo_*`, `x_cgo_*`, `crosscall2`...).
pub const CGO: &str = "[cgo]";
/// Pseudo-package for names that are not Go names: assembly entry points
/// without a package (`_rt0_amd64_linux`, `callRet`), C functions, compiler
/// locals such as `completed.0`.
pub const NO_PACKAGE: &str = "[no package]";

/// Words that follow `go.` in the linker's own symbols before Go 1.20 (and
/// after `go:` since). A package path starting with `go.` (`go.uber.org/zap`)
/// is told apart by the word not being one of these.
const LINKER_WORDS: &[&str] = &[
    "buildid",
    "buildinfo",
    "constinfo",
    "cuinfo",
    "func",
    "funcdesc",
    "funcrel",
    "go",
    "importpath",
    "info",
    "interface",
    "itab",
    "itablink",
    "link",
    "map",
    "range",
    "shape",
    "string",
    "track",
    "typelink",
    "weak",
];

/// The package (full import path, or a bracketed pseudo-package) that the Go
/// symbol `symbol` belongs to. See the module documentation for the rules.
pub fn package_of(symbol: &str) -> &str {
    if let Some(rest) = strip_type_prefix(symbol) {
        return type_symbol_package(rest);
    }
    if let Some(rest) = strip_go_prefix(symbol) {
        return linker_symbol_package(rest);
    }
    if is_cgo_glue(symbol) {
        return CGO;
    }
    match package_prefix(symbol) {
        Some(package) => package,
        None => NO_PACKAGE,
    }
}

/// [`package_of`](crate::go::package_of) with `%xx` escapes in the path decoded:
/// `gopkg.in/yaml%2ev3.(*decoder).unmarshal` → `gopkg.in/yaml.v3`.
pub fn package_path(symbol: &str) -> Cow<'_, str> {
    unescape_package(package_of(symbol))
}

/// Decode the `%xx` escapes the Go toolchain puts in symbol names' package
/// paths (`.` in the last element, control characters, `%`, `"`). Malformed
/// escapes are kept as they are.
pub fn unescape_package(package: &str) -> Cow<'_, str> {
    if !package.contains('%') {
        return Cow::Borrowed(package);
    }
    let bytes = package.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(value) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(value);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(decoded) => Cow::Owned(decoded),
        Err(_) => Cow::Borrowed(package),
    }
}

/// `type:` (Go 1.20+) or `type.` (before): what follows, else `None`.
/// `type` is a keyword, so no package can be called that.
fn strip_type_prefix(symbol: &str) -> Option<&str> {
    symbol
        .strip_prefix("type:")
        .or_else(|| symbol.strip_prefix("type."))
}

/// `go:` (Go 1.20+), or `go.` followed by one of the linker's words (before).
fn strip_go_prefix(symbol: &str) -> Option<&str> {
    if let Some(rest) = symbol.strip_prefix("go:") {
        return Some(rest);
    }
    let rest = symbol.strip_prefix("go.")?;
    let word_end = rest
        .find(['.', '/', '"', '*', ' ', '(', '{'])
        .unwrap_or(rest.len());
    (LINKER_WORDS.contains(&&rest[..word_end]) || is_unnamed_type_method(rest)).then_some(rest)
}

/// Methods of unnamed types, which the compiler makes for promoted methods of
/// embedded fields: `go:struct { io.Reader; io.WriterTo }.Read`,
/// `go:(*struct { io.Reader }).Read` (`go.` before Go 1.20). The name does
/// not say which package declared the type.
fn is_unnamed_type_method(rest: &str) -> bool {
    [
        "struct {",
        "(*",
        "interface {",
        "*",
        "[",
        "func(",
        "map[",
        "chan ",
    ]
    .iter()
    .any(|prefix| rest.starts_with(prefix))
}

/// Package of what follows `type:` / `type.`.
fn type_symbol_package(rest: &str) -> &str {
    // Equality and hash helpers are code generated for one type: charge them
    // to that type's package. `type..eq.T` is spelled `type:.eq.T` since 1.20.
    let helper = [".eq.", ".hash."]
        .iter()
        .find_map(|prefix| rest.strip_prefix(prefix));
    match helper {
        Some(type_name) => named_type_package(type_name).unwrap_or(GO_TYPE_DATA),
        None => GO_TYPE_DATA,
    }
}

/// The package of a Go type as spelled in symbol names, looking through
/// pointer, slice and array element types (`[2]*pkg.T` → `pkg`). `None` for
/// built-in and unnamed composite types.
fn named_type_package(type_name: &str) -> Option<&str> {
    let mut rest = type_name;
    loop {
        if let Some(after) = rest.strip_prefix('*') {
            rest = after;
        } else if let Some(after) = rest.strip_prefix("[]") {
            rest = after;
        } else if rest.starts_with('[') {
            let close = rest.find(']')?;
            rest = &rest[close + 1..];
        } else {
            break;
        }
    }
    let starts_like_identifier = rest
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_');
    // `struct {`, `interface {`, `func(`, `map[`, `chan ` have no package.
    let composite = [
        "struct {",
        "interface {",
        "func(",
        "map[",
        "chan ",
        "chan<-",
    ]
    .iter()
    .any(|keyword| rest.starts_with(keyword));
    if !starts_like_identifier || composite {
        return None;
    }
    package_prefix(rest)
}

/// Package of what follows `go:` / `go.`.
fn linker_symbol_package(rest: &str) -> &str {
    if rest.starts_with("string.") || rest.starts_with("string\"") {
        GO_STRINGS
    } else if rest.starts_with("itab")
        || rest.starts_with("typelink")
        || is_unnamed_type_method(rest)
    {
        GO_TYPE_DATA
    } else {
        GO_LINKER
    }
}

/// cgo-generated glue and the runtime's cgo entry points.
fn is_cgo_glue(symbol: &str) -> bool {
    symbol.starts_with("_cgo_")
        || symbol.starts_with("__cgo_")
        || symbol.starts_with("x_cgo_")
        || symbol.starts_with("_cgoexp_")
        || symbol.starts_with("crosscall")
}

/// The import path at the start of an ordinary Go symbol name, or `None`
/// when the name has no package (no dot, or not followed by a Go
/// identifier as in the C local `completed.0`).
fn package_prefix(symbol: &str) -> Option<&str> {
    let bytes = symbol.as_bytes();
    // The path cannot extend past a receiver `(` or type arguments `[`; the
    // last `/` before those ends the path's directory part.
    // (A byte search: all three are ASCII, and this runs once per symbol.)
    let stop = bytes
        .iter()
        .position(|&b| matches!(b, b'(' | b'[' | b' '))
        .unwrap_or(symbol.len());
    let last_slash = symbol[..stop].rfind('/').map_or(0, |slash| slash + 1);
    let mut end = last_slash + symbol[last_slash..stop].find('.')?;
    // An unescaped dot in the last element: `gopkg.in/yaml.v3.Unmarshal`.
    while let Some(next) = symbol[end + 1..stop].find('.') {
        let segment = &symbol[end + 1..end + 1 + next];
        if is_major_version(segment) {
            end = end + 1 + next;
        } else {
            break;
        }
    }
    if end == 0 {
        return None;
    }
    let member_starts_like_go = bytes.get(end + 1).is_some_and(|&c| {
        c.is_ascii_alphabetic() || c == b'_' || c == b'(' || c == b'.' || c >= 0x80
    });
    if !member_starts_like_go {
        return None;
    }
    Some(&symbol[..end])
}

/// `v2`, `v3`, ...: the gopkg.in major version suffix of a last element.
fn is_major_version(segment: &str) -> bool {
    segment
        .strip_prefix('v')
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}
