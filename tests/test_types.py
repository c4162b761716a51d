import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_code_passes_mypy_strict_on_the_domain_code():
    """django-stubs and the DRF stubs over the project, strict on the domain modules
    (pyproject.toml, [tool.mypy]). The cache in .mypy_cache keeps a rerun to a second."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
