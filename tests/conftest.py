"""Shared fixtures: where the real corpus and the bundled samples are, and figure cleanup."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_logs"
CORPUS = REPO.parent / "shared" / "corpus"


@pytest.fixture
def corpus() -> Path:
    """The real logs in ../shared/corpus (the test is skipped when they are absent)."""
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not present")
    return CORPUS


@pytest.fixture
def samples() -> Path:
    """The bundled sample logs."""
    return SAMPLES


@pytest.fixture
def bench_runs() -> Path:
    """The labelled real runs of the diagnosis benchmark (bench/diagnosis/runs)."""
    return REPO / "bench" / "diagnosis" / "runs"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's real gradlog cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
