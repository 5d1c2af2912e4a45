"""From the repo root, `tokenizers` must be Hugging Face's package, never our plugin folder (the plugin folders
have no `__init__.py`: README, Layout)."""

import subprocess
import sys

from tests.conftest import REPO, run_cli


def test_plugin_folders_are_not_packages():
    for folder in ("tokenizers", "recommenders"):
        assert (REPO / folder).is_dir()
        assert not (REPO / folder / "__init__.py").exists(), f"{folder}/__init__.py would shadow a real package"
    assert not (REPO / "tokenizers.py").exists()


def test_pytest_imports_hugging_face_tokenizers():
    import tokenizers

    assert hasattr(tokenizers, "Tokenizer") and "site-packages" in tokenizers.__file__


GUARD = """
import runpy, sys
sys.argv = ["bench", "ls", "recommenders"]
try:
    runpy.run_module("bench", run_name="__main__", alter_sys=True)
except SystemExit as exit_:  # the CLI ends by SystemExit(main()): only a clean exit passes
    assert exit_.code in (0, None), f"ls recommenders exited {exit_.code}"
import tokenizers
assert "site-packages" in tokenizers.__file__ and hasattr(tokenizers, "Tokenizer"), tokenizers
assert "torch" not in sys.modules, "listing plugins imported torch"
print("ok")
"""


def test_python_m_bench_sees_hugging_face_tokenizers():
    # `python -c` from the repo root puts the root first on sys.path, as `python -m bench` does
    result = subprocess.run([sys.executable, "-c", GUARD], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr


def test_cli_listing_runs_from_repo_root():
    result = run_cli("ls", "recommenders")
    assert result.returncode == 0 and "popularity" in result.stdout


def test_sentence_transformers_imports_from_repo_root():
    code = "import sentence_transformers, tokenizers; print(tokenizers.__file__)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0 and "site-packages" in result.stdout, result.stderr


def test_listing_tokenizers_does_not_import_torch():
    code = ("import sys\nfrom bench.cli import main\nmain(['ls', 'tokenizers'])\n"
            "assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules\nprint('clean')")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip().endswith("clean"), result.stderr
