"""Issue 42: `pip install -e .` keeps a CUDA torch that is already installed in the supported range, instead of
replacing it by the pinned CPU build (what `torch==2.13.0` did to a machine with torch 2.11 + CUDA 13)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_pip_keeps_a_preinstalled_cuda_torch_in_the_range(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"], check=True,
                          capture_output=True, text=True).stdout.strip()
    # what the GPU machine has: torch 2.11.0+cu130 (only its metadata: pip's resolver reads nothing else)
    info = Path(site) / "torch-2.11.0+cu130.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: torch\nVersion: 2.11.0+cu130\n")
    (info / "INSTALLER").write_text("pip\n")
    (info / "RECORD").write_text("")
    report = tmp_path / "report.json"
    done = subprocess.run([str(python), "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(report),
                           "-e", str(REPO)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    planned = {item["metadata"]["name"].lower(): item["metadata"]["version"]
               for item in json.loads(report.read_text())["install"]}
    assert "sid-bench" in planned  # the project itself, and with it every other dependency
    assert "torch" not in planned and not any(name.startswith("nvidia-") for name in planned), planned
