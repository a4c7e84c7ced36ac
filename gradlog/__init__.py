"""gradlog: post-hoc analysis of training logs.

>>> import gradlog
>>> run = gradlog.load("train.log")          # Caffe, CSV, Lightning, Keras, HF, TensorBoard ...
>>> report = gradlog.analyze(run)             # findings with evidence and recommendations
>>> print(report.to_text())
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any, BinaryIO


def _map_source_parsers() -> None:
    """Make ``gradlog.parsers`` importable when this package is the source folder.

    ``parsers/`` sits beside ``gradlog/`` in the repository and installs as
    ``gradlog.parsers``. When Python imports the *source* folder (a notebook opened at the
    repository root puts it first on ``sys.path``, shadowing an installed copy), no
    ``gradlog/parsers`` exists: map the subpackage to ``../parsers`` instead. An installed
    package (which has ``gradlog/parsers``) and an editable install are left alone.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    if "gradlog.parsers" in sys.modules or os.path.isdir(os.path.join(here, "parsers")):
        return
    src = os.path.join(os.path.dirname(here), "parsers")
    init = os.path.join(src, "__init__.py")
    if not os.path.isfile(init):
        return
    import importlib.util

    try:
        if importlib.util.find_spec("gradlog.parsers") is not None:
            return  # an editable install's finder maps it already
    except (ImportError, ValueError):
        pass
    spec = importlib.util.spec_from_file_location("gradlog.parsers", init, submodule_search_locations=[src])
    if spec is None or spec.loader is None:  # pragma: no cover
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["gradlog.parsers"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules["gradlog.parsers"]
        raise
    globals()["parsers"] = module


_map_source_parsers()  # before the modules below import gradlog.parsers

from gradlog._version import __version__  # noqa: E402
from gradlog.compare import Comparison, compare  # noqa: E402,I001  (uses Report and Run)
from gradlog.discovery import RunRef, Survey, Unread, discover, survey  # noqa: E402
from gradlog.errors import (  # noqa: E402
    DamagedInputError,
    EmptyLogError,
    FrameError,
    GradlogError,
    MultipleRunsError,
    ParseError,
    RoleError,
    UnknownFormatError,
)
from gradlog.findings import FINDING_IDS, Finding, Trend  # noqa: E402
from gradlog.loading import detect_format, formats, load, load_all  # noqa: E402
from gradlog.report import Report  # noqa: E402
from gradlog.run import Run  # noqa: E402

__all__ = [
    "FINDING_IDS",
    "DamagedInputError",
    "EmptyLogError",
    "Finding",
    "FrameError",
    "GradlogError",
    "MultipleRunsError",
    "ParseError",
    "Report",
    "RoleError",
    "Run",
    "RunRef",
    "Survey",
    "Trend",
    "UnknownFormatError",
    "Unread",
    "__version__",
    "analyze",
    "compare",
    "Comparison",
    "detect_format",
    "discover",
    "formats",
    "load",
    "load_all",
    "survey",
]


def analyze(
    run: Run | str | os.PathLike[str] | BinaryIO,
    *,
    roles: Mapping[str, Any] | None = None,
    config: Any = None,
) -> Report:
    """Analyse a run (or load one from a path first) and return its Report.

    Parameters
    ----------
    run : a Run, or anything :func:`load` accepts.
    roles : role overrides (``{"loss": "my_loss"}``).
    config : a :class:`gradlog.analyzers.AnalysisConfig` (default: ``DEFAULT_CONFIG``).

    Returns
    -------
    Report

    Raises
    ------
    GradlogError
        If the path cannot be loaded or a role override is invalid.
    """
    from gradlog.analyzers import DEFAULT_CONFIG, run_analysis

    if not isinstance(run, Run):
        run = load(run, roles=roles)
    elif roles:
        run = run.with_roles(**roles)
    a = run_analysis(run, config=DEFAULT_CONFIG if config is None else config)
    kwargs = {"lr_advice": a.lr_advice} if a.lr_advice is not None else {}
    return Report(run=a.run, findings=a.findings, trends=a.trends, not_assessable=a.not_assessable, **kwargs)
