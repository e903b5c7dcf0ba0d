//! `package_of` over a table of tricky Go symbol names, in the spellings of
//! Go ≤1.19 (`type..`, `go.`) and 1.20+ (`type:`, `go:`).

#![allow(clippy::unwrap_used)]

use sizegate_analyze::go::{
    CGO, GO_LINKER, GO_STRINGS, GO_TYPE_DATA, NO_PACKAGE, package_of, package_path,
};

const CASES: &[(&str, &str)] = &[
    // Plain functions, methods, closures, method values.
    ("main.main", "main"),
    ("main.main.func1", "main"),
    ("main.(*server).handle", "main"),
    ("main.(*server).handle.func1", "main"),
    ("main.(*server).handle-fm", "main"),
    ("main.server.String", "main"),
    ("main.init.0", "main"),
    ("main..inittask", "main"),
    ("runtime.gcBgMarkWorker.func1", "runtime"),
    ("runtime.memequal", "runtime"),
    ("internal/cpu.Initialize", "internal/cpu"),
    (
        "runtime/internal/atomic.(*Uint64).Load",
        "runtime/internal/atomic",
    ),
    ("github.com/a/b/c.T.M", "github.com/a/b/c"),
    ("github.com/a/b/c.(*T).M.func2.1", "github.com/a/b/c"),
    (
        "vendor/golang.org/x/net/dns/dnsmessage.(*Parser).Start",
        "vendor/golang.org/x/net/dns/dnsmessage",
    ),
    ("golang.org/x/sys/unix.Syscall", "golang.org/x/sys/unix"),
    ("go.uber.org/zap.New", "go.uber.org/zap"),
    (
        "go.opentelemetry.io/otel/trace.(*noopSpan).End",
        "go.opentelemetry.io/otel/trace",
    ),
    // Dots in the last path element: escaped (what the toolchain emits) and not.
    (
        "gopkg.in/yaml%2ev3.(*decoder).unmarshal",
        "gopkg.in/yaml%2ev3",
    ),
    ("gopkg.in/yaml.v3.(*decoder).unmarshal", "gopkg.in/yaml.v3"),
    ("gopkg.in/yaml.v3.Unmarshal", "gopkg.in/yaml.v3"),
    (
        "example.com/dotted%2ev2..dict.Sum[int]",
        "example.com/dotted%2ev2",
    ),
    // Generics: type arguments hold dots, slashes, spaces.
    ("main.Map[go.shape.int_0,go.shape.string_1]", "main"),
    (
        "main.(*Pair[go.shape.string_0,go.shape.int_1]).Swap",
        "main",
    ),
    ("pkg.F[go.shape.struct { a/b.T }]", "pkg"),
    (
        "example.com/x/y.G[go.shape.*example.com/z.T_0]",
        "example.com/x/y",
    ),
    (
        "example.com/x/y.(*List[go.shape.interface { M() }_0]).Push.func1",
        "example.com/x/y",
    ),
    // Go 1.18+ pclntab spellings, with brackets elided.
    ("main.(*Pair[...]).Swap", "main"),
    (
        "example.com/dotted%2ev2.Sum[...]",
        "example.com/dotted%2ev2",
    ),
    ("type..eq.[...]internal/cpu.option", "internal/cpu"),
    ("type:.eq.main.Pair[...]", "main"),
    // Type helpers: charged to the package of the type when it has one.
    ("type..eq.main.Pair[string,int]", "main"),
    ("type:.eq.main.Pair[string,int]", "main"),
    ("type..hash.example.com/a/b.T", "example.com/a/b"),
    ("type:.hash.example.com/a/b.T", "example.com/a/b"),
    ("type..eq.[5]internal/cpu.option", "internal/cpu"),
    ("type:.eq.[2]*runtime.Frame", "runtime"),
    ("type:.eq.[]gopkg.in/yaml%2ev3.node", "gopkg.in/yaml%2ev3"),
    (
        "type..eq.struct { runtime.gList; runtime.n int32 }",
        GO_TYPE_DATA,
    ),
    ("type:.eq.[2]interface {}", GO_TYPE_DATA),
    ("type:.eq.[4]string", GO_TYPE_DATA),
    // Plain runtime type data.
    ("type:*main.server", GO_TYPE_DATA),
    ("type.*main.server", GO_TYPE_DATA),
    ("type:main.server", GO_TYPE_DATA),
    ("type..namedata.*main.server.", GO_TYPE_DATA),
    ("type:.namedata.*func()-", GO_TYPE_DATA),
    ("type.*", GO_TYPE_DATA),
    ("go:itab.*os.File,io.Writer", GO_TYPE_DATA),
    ("go.itab.*os.File,io.Writer", GO_TYPE_DATA),
    // Methods of unnamed types (promoted through embedded fields).
    ("go:struct { io.Reader; io.WriterTo }.Read", GO_TYPE_DATA),
    ("go.struct { io.Reader; io.WriterTo }.Read", GO_TYPE_DATA),
    ("go:(*struct { *github.com/a/b.T }).M", GO_TYPE_DATA),
    ("go.(*struct { io.Reader; io.Closer }).Close", GO_TYPE_DATA),
    (
        "go:interface { ForceFlush(context.Context) error }.ForceFlush",
        GO_TYPE_DATA,
    ),
    // Linker data.
    ("go:string.\"hello/world\"", GO_STRINGS),
    ("go.string.\"hello\"", GO_STRINGS),
    ("go:buildid", GO_LINKER),
    ("go.buildid", GO_LINKER),
    ("go:func.*", GO_LINKER),
    ("go.func.*", GO_LINKER),
    ("go:cuinfo.producer.main", GO_LINKER),
    ("go.shape.int", GO_LINKER),
    // cgo and names without a package.
    ("_cgo_init", CGO),
    ("_cgo_topofstack", CGO),
    ("x_cgo_init", CGO),
    ("crosscall2", CGO),
    ("main._Cfunc_puts", "main"),
    ("_rt0_amd64_linux", NO_PACKAGE),
    ("callRet", NO_PACKAGE),
    ("completed.0", NO_PACKAGE),
    (".L123", NO_PACKAGE),
    ("", NO_PACKAGE),
    ("main.", NO_PACKAGE),
    ("ünïcode.Fünc", "ünïcode"),
];

