#!/usr/bin/env python3
"""Builds a wheel of the Python binding with the shared library inside, so that
`pip install fewstep-*.whl` is all a Python user needs (numpy comes as its dependency).

usage: scripts/python-wheel.py OUT_DIR [--lib PATH] [--plat TAG]
  --lib PATH   the shared library to bundle (default: target/release/libfewstep.so, which
               `cargo build --release` makes; an aarch64 one for a Jetson, for example:
               target/aarch64/aarch64-unknown-linux-gnu/release/libfewstep.so)
  --plat TAG   the wheel's platform tag (default: this machine's, e.g. linux_x86_64; give
               linux_aarch64 with an aarch64 library)

The wheel holds the package `fewstep` (python/fewstep.py as its __init__.py, the library next
to it, where the binding looks first) and its metadata (PEP 427). The binding loads the library
through ctypes, not the Python C API, so one wheel serves every Python 3 (tag py3-none-PLAT).
It uses the standard library only; prints the wheel's path.
"""

import argparse
import base64
import hashlib
import os
import re
import sys
import sysconfig
import zipfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
LIB_NAME = "libfewstep.so"
#: ELF e_machine values of the architectures fewstep builds for, by their wheel tag suffix.
ELF_MACHINES = {62: "x86_64", 183: "aarch64"}


def cargo_version():
    with open(os.path.join(ROOT, "Cargo.toml")) as f:
        m = re.search(r'^version = "([^"]+)"', f.read(), re.M)
    if not m:
        sys.exit("no version in Cargo.toml")
    return m.group(1)


def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def metadata(version):
    with open(os.path.join(ROOT, "python", "fewstep.py")) as f:
        summary = f.readline().strip().strip('"')
    return (
        "Metadata-Version: 2.1\n"
        "Name: fewstep\n"
        f"Version: {version}\n"
        f"Summary: {summary}\n"
        "License: MIT OR Apache-2.0\n"
        "Requires-Python: >=3.8\n"
        "Requires-Dist: numpy\n"
    )


def build(out_dir, lib, plat):
    version = cargo_version()
    if not os.path.isfile(lib):
        sys.exit(f"no shared library at {lib}: run `cargo build --release` first, or give --lib")
    with open(lib, "rb") as f:
        lib_bytes = f.read()
    if lib_bytes[:4] != b"\x7fELF" or len(lib_bytes) < 20:
        sys.exit(f"{lib} is not an ELF shared library (this script makes Linux wheels)")
    machine = ELF_MACHINES.get(int.from_bytes(lib_bytes[18:20], "little"))
    wanted = next((arch for arch in ELF_MACHINES.values() if plat.endswith(arch)), None)
    if machine and wanted and machine != wanted:
        sys.exit(f"{lib} is an {machine} library, but the platform tag is {plat}: give --plat")
    with open(os.path.join(ROOT, "python", "fewstep.py"), "rb") as f:
        module = f.read()
    info = f"fewstep-{version}.dist-info"
    files = [
        ("fewstep/__init__.py", module, 0o644),
        (f"fewstep/{LIB_NAME}", lib_bytes, 0o755),
        (f"{info}/METADATA", metadata(version).encode(), 0o644),
        (
            f"{info}/WHEEL",
            (
                "Wheel-Version: 1.0\n"
                "Generator: fewstep scripts/python-wheel.py\n"
                "Root-Is-Purelib: false\n"
                f"Tag: py3-none-{plat}\n"
            ).encode(),
            0o644,
        ),
    ]
    record = "\n".join([record_line(n, d) for n, d, _ in files] + [f"{info}/RECORD,,", ""])
    files.append((f"{info}/RECORD", record.encode(), 0o644))
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"fewstep-{version}-py3-none-{plat}.whl")
    tmp = path + ".part"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data, mode in files:
            entry = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            entry.external_attr = (0o100000 | mode) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(entry, data)
    os.replace(tmp, path)
    return path


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out_dir")
    p.add_argument("--lib", default=os.path.join(ROOT, "target", "release", LIB_NAME))
    p.add_argument("--plat", default=sysconfig.get_platform().replace("-", "_").replace(".", "_"))
    a = p.parse_args()
    if not re.fullmatch(r"[a-z0-9_]+", a.plat):
        sys.exit(f"--plat {a.plat!r}: a platform tag is lower-case letters, digits and _")
    print(build(a.out_dir, a.lib, a.plat))


if __name__ == "__main__":
    main()
