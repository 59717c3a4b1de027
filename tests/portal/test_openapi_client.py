"""The OpenAPI document generates a Python client without warnings (issue 10): every schema name is
unique and every operation's models are kept. A generated mobile SDK starts from the same document.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from portal.app import create_app
from tests.support import make_settings

# Images and PDFs (certificate stickers and labels) are bytes to a client: the generator has no built-in mapping for
# image types and would otherwise drop those responses with a warning.
CONFIG = {
    "content_type_overrides": {
        "image/svg+xml": "application/octet-stream",
        "image/png": "application/octet-stream",
        "application/pdf": "application/octet-stream",
    },
    "post_hooks": [],  # no formatter run on the generated code: only the generation is tested
}


def test_openapi_document_generates_a_client_without_warnings(tmp_path: Path) -> None:
    # The document does not depend on the database: built once, without starting the app.
    app = create_app(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'db'}", tmp_path / "storage"))
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(app.openapi()), encoding="utf-8")
    config = tmp_path / "config.json"
    config.write_text(json.dumps(CONFIG), encoding="utf-8")
    generator = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))
    assert generator is not None, "openapi-python-client is a dev dependency (pyproject.toml)"
    result = subprocess.run(
        [
            generator,
            "generate",
            "--path",
            str(document),
            "--config",
            str(config),
            "--output-path",
            str(tmp_path / "client"),
            "--meta",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "warning" not in output.lower(), output
    assert (tmp_path / "client" / "api" / "notices").is_dir(), output