#[test]
fn package_of_handles_tricky_names() {
    let mut wrong = Vec::new();
    for &(symbol, expected) in CASES {
        let got = package_of(symbol);
        if got != expected {
            wrong.push(format!("{symbol:?}: got {got:?}, expected {expected:?}"));
        }
    }
    assert!(wrong.is_empty(), "wrong packages:\n{}", wrong.join("\n"));
}

#[test]
fn package_path_decodes_escaped_dots() {
    assert_eq!(
        package_path("gopkg.in/yaml%2ev3.(*decoder).unmarshal"),
        "gopkg.in/yaml.v3"
    );
    assert_eq!(package_path("example.com/a%2eb%2ec.F"), "example.com/a.b.c");
    assert_eq!(package_path("main.main"), "main");
    // A malformed escape is kept as it is.
    assert_eq!(package_path("example.com/a%2.F"), "example.com/a%2");
    assert_eq!(package_path("example.com/a%+1b.F"), "example.com/a%+1b");
}

#[test]
fn package_of_is_a_prefix_or_a_pseudo_package_for_random_names() {
    // Random names over the characters that matter to the parser, including
    // multi-byte ones, so slicing at a wrong boundary would panic.
    let alphabet: Vec<char> = "ab.Z/[]()* {};:%2e-_0é世".chars().collect();
    let mut state = 0x853c_49e6_748f_ea9bu64;
    for _ in 0..20_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = usize::try_from(state % 24).unwrap();
        let mut seed = state;
        let name: String = (0..len)
            .map(|_| {
                seed = seed.rotate_left(5) ^ 0x9e37_79b9;
                alphabet[usize::try_from(seed).unwrap() % alphabet.len()]
            })
            .collect();
        let package = package_of(&name);
        assert!(
            package.starts_with('[') || name.starts_with(package) || name.contains(package),
            "{name:?} → {package:?}"
        );
        let _ = package_path(&name);
    }
}

#[test]
fn package_of_never_panics_on_odd_input() {
    let odd = [
        "(",
        "[",
        ".",
        "..",
        "/",
        "/.",
        "a/.b",
        "type:",
        "type..eq.",
        "go:",
        "go.",
        "type:.eq.[",
        "type:.eq.[]",
        "a.b(",
        "é.é",
        "%",
        "a%zz.F",
    ];
    for symbol in odd {
        let package = package_of(symbol);
        assert!(
            package.starts_with('[') || symbol.contains(package),
            "{symbol:?} → {package:?}"
        );
    }
}
