#!/usr/bin/env bash
# Installs fewstep for C and C++ users under PREFIX:
#   PREFIX/include/fewstep.h
#   PREFIX/lib/libfewstep.a, PREFIX/lib/libfewstep.so
#   PREFIX/lib/pkgconfig/fewstep.pc          (links the shared library)
#   PREFIX/lib/pkgconfig/fewstep-static.pc   (links the static library and its system libraries)
#
# usage: scripts/install-c.sh PREFIX [--lib-dir DIR]
#   --lib-dir DIR   take the built libraries from DIR (e.g. target/aarch64/aarch64-unknown-linux-gnu/release)
#                   instead of running `cargo build --release --lib` and using target/release
#
# then:  PKG_CONFIG_PATH=PREFIX/lib/pkgconfig cc app.c $(pkg-config --cflags --libs fewstep-static)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
prefix=""
libsrc=""
while [ $# -gt 0 ]; do
  case "$1" in
    --lib-dir) libsrc="${2:?--lib-dir needs a folder}"; shift 2 ;;
    -h|--help) usage 0 ;;
    -*) echo "unknown option $1" >&2; usage ;;
    *) [ -z "$prefix" ] || usage; prefix="$1"; shift ;;
  esac
done
[ -n "$prefix" ] || usage
if [ -z "$libsrc" ]; then
  (cd "$root" && cargo build --release --lib)
  libsrc="$root/target/release"
fi
[ -f "$libsrc/libfewstep.a" ] || { echo "no libfewstep.a in $libsrc" >&2; exit 1; }
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)
mkdir -p "$prefix/include" "$prefix/lib/pkgconfig"
install -m 644 "$root/include/fewstep.h" "$prefix/include/fewstep.h"
install -m 644 "$libsrc/libfewstep.a" "$prefix/lib/libfewstep.a"
if [ -f "$libsrc/libfewstep.so" ]; then
  install -m 755 "$libsrc/libfewstep.so" "$prefix/lib/libfewstep.so"
fi
header() {
  cat <<PC
prefix=$prefix
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include

Name: $1
Description: fewstep: few-step flow-model students on small devices (C ABI, $2)
Version: $version
Cflags: -I\${includedir}
PC
}
{ header fewstep "shared library"; echo "Libs: -L\${libdir} -lfewstep"; } > "$prefix/lib/pkgconfig/fewstep.pc"
{ header fewstep-static "static library"; echo "Libs: \${libdir}/libfewstep.a -lpthread -ldl -lm"; } \
  > "$prefix/lib/pkgconfig/fewstep-static.pc"
echo "installed fewstep $version under $prefix (pkg-config: fewstep, fewstep-static)"
