"""A real Prometheus for tests: deterministic history backfilled with promtool, then served.

History is written as OpenMetrics and checked here before promtool sees it, because promtool
silently drops samples that are out of order: every series must have strictly increasing
timestamps, and a family's samples must be written together.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.processes import free_port

Labels = tuple[tuple[str, str], ...]


class History:
    """Samples by metric family and series; render() checks the order promtool needs."""

    def __init__(self) -> None:
        self.types: dict[str, str] = {}
        self.samples: dict[str, dict[tuple[str, Labels], list[tuple[float, float]]]] = defaultdict(
            lambda: defaultdict(list)
        )

    def add(
        self, family: str, kind: str, name: str, labels: dict[str, str], at: float, value: float
    ) -> None:
        self.types[family] = kind
        self.samples[family][(name, tuple(sorted(labels.items())))].append((at, value))

    def counter(self, family: str, labels: dict[str, str], at: float, value: float) -> None:
        self.add(family, "counter", f"{family}_total", labels, at, value)

    def histogram(
        self,
        family: str,
        labels: dict[str, str],
        at: float,
        cumulative: dict[float, float],
        total: float,
    ) -> None:
        for bound, count in cumulative.items():
            le = "+Inf" if bound == float("inf") else repr(bound)
            self.add(family, "histogram", f"{family}_bucket", {**labels, "le": le}, at, count)
        self.add(family, "histogram", f"{family}_count", labels, at, total)
        self.add(family, "histogram", f"{family}_sum", labels, at, 0.0)

    def render(self) -> str:
        lines = []
        for family, series in self.samples.items():
            lines.append(f"# TYPE {family} {self.types[family]}")
            for (name, labels), points in series.items():
                times = [t for t, _ in points]
                assert all(a < b for a, b in itertools.pairwise(times)), (
                    f"{name}{labels}: timestamps out of order; promtool would drop samples"
                )
                text = ",".join(f'{k}="{v}"' for k, v in labels)
                lines += [f"{name}{{{text}}} {v} {t:.3f}" for t, v in points]
        return "\n".join(lines) + "\n# EOF\n"


def require_prometheus() -> None:
    missing = [tool for tool in ("prometheus", "promtool") if shutil.which(tool) is None]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not installed: `apt-get install prometheus` (.ci/run does this)"
        )


@contextmanager
def prometheus(tmp: Path, history: History, port: int | None = None) -> Iterator[str]:
    """Backfill `history` into a new data dir and serve it on 127.0.0.1; yields the URL."""
    source = tmp / "history.om"
    source.write_text(history.render())
    with prometheus_from(tmp, source, port) as url:
        yield url


@contextmanager
def prometheus_from(tmp: Path, source: Path, port: int | None = None) -> Iterator[str]:
    """Backfill an OpenMetrics file into a new data dir under `tmp` and serve it on 127.0.0.1;
    yields the URL."""
    require_prometheus()
    data = tmp / "tsdb"
    data.mkdir()
    subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    config = tmp / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\n")
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(tmp / "prometheus.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=100y",
        ],
        stdout=log,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, (tmp / "prometheus.log").read_text()[-2000:]
            time.sleep(0.1)
        else:
            raise AssertionError("prometheus did not become ready")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()
