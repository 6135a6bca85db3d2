"""Installing a plugin package the way an author does, without touching the project's venv."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path


def install(package: Path, venv: Path) -> Path:
    """Create ``venv`` over the project's environment, pip-install ``package`` editable."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig."
                              "get_paths()['purelib'])"], capture_output=True, text=True,
                             check=True).stdout.strip()
    base = sysconfig.get_paths()["purelib"]
    Path(purelib, "_project_venv.pth").write_text(f"import site; site.addsitedir({base!r})\n")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--no-index", "-e", str(package)],
                   check=True, capture_output=True)
    return python
