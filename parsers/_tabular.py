"""Shared machinery of the tabular formats (private): one import for the parser modules.

The work is done in four modules, re-exported here:

* :mod:`parsers._csv` (with :mod:`parsers._csvread`, :mod:`parsers._csvtext`, :mod:`parsers._csvscan` and :mod:`parsers._csvcols`): CSV
  sniffing and reading; damaged rows skipped and counted, caps on names and columns.
* :mod:`parsers._wide`: the wide table -> common frame conversion and the step column.
* :mod:`parsers._jsondoc`: what the document formats share: size-capped reading, JSON
  cut short, per-tag points assembled into the frame, the meta every run has.
* :mod:`parsers._hparams`: the settings files beside a log (PyYAML), the usual keys
  and the optimizer facts.

The CSV formats (csv_wide, lightning, keras, ultralytics, timm, caffe_parselog) differ
only in how they recognise a file and which column is the step axis.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from gradlog.errors import DamagedInputError
from gradlog.frame.source import Source

from ._csv import (
    Table,
    TableHeader,
    c_error,
    is_cut_number,
    is_number,
    max_columns,
    max_tag_length,
    read_table,
    sniff_table,
    text_bytes,
)
from ._csvcols import Column
from ._hparams import (
    flatten,
    hparams_beside,
    normalise_hparams,
    optimizer_name,
    parse_scalar,
    read_settings_file,
    read_simple_yaml,
    read_yaml,
)
from ._jsondoc import (
    Points,
    assemble_frame,
    finish_meta,
    load_json,
    note_truncated,
    read_document,
)
from ._wide import (
    STEP_COLUMNS,
    choose_step_column,
    step_unit_of,
    wide_to_frame,
)
from ._wide import read_wide as _read_wide


def read_wide(
    source: Source,
    *,
    step: str | None | bool = True,
    strict: bool = False,
    epoch_column: str | None = "epoch",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a wide CSV into the common frame (:func:`parsers._wide.read_wide`), and under
    ``strict`` refuse what it skipped that is data: the values of a column without a
    name (``meta["skipped"]["unnamed_column_values"]``).

    Returns
    -------
    (frame, meta)

    Raises
    ------
    ParseError, EmptyLogError, DamagedInputError
        As :func:`parsers._wide.read_wide`; DamagedInputError too under ``strict`` for
        values under an empty column name.
    """
    frame, meta = _read_wide(source, step=step, strict=strict, epoch_column=epoch_column)
    if strict and meta.get("skipped", {}).get("unnamed_column_values"):
        said = [w for w in meta.get("warnings", []) if "have no name" in w]
        n = meta["skipped"]["unnamed_column_values"]
        raise DamagedInputError(
            f"{source.name}: " + (said[0] if said else f"{n} value(s) under a column without a name not read")
        )
    return frame, meta


#: The former private name of :func:`c_error` (csv_long used it).
_c_error = c_error

__all__ = [
    "STEP_COLUMNS",
    "Column",
    "Points",
    "Table",
    "TableHeader",
    "assemble_frame",
    "c_error",
    "choose_step_column",
    "finish_meta",
    "flatten",
    "hparams_beside",
    "is_cut_number",
    "is_number",
    "load_json",
    "max_columns",
    "max_tag_length",
    "normalise_hparams",
    "note_truncated",
    "optimizer_name",
    "parse_scalar",
    "read_document",
    "read_settings_file",
    "read_simple_yaml",
    "read_table",
    "read_wide",
    "read_yaml",
    "sniff_table",
    "step_unit_of",
    "text_bytes",
    "wide_to_frame",
]
