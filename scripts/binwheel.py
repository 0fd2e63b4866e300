#!/usr/bin/env python3
"""Wraps an already built mlc-doctor binary into a wheel for one platform tag.

    scripts/binwheel.py SDIST BINARY PLATFORM_TAG OUT_DIR

maturin builds the wheels it can build itself (the native one, musl, macOS). This one is
for a binary built elsewhere with the same sources: the Windows exe that scripts/cross
leaves behind. The wheel holds exactly what maturin's `bindings = "bin"` wheels hold: the
binary as a script, and the metadata, taken from the sdist's PKG-INFO so that it is the
project's own (name, version, license, README) and not written twice.
"""

import base64
import hashlib
import io
import sys
import tarfile
import zipfile
from pathlib import Path

# Fixed timestamps make the same inputs give the same wheel, byte for byte.
EPOCH = (1980, 1, 1, 0, 0, 0)


def metadata_from_sdist(sdist: Path) -> str:
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            if len(parts) == 2 and parts[1] == "PKG-INFO":
                return tar.extractfile(member).read().decode("utf-8")
    sys.exit(f"binwheel: no PKG-INFO at the top of {sdist}")


def field(metadata: str, name: str) -> str:
    for line in metadata.splitlines():
        if line.startswith(name + ": "):
            return line[len(name) + 2 :].strip()
        if not line:
            break
    sys.exit(f"binwheel: PKG-INFO has no {name}")


def record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"{path},sha256={digest.decode()},{len(data)}"


def main() -> None:
    if len(sys.argv) != 5:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    sdist, binary, platform, out_dir = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
    metadata = metadata_from_sdist(sdist)
    # Wheel file names use the normalised distribution name (PEP 427, PEP 503).
    dist = field(metadata, "Name").replace("-", "_").lower()
    version = field(metadata, "Version")
    tag = f"py3-none-{platform}"
    wheel_text = (
        "Wheel-Version: 1.0\n"
        "Generator: mlc-doctor scripts/binwheel.py\n"
        "Root-Is-Purelib: false\n"
        f"Tag: {tag}\n"
    )
    data_dir = f"{dist}-{version}.data"
    info_dir = f"{dist}-{version}.dist-info"
    entries = [
        (f"{data_dir}/scripts/{binary.name}", binary.read_bytes(), 0o755),
        (f"{info_dir}/METADATA", metadata.encode("utf-8"), 0o644),
        (f"{info_dir}/WHEEL", wheel_text.encode("utf-8"), 0o644),
    ]
    record = "\n".join([record_line(p, d) for p, d, _ in entries] + [f"{info_dir}/RECORD,,", ""])
    entries.append((f"{info_dir}/RECORD", record.encode("utf-8"), 0o644))

    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = out_dir / f"{dist}-{version}-{tag}.whl"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data, mode in entries:
            info = zipfile.ZipInfo(path, EPOCH)
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    wheel.write_bytes(buf.getvalue())
    print(wheel)


if __name__ == "__main__":
    main()
