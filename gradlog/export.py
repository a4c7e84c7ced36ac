"""Writing a Run's frame to disk (``gradlog convert``)."""

from __future__ import annotations

import os
from pathlib import Path

from gradlog.errors import GradlogError
from gradlog.run import Run

__all__ = ["write_frame", "LONG_CSV_COLUMNS"]

#: Column order of the long CSV that ``gradlog convert`` writes and the csv_long parser reads.
LONG_CSV_COLUMNS = ("step", "tag", "value", "wall_time", "source_tag")


def write_frame(run: Run, path: str | os.PathLike[str]) -> int:
    """Write the run's frame as a long table and return the number of rows written.

    ``.csv`` / ``.csv.gz`` write CSV with columns ``step,tag,value,wall_time,source_tag``
    (values in shortest round-trip form; NaN as ``nan``, infinities as ``inf``/``-inf``);
    ``.parquet`` writes Parquet (needs the ``parquet`` extra).

    Raises
    ------
    GradlogError
        For an unsupported extension, a missing optional dependency, or a write error.
    """
    p = Path(path)
    frame = run.frame[list(LONG_CSV_COLUMNS)]
    name = p.name.lower()
    try:
        if name.endswith((".csv", ".csv.gz")):
            frame.to_csv(p, index=False, na_rep="nan", lineterminator="\n")
        elif name.endswith(".parquet"):
            try:
                import pyarrow  # noqa: F401
            except ImportError as exc:
                raise GradlogError("writing Parquet needs pyarrow: pip install 'gradlog[parquet]'") from exc
            frame.to_parquet(p, index=False)
        else:
            raise GradlogError(f"{p}: unknown output type; use .csv, .csv.gz or .parquet")
    except OSError as exc:
        raise GradlogError(f"{p}: cannot write ({exc.strerror or exc})") from exc
    return len(frame)
