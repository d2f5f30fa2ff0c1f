"""promtool (Prometheus's own parser) accepts every PromQL expression of the dashboard."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.dashboard import expressions
from tests.support.prometheus import require_prometheus


def test_promtool_accepts_every_expression(tmp_path: Path) -> None:
    require_prometheus()
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {
                        "record": f"dashboard:expr{i}",
                        "expr": e.replace("$__rate_interval", "5m").replace("$route", ".*"),
                    }
                    for i, e in enumerate(expressions())
                ],
            }
        ]
    }
    path = tmp_path / "rules.yml"
    path.write_text(json.dumps(rules))  # JSON is YAML
    checked = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
