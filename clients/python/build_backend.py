"""A PEP 517 build backend for this one pure-Python package, standard library only.

pip builds a package in an isolated environment and downloads its build requirements first;
with ``requires = []`` and this in-tree backend there is nothing to download, so
``pip install clients/python`` works without a network. The wheel holds the ``liverec``
package files and the dist-info (METADATA, WHEEL, RECORD) the wheel format asks for.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

_HERE = os.path.dirname(os.path.abspath(__file__))
_PACKAGE = "liverec"


def _project() -> tuple[str, str, str]:
    with open(os.path.join(_HERE, "pyproject.toml"), encoding="utf-8") as f:
        text = f.read().split("[project]", 1)[1]

    def field(name: str) -> str:
        match = re.search(rf'^{name}\s*=\s*"([^"]*)"', text, re.MULTILINE)
        if not match:
            raise ValueError(f"pyproject.toml: [project] {name} is missing")
        return match.group(1)

    return field("name"), field("version"), field("requires-python")


def _package_files() -> list[str]:
    files = []
    for directory, _, names in os.walk(os.path.join(_HERE, _PACKAGE)):
        for name in sorted(names):
            if name.endswith(".py") or name == "py.typed":
                files.append(os.path.relpath(os.path.join(directory, name), _HERE))
    return sorted(files)


def _metadata(name: str, version: str, requires_python: str) -> str:
    return (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        f"Summary: Client of the liverec recommender's HTTP API\n"
        f"Requires-Python: {requires_python}\n"
    )


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}\n"


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name, version, requires_python = _project()
    dist_info = f"{name}-{version}.dist-info"
    wheel_name = f"{name}-{version}-py3-none-any.whl"
    entries = []
    for path in _package_files():
        with open(os.path.join(_HERE, path), "rb") as f:
            entries.append((path.replace(os.sep, "/"), f.read()))
    entries.append((f"{dist_info}/METADATA", _metadata(name, version, requires_python).encode()))
    entries.append(
        (
            f"{dist_info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: liverec build_backend\n"
            b"Root-Is-Purelib: true\nTag: py3-none-any\n",
        )
    )
    record = "".join(_record_line(path, data) for path, data in entries)
    record += f"{dist_info}/RECORD,,\n"
    with zipfile.ZipFile(
        os.path.join(wheel_directory, wheel_name), "w", zipfile.ZIP_DEFLATED
    ) as wheel:
        for path, data in entries:
            wheel.writestr(path, data)
        wheel.writestr(f"{dist_info}/RECORD", record)
    return wheel_name


def build_sdist(sdist_directory, config_settings=None):
    name, version, requires_python = _project()
    base = f"{name}-{version}"
    sdist_name = f"{base}.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, sdist_name), "w:gz") as sdist:
        for path in ["pyproject.toml", "build_backend.py", *_package_files()]:
            sdist.add(os.path.join(_HERE, path), arcname=f"{base}/{path}")
        info = _metadata(name, version, requires_python).encode()
        member = tarfile.TarInfo(f"{base}/PKG-INFO")
        member.size = len(info)
        sdist.addfile(member, io.BytesIO(info))
    return sdist_name
