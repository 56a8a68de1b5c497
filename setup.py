"""Builds and installs the `hexz` Python package (python/hexz + the pybind11 module hexz._hexz).

Offline, from Debian packages only (see docs/python.md):

    apt-get install python3-dev python3-pybind11 python3-setuptools python3-wheel \\
        python3-pip python3-venv cmake ninja-build pkg-config \\
        liblz4-dev libzstd-dev libxxhash-dev librust-blake3-dev libcli11-dev
    python3 -m venv --system-site-packages build-python/venv
    build-python/venv/bin/pip install --no-build-isolation .

The native module is built by CMake from python/CMakeLists.txt, which builds libhexz from this
repository and links it statically, so the installed package needs no libhexz at run time.
Build trees go to build-python/ (cmake/ and setuptools/ inside it).

Environment:
    HEXZ_BUILD_TYPE   CMake build type (default Release)
    HEXZ_WERROR       ON/OFF, treat compiler warnings as errors (default ON, as the project)
    HEXZ_BUILD_JOBS   parallel build jobs (default: all CPUs)
"""

import os
import re
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))
BUILD_ROOT = os.path.join(ROOT, "build-python")


def read_version():
    with open(os.path.join(ROOT, "include", "hexz", "version.hpp"), encoding="utf-8") as f:
        match = re.search(r'kVersionString\s*=\s*"([^"]+)"', f.read())
    if not match:
        raise RuntimeError("cannot find kVersionString in include/hexz/version.hpp")
    return match.group(1)


def read_long_description():
    path = os.path.join(ROOT, "docs", "python.md")
    if not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8") as f:
        return f.read()


class CMakeExtension(Extension):
    """An extension whose sources CMake builds (python/CMakeLists.txt)."""

    def __init__(self, name, target):
        super().__init__(name, sources=[])
        self.target = target


class CMakeBuild(build_ext):
    """Configures and builds the CMake target, writing the module where setuptools wants it."""

    def build_extension(self, ext):
        if not isinstance(ext, CMakeExtension):
            return super().build_extension(ext)
        if shutil.which("cmake") is None:
            raise RuntimeError("cmake not found: apt-get install cmake (see docs/python.md)")
        try:
            import pybind11
        except ImportError:
            raise RuntimeError(
                "pybind11 not found for " + sys.executable + ": apt-get install python3-pybind11 "
                "(and create a venv with --system-site-packages, and pip install "
                "--no-build-isolation; see docs/python.md)"
            ) from None

        out_dir = os.path.dirname(os.path.abspath(self.get_ext_fullpath(ext.name)))
        build_dir = os.path.join(BUILD_ROOT, "cmake")
        build_type = os.environ.get("HEXZ_BUILD_TYPE", "Debug" if self.debug else "Release")
        configure = [
            "cmake",
            "-S", os.path.join(ROOT, "python"),
            "-B", build_dir,
            "-DCMAKE_BUILD_TYPE=" + build_type,
            "-DHEXZ_PYTHON_OUTPUT_DIR=" + out_dir,
            "-DHEXZ_WERROR=" + os.environ.get("HEXZ_WERROR", "ON"),
            "-DPython_EXECUTABLE=" + sys.executable,
            "-Dpybind11_DIR=" + pybind11.get_cmake_dir(),
        ]
        if not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")) and shutil.which("ninja"):
            configure += ["-G", "Ninja"]
        jobs = os.environ.get("HEXZ_BUILD_JOBS") or str(os.cpu_count() or 1)
        build = ["cmake", "--build", build_dir, "--target", ext.target, "--parallel", jobs]
        os.makedirs(build_dir, exist_ok=True)
        for command in (configure, build):
            print(" ".join(command), flush=True)
            subprocess.check_call(command, cwd=ROOT)


setup(
    name="hexz",
    version=read_version(),
    description="Pack raw VM disk and memory images into .hxz snapshots and read any byte back",
    long_description=read_long_description(),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    package_dir={"": "python"},
    packages=["hexz"],
    package_data={"hexz": ["py.typed", "*.pyi"]},
    ext_modules=[CMakeExtension("hexz._hexz", target="hexz_python_module")],
    cmdclass={"build_ext": CMakeBuild},
    options={"build": {"build_base": os.path.join("build-python", "setuptools")}},
    zip_safe=False,
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: C++",
        "Operating System :: POSIX :: Linux",
        "Topic :: System :: Archiving :: Compression",
    ],
)
