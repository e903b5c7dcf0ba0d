#!/usr/bin/env bash
# A linker for rustc's *-pc-windows-msvc targets without the MSVC libraries
# (`-C linker=scripts/crossbuild/lld-link-stubs.sh`): runs lld-link; when
# symbols are missing (there is no kernel32.lib, msvcrt.lib, ...), makes
# import libraries exporting the missing functions and an object defining
# the CRT's data symbols, and links again. The output is a real PE with its
# PDB (`/DEBUG`); it is not meant to run.
set -euo pipefail
lld_link=${LLD_LINK:-lld-link}
stubs=$(mktemp -d)
trap 'rm -rf "$stubs"' EXIT
machine=i386:x86-64
clang_target=x86_64-pc-windows-msvc
for arg in "$@"; do
  case "${arg,,}" in
    *aarch64-pc-windows-msvc*|/machine:arm64)
      machine=arm64
      clang_target=aarch64-pc-windows-msvc
      ;;
  esac
done
# Every library the command names but that does not exist becomes an
# empty import library first.
for arg in "$@"; do
  case "$arg" in
    /defaultlib:*|/DEFAULTLIB:*) lib=${arg#*:} ;;
    *.lib|*.LIB) [[ -e $arg ]] && continue; lib=$arg ;;
    *) continue ;;
  esac
  name=$(basename "${lib%.*}")
  [[ -e $stubs/$name.lib ]] && continue
  printf 'LIBRARY %s.dll\nEXPORTS\n' "$name" >"$stubs/$name.def"
  llvm-dlltool -m "$machine" -d "$stubs/$name.def" -l "$stubs/$name.lib"
done
if "$lld_link" "$@" "/LIBPATH:$stubs" /demangle:no /errorlimit:0 >"$stubs/first.log" 2>&1; then
  exit 0
fi
grep -o 'undefined symbol: .*' "$stubs/first.log" | sed 's/^undefined symbol: //; s/^__imp_//' \
  | sort -u >"$stubs/missing" || true
if [[ ! -s $stubs/missing ]]; then
  cat "$stubs/first.log" >&2
  exit 1
fi
# The CRT's data symbols are defined here; every other missing name is a
# function of one stub DLL.
# The entry points are defined too: an imported entry point would leave
# everything unreferenced, and /OPT:REF would drop the program.
data=' _fltused _tls_index _tls_used ??_7type_info@@6B@ __security_cookie mainCRTStartup _DllMainCRTStartup '
cat >"$stubs/crt_data.c" <<'C'
int _fltused = 0x9875;
unsigned int _tls_index = 0;
char _tls_used[64] = {0};
unsigned long long __security_cookie = 0x2B992DDFA232ULL;
void *type_info_vftable[2] __asm__("??_7type_info@@6B@") = {0, 0};
C
if grep -qx mainCRTStartup "$stubs/missing"; then
  printf 'int main(int, char **);\nint mainCRTStartup(void) { return main(0, 0); }\n' >>"$stubs/crt_data.c"
fi
if grep -qx _DllMainCRTStartup "$stubs/missing"; then
  printf 'int _DllMainCRTStartup(void *h, unsigned r, void *p) { return 1; }\n' >>"$stubs/crt_data.c"
fi
clang --target="$clang_target" -c -o "$stubs/crt_data.obj" "$stubs/crt_data.c"
{
  printf 'LIBRARY crtstub.dll\nEXPORTS\n'
  while read -r name; do
    [[ $data == *" $name "* ]] || printf '%s\n' "$name"
  done <"$stubs/missing"
} >"$stubs/crtstub.def"
llvm-dlltool -m "$machine" -d "$stubs/crtstub.def" -l "$stubs/crtstub.lib"
"$lld_link" "$@" "/LIBPATH:$stubs" "$stubs/crt_data.obj" "$stubs/crtstub.lib"
