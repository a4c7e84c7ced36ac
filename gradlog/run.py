"""The :class:`Run`: one training run in the common frame, with its meta and roles."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gradlog.frame import take_vouched, validate_frame, vouch
from gradlog.roles import ROLE_NAMES, apply_overrides, infer_roles, missing_roles_message

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["Run"]


class Run:
    """One training run.

    Attributes
    ----------
    frame : pandas.DataFrame
        The tidy common frame (see :mod:`gradlog.frame`), sorted by (tag, step).
    meta : dict
        ``source``, ``format``, ``name``, ``step_unit`` (``iteration``, ``step``,
        ``epoch`` or ``row``), ``warnings`` (list of one-line messages), ``skipped``
        (what was skipped, counted: ``{"non_glog_lines": 3}``), ``restarts`` (list of
        dicts), ``replaced_points`` (points a later record re-logged), ``statistics``
        (what a tag prefix measures), ``hparams`` (hyperparameters found beside the log)
        and format-specific keys.
    roles : dict
        Which tag plays which part (see :mod:`gradlog.roles`).
    name : str
        A short name for reports (the file or run directory name).
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        meta: Mapping[str, Any] | None = None,
        roles: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
    ) -> None:
        """Wrap a frame in the common-frame contract.

        A frame a parser handed over through :class:`gradlog.frame.ParseResult` (or that
        :func:`gradlog.frame.build_frame` returned) was checked there and is not checked
        again; any other frame is validated here.

        Raises
        ------
        FrameError
            If ``frame`` breaks the common-frame contract.
        RoleError
            If ``roles`` names a tag the frame lacks.
        """
        if not take_vouched(frame):
            validate_frame(frame)
        self.frame = frame
        self.meta: dict[str, Any] = dict(meta or {})
        self.meta.setdefault("warnings", [])
        self.meta.setdefault("skipped", {})
        self.meta.setdefault("restarts", [])
        self.meta.setdefault("replaced_points", 0)
        self.meta.setdefault("statistics", {})
        self.meta.setdefault("hparams", {})
        self.name = name or str(self.meta.get("name") or self.meta.get("source") or "run")
        tag_col = frame["tag"].array
        cats = list(tag_col.categories)
        codes = np.asarray(tag_col.codes)  # a view; sorted, so binary searches find each tag
        needles = np.arange(len(cats), dtype=codes.dtype)  # same dtype: no cast of ``codes``
        starts = np.searchsorted(codes, needles, side="left")
        ends = np.searchsorted(codes, needles, side="right")
        self._bounds: dict[str, tuple[int, int]] = {
            t: (int(s), int(e)) for t, s, e in zip(cats, starts, ends, strict=False) if e > s
        }
        inferred = infer_roles(self._bounds)
        if roles is not None:
            unknown = set(roles) - set(ROLE_NAMES)
            if unknown:
                from gradlog.errors import RoleError

                raise RoleError(f"unknown role(s) {sorted(unknown)}; roles are {', '.join(ROLE_NAMES)}")
            inferred = apply_overrides(
                inferred, dict(roles), self._bounds, aliases=self.source_tags(), source=self.name
            )
        self.roles: dict[str, Any] = inferred
        missing = missing_roles_message(self.roles, self._bounds, self.source_tags(), source=self.name)
        if missing and missing not in self.meta["warnings"]:
            self.meta["warnings"] = [*self.meta["warnings"], missing]

    # -- basic views -------------------------------------------------------------
    @property
    def tags(self) -> list[str]:
        """Return the tags present in the run, in alphabetical order."""
        return list(self._bounds)

    def source_tags(self) -> dict[str, str]:
        """Return ``{source_tag: tag}`` for every tag (the names as logged)."""
        out: dict[str, str] = {}
        src = self.frame["source_tag"]
        for tag, (s, _e) in self._bounds.items():
            out.setdefault(str(src.iat[s]), tag)
        return out

    def __contains__(self, tag: object) -> bool:
        return tag in self._bounds

    def __len__(self) -> int:
        return len(self.frame)

    def series(self, tag: str) -> pd.Series:
        """Return one tag's values as a float Series indexed by step (named by its tag).

        ``tag`` is a normalised tag (``"train/loss"``) or the name as logged
        (``"loss"``, ``"Loss/train"``), which is looked up among the source tags.

        Raises
        ------
        KeyError
            If the run has no such tag (the message lists the tags).
        """
        if tag not in self._bounds:
            normalised = self.source_tags().get(tag)
            if normalised is None:
                raise KeyError(f"{self.name}: no tag {tag!r}; tags are: {', '.join(self.tags)}")
            tag = normalised
        s, e = self._bounds[tag]
        values = self.frame["value"].to_numpy()[s:e]
        steps = self.frame["step"].to_numpy()[s:e]
        return pd.Series(values, index=pd.Index(steps, name="step"), name=tag)

    def wall_times(self, tag: str) -> pd.Series:
        """Return one tag's wall times (Unix seconds, NaN where unknown) indexed by step.

        Raises
        ------
        KeyError
            If the run has no such tag.
        """
        if tag not in self._bounds:
            raise KeyError(f"{self.name}: no tag {tag!r}")
        s, e = self._bounds[tag]
        return pd.Series(
            self.frame["wall_time"].to_numpy()[s:e],
            index=pd.Index(self.frame["step"].to_numpy()[s:e], name="step"),
            name=tag,
        )

    def wide(self, tags: list[str] | None = None) -> pd.DataFrame:
        """Return one column per tag, indexed by step (NaN where a tag has no point).

        Raises
        ------
        KeyError
            If a requested tag is not in the run.
        """
        chosen = self.tags if tags is None else list(tags)
        cols = {t: self.series(t) for t in chosen}
        if not cols:
            return pd.DataFrame(index=pd.Index([], name="step", dtype="int64"))
        out = pd.concat(cols, axis=1).sort_index()
        out.index.name = "step"
        out.columns.name = "tag"
        return out

    @property
    def steps(self) -> dict[str, int | None]:
        """Return ``{"first", "last", "count"}`` over all tags (count of distinct steps)."""
        st = self.frame["step"].to_numpy()
        if len(st) == 0:
            return {"first": None, "last": None, "count": 0}
        return {"first": int(st.min()), "last": int(st.max()), "count": int(len(np.unique(st)))}

    def summary(self) -> pd.DataFrame:
        """Return one row per tag: ``count``, ``first_step``, ``last_step``, ``first``,
        ``last``, ``min``, ``max``, ``nonfinite`` (NaN/inf count), and its ``role``."""
        role_of: dict[str, str] = {}
        for role, val in self.roles.items():
            for t in val if isinstance(val, list) else [val]:
                if t:
                    role_of.setdefault(t, role)
        values = self.frame["value"].to_numpy()
        steps = self.frame["step"].to_numpy()
        rows = []
        for tag, (s, e) in self._bounds.items():
            v = values[s:e]
            fin = v[np.isfinite(v)]
            rows.append(
                {
                    "tag": tag,
                    "count": e - s,
                    "first_step": int(steps[s]),
                    "last_step": int(steps[e - 1]),
                    "first": float(v[0]),
                    "last": float(v[-1]),
                    "min": float(fin.min()) if fin.size else float("nan"),
                    "max": float(fin.max()) if fin.size else float("nan"),
                    "nonfinite": int(v.size - fin.size),
                    "role": role_of.get(tag, ""),
                }
            )
        cols = ["tag", "count", "first_step", "last_step", "first", "last", "min", "max", "nonfinite", "role"]
        return pd.DataFrame(rows, columns=cols)

    def with_roles(self, **overrides: Any) -> Run:
        """Return a copy of this run with some roles overridden (``loss="my_loss"``).

        Raises
        ------
        RoleError
            If a role is unknown or a tag is not in the run.
        """
        merged = {**self.roles, **overrides}
        # the frame was checked when this run was made: the copy shares it unchecked
        return Run(vouch(self.frame), self.meta, merged, name=self.name)

    # -- display -----------------------------------------------------------------
    def plot(
        self, tags: list[str] | None = None, *, ax: Axes | None = None, logy: bool | None = None
    ) -> Axes:
        """Plot some tags against steps (default: the loss, validation loss and LR).

        Returns the matplotlib Axes; never shows the figure.
        """
        from gradlog.plots import plot_tags

        return plot_tags(self, tags=tags, ax=ax, logy=logy)

    def _repr_html_(self) -> str:
        from gradlog.render.html import run_summary_html

        return run_summary_html(self)

    def __repr__(self) -> str:
        st = self.steps
        return (
            f"<Run {self.name!r} format={self.meta.get('format')} tags={len(self._bounds)} "
            f"rows={len(self.frame)} steps={st['first']}..{st['last']}>"
        )
