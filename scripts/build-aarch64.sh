#!/usr/bin/env bash
# Cross-builds fewstep's C libraries for aarch64 Linux (a Jetson, a Raspberry Pi 4 or 5):
#   target/aarch64/aarch64-unknown-linux-gnu/release/libfewstep.a   (staticlib)
#   target/aarch64/aarch64-unknown-linux-gnu/release/libfewstep.so  (shared library)
# with Debian's cross toolchain and its arm64 Rust standard library (apt: rustc-web cargo-web
# libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross; .ci/run installs them).
#
# usage: scripts/build-aarch64.sh [more cargo build options]
#   --bin fewstep            the CLI as well (.../release/fewstep), to run `fewstep bench` or
#                            `fewstep forecast` on the device itself
#   --no-default-features    the library without the GPU backend and the CLI's dependencies
#
# then: scripts/install-c.sh PREFIX --lib-dir target/aarch64/aarch64-unknown-linux-gnu/release,
#       make -C firmware-examples/c-forecast aarch64, or scripts/python-wheel.py DIR
#       --plat linux_aarch64 --lib target/aarch64/aarch64-unknown-linux-gnu/release/libfewstep.so
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in /usr/bin/rustc /usr/bin/cargo aarch64-linux-gnu-gcc; do
  command -v "$tool" >/dev/null || { echo "missing $tool: see the apt packages above" >&2; exit 1; }
done
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
# Debian's compiler for this build only, in a target folder of its own (host builds keep rustup's)
RUSTC=/usr/bin/rustc /usr/bin/cargo build --release --lib --target aarch64-unknown-linux-gnu \
  --target-dir target/aarch64 "$@"
out=target/aarch64/aarch64-unknown-linux-gnu/release
ls -l "$out/libfewstep.a" "$out/libfewstep.so"
if [[ " $* " == *" --bin fewstep "* ]]; then ls -l "$out/fewstep"; fi
