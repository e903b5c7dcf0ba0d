#!/usr/bin/env python3
"""Seed corpora of the fuzz targets, from the repository's test fixtures.

Usage: seeds.py CORPUS_DIR [BINARY...]

Each binary (ELF, Mach-O, PE, WebAssembly) seeds `analyze` (and, with
SIZEGATE_DEBUG_FIXTURES set, the Mach-O + dSYM and PE + PDB pairs in that
folder seed `debug_file`); the Go
sections of ELF binaries (`.gopclntab`, `.go.buildinfo`, `.data.rel.ro`)
seed `go_pclntab` and `go_buildinfo` in those targets' input layout (see
fuzz_targets/*.rs). Reports, sizegate.toml examples and webhook payloads
come from the repository. Files are named by content hash, so running it
again adds nothing twice.
"""

import hashlib
import json
import os
import pathlib
import re
import struct
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAX_BINARY = 4 << 20
MAGICS = (b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"MZ", b"\0asm")


def put(corpus, target, data):
    folder = corpus / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


def elf_sections(data):
    """(name, address, bytes) of each section of an ELF file, else []."""
    if not data.startswith(b"\x7fELF") or len(data) < 52:
        return []
    is64, big = data[4] == 2, data[5] == 2
    e = ">" if big else "<"
    if is64:
        shoff, = struct.unpack_from(e + "Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 0x3A)
        fmt, fields = e + "IIQQQQ", (0, 3, 4, 5)
    else:
        shoff, = struct.unpack_from(e + "I", data, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 0x2E)
        fmt, fields = e + "IIIIII", (0, 3, 4, 5)
    headers = []
    for i in range(shnum):
        at = shoff + i * shentsize
        if at + struct.calcsize(fmt) > len(data):
            return []
        raw = struct.unpack_from(fmt, data, at)
        kind = raw[1]
        name, addr, off, size = (raw[j] for j in fields)
        body = b"" if kind == 8 else data[off:off + size]  # SHT_NOBITS
        headers.append((name, addr, body))
    if shstrndx >= len(headers):
        return []
    names = headers[shstrndx][2]
    out = []
    for name, addr, body in headers:
        end = names.find(b"\0", name)
        out.append((names[name:end].decode("latin-1"), addr, body))
    return out


def go_seeds(corpus, data):
    sections = elf_sections(data)
    if not sections:
        return
    big, ptr32 = data[5] == 2, data[4] == 1
    text = next((addr for name, addr, _ in sections if name == ".text"), 0)
    names = {".gopclntab": 0, ".data.rel.ro": 1}
    for name, addr, body in sections:
        flags = int(big) | (int(ptr32) << 1)
        if name in names and body:
            header = bytes([flags | (names[name] << 2)]) + struct.pack("<QQ", addr, text)
            put(corpus, "go_pclntab", header + body)
        if name in (".go.buildinfo", ".data.rel.ro", ".noptrdata") and b"\xff Go buildinf:" in body:
            start = body.index(b"\xff Go buildinf:") & ~15
            blob = body[start:start + 4096]
            which = 0 if name == ".go.buildinfo" else 1
            header = bytes([flags | (which << 2)]) + struct.pack("<QQH", addr + start, 0, len(blob))
            put(corpus, "go_buildinfo", header + blob)


def debug_file_seeds(corpus, path):
    """An ELF binary stripped, with its `objcopy --only-keep-debug` file,
    plain and with its DWARF compressed (zlib `SHF_COMPRESSED` and GNU
    `.zdebug_*`, as Debian's `-dbgsym` files ship it):
    `[len(stripped) as u32 LE][stripped][debug]`."""
    if not path.read_bytes().startswith(b"\x7fELF"):
        return
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        stripped, debug = pathlib.Path(tmp, "s"), pathlib.Path(tmp, "d")
        try:
            subprocess.run(["objcopy", "--only-keep-debug", str(path), str(debug)], check=True, capture_output=True)
            subprocess.run(["strip", "--strip-all", "-o", str(stripped), str(path)], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError):
            return
        debugs = [debug.read_bytes()]
        for form in ("zlib", "zlib-gnu"):
            packed = pathlib.Path(tmp, form)
            try:
                subprocess.run(["objcopy", f"--compress-debug-sections={form}", str(debug), str(packed)],
                               check=True, capture_output=True)
            except (OSError, subprocess.CalledProcessError):
                continue
            debugs.append(packed.read_bytes())
        a = stripped.read_bytes()
        for b in debugs:
            if len(a) + len(b) <= MAX_BINARY:
                put(corpus, "debug_file", len(a).to_bytes(4, "little") + a + b)


def debug_pair_seeds(corpus, folder):
    """The Mach-O + dSYM and PE + PDB pairs the analyzer's `debug_files`
    test built (`<target>/tmp/debug-files`): each stripped Mach-O with the
    DWARF file of its dSYM, each `.exe` with its `.pdb`, in the
    `debug_file` target's layout."""
    if not folder.is_dir():
        return
    pairs = []
    for stripped in sorted(folder.rglob("*.stripped")):
        stem = stripped.name[: -len(".stripped")]
        pairs.append((stripped, stripped.with_name(f"{stem}.dSYM") / "Contents/Resources/DWARF" / stem))
    for exe in sorted(folder.rglob("*.exe")):
        pairs.append((exe, exe.with_suffix(".pdb")))
    for artifact, debug in pairs:
        if artifact.is_file() and debug.is_file():
            a, b = artifact.read_bytes(), debug.read_bytes()
            if len(a) + len(b) <= MAX_BINARY:
                put(corpus, "debug_file", len(a).to_bytes(4, "little") + a + b)


def main():
    corpus = pathlib.Path(sys.argv[1])
    for path in map(pathlib.Path, sys.argv[2:]):
        if not path.is_file() or path.stat().st_size > MAX_BINARY:
            continue
        data = path.read_bytes()
        if data.startswith(MAGICS):
            put(corpus, "analyze", data)
            go_seeds(corpus, data)
            debug_file_seeds(corpus, path)
    pairs = os.environ.get("SIZEGATE_DEBUG_FIXTURES")
    if pairs:
        debug_pair_seeds(corpus, pathlib.Path(pairs))

    fixtures = ROOT / "crates/sizegate/tests/fixtures"
    for lang in ("go", "rust"):
        old = json.loads((fixtures / f"{lang}-old.json").read_text())
        new = json.loads((fixtures / f"{lang}-new.json").read_text())
        put(corpus, "diff", json.dumps([old, new]).encode())
        put(corpus, "diff", json.dumps([new, old]).encode())

    tomls = [(ROOT / "sizegate.toml").read_text()]
    for source in [ROOT / "README.md", *sorted((ROOT / "crates/sizegate-gate/tests").glob("*.rs"))]:
        text = source.read_text()
        tomls += re.findall(r"```toml\n(.*?)```", text, re.S)
        tomls += [t for t in re.findall(r'r#"(.*?)"#', text, re.S) if "budget" in t or "metric" in t]
    for text in tomls:
        put(corpus, "config", text.encode())

    events = ["pull_request", "check_run", "check_suite", "installation",
              "installation_repositories", "push", "workflow_run", "ping"]
    hooks = ROOT / "crates/sizegate-github/tests/fixtures/webhooks"
    for payload in sorted(hooks.glob("*.json")):
        event = payload.name.split(".")[0]
        index = events.index(event) if event in events else 7
        put(corpus, "webhook", bytes([index]) + payload.read_bytes())

    # Small container images the analyzer's tests write (docker save
    # archives, OCI layouts with gzip and zstd layers and whiteouts).
    images = ROOT / "target/test-artifacts/container/seeds"
    for image in sorted(images.glob("*.tar")) if images.is_dir() else []:
        put(corpus, "container", image.read_bytes())


if __name__ == "__main__":
    main()
