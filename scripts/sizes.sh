#!/usr/bin/env bash
# Stripped aarch64 sizes of what fewstep ships: the staticlib, the shared library, the CLI, and
# the C firmware example linked against the staticlib (what a device actually carries), with
# default features and with the smallest set (`--no-default-features`: no CLI, no PNG).
# Cross toolchain as in .ci/aarch64 (Debian's rustc-web with an arm64 std, aarch64-linux-gnu-gcc).
# usage: scripts/sizes.sh            prints a markdown table
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
T=aarch64-unknown-linux-gnu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
build() {  # $1: target dir, rest: cargo args
  local dir=$1; shift
  env RUSTC=/usr/bin/rustc /usr/bin/cargo build --quiet --release --target $T --target-dir "$dir" "$@"
}
size_of() { stat -c %s "$1"; }
stripped() {  # $1 file, $2 strip flags
  cp "$1" "$work/s"; aarch64-linux-gnu-strip $2 "$work/s"; size_of "$work/s"
}
echo "| artefact (aarch64, release) | features | bytes | stripped bytes |"
echo "|---|---|---|---|"
for feat in default minimal; do
  dir=target/aarch64; args=()
  if [ $feat = minimal ]; then dir=target/aarch64-minimal; args=(--no-default-features); fi
  build "$dir" --lib "${args[@]}"
  rel=$dir/$T/release
  echo "| libfewstep.a | $feat | $(size_of $rel/libfewstep.a) | $(stripped $rel/libfewstep.a --strip-debug) |"
  echo "| libfewstep.so | $feat | $(size_of $rel/libfewstep.so) | $(stripped $rel/libfewstep.so --strip-all) |"
  aarch64-linux-gnu-gcc -std=c99 -O2 -Iinclude firmware-examples/c-forecast/main.c $rel/libfewstep.a \
    -lpthread -ldl -lm -o "$work/c-forecast"
  echo "| c-forecast (C program + staticlib) | $feat | $(size_of $work/c-forecast) | $(stripped $work/c-forecast --strip-all) |"
  if [ $feat = default ]; then
    build "$dir" --bin fewstep
    echo "| fewstep CLI | $feat | $(size_of $rel/fewstep) | $(stripped $rel/fewstep --strip-all) |"
  fi
done
