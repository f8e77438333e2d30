"""The documentation site builds with --strict (no broken link, no missing page), and its
reference pages, generated from the code, hold every operator and every command."""

import os
import subprocess
import sys
from pathlib import Path

from autodp import operators
from tests.conftest import REPO


def test_the_site_builds_strict_with_every_operator_and_command(tmp_path):
    site = tmp_path / "site"
    built = subprocess.run([str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "--site-dir", str(site)],
                           cwd=REPO, capture_output=True, text=True, timeout=300,
                           env={**os.environ, "DISABLE_MKDOCS_2_WARNING": "true", "NO_MKDOCS_2_WARNING": "1"})
    assert built.returncode == 0, built.stderr[-3000:]
    operator_page = (site / "reference" / "operators" / "index.html").read_text()
    assert all(f'id="{name}"' in operator_page for name in operators.registry())
    assert "≥ 0.0" in operator_page  # bounds come from the Params
    cli_page = (site / "reference" / "cli" / "index.html").read_text()
    for command in ("autodp-run", "autodp-curate", "autodp-recipe-approve", "autodp-distill", "autodp-export"):
        assert f'id="{command}"' in cli_page
    assert "--drift-policy" in cli_page and "--max-row-drift" in cli_page
    for page in ("getting-started", "concepts/recipes", "how-to/schedule-curation", "reference/benchmarks"):
        assert (site / page / "index.html").is_file()
