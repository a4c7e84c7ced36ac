"""Wall time from glog timestamps: the year (a glog header, a ``Lyyyymmdd`` prefix, a glog
file name, else 1970 assumed) and its roll-over, and the timestamps -> Unix seconds."""

from __future__ import annotations

import numpy as np

from gradlog.parsers.caffe import lines as L

#: The year assumed when the log has none (not a leap year; a Feb 29 line makes it one).
ASSUMED_YEAR = 1970


#: Up to this many events, :meth:`Clock.event_walls` reads them one by one (cheaper than
#: numpy's calls for the few lines between two stretches of a plain log read in bulk).
FEW_EVENTS = 48


def _days_from_civil(y: int, m: int, d: int) -> int:
    """:func:`.lines.days_from_civil` of one date."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    mp = m - 3 if m > 2 else m + 9
    doe = yoe * 365 + yoe // 4 - yoe // 100 + (153 * mp + 2) // 5 + d - 1
    return era * 146097 + doe - 719468


class Clock:
    """The year state of one read (it carries from chunk to chunk), and the glog header.

    Attributes
    ----------
    year, prev_md : the year and ``month * 100 + day`` of the last timestamp read.
    year_source : ``glog_header``, ``glog_prefix``, ``file_name`` or ``assumed``.
    year_assumed_used : a timestamp was placed in the assumed year.
    leap_assumed : assumed years that a Feb 29 line made leap years.
    name_year : (year, month * 100 + day) from a glog file name, or None.
    header : the glog file header's fields (``created``, ``running_on_machine`` ...).
    """

    def __init__(self, file_name: str | None, formats: set[str]) -> None:
        self.formats = formats
        self.year: int | None = None
        self.year_source = "assumed"
        self.year_assumed_used = False
        self.prev_md: int | None = None
        self.leap_assumed: set[int] = set()
        self.name_year: tuple[int, int] | None = None
        if file_name is not None:
            m = L.GLOG_NAME_RE.search(file_name)
            if m:
                self.name_year = (int(m[1]), int(m[2]) * 100 + int(m[3]))
        self.header: dict[str, str] = {}

    def event_walls(self, events: list[tuple[int, bytes, tuple]]) -> np.ndarray:
        """Unix seconds of each event (NaN for the header markers), in event order."""
        n = len(events)
        walls = np.full(n, np.nan)
        if n == 0:
            return walls
        if n <= FEW_EVENTS:
            few = self._few_walls(events)
            if few is not None:
                return np.array(few, dtype=np.float64)
        pos = [i for i, e in enumerate(events) if e[1]]
        heads = [i for i, e in enumerate(events) if not e[1] and e[2][0] == "header"]
        if not pos:
            for i in heads:
                self.set_header(events[i][2])
            return walls
        ts = [events[i][1] for i in pos]
        year, month, day, secs = L.ts_fields(ts)
        pos_arr = np.asarray(pos)
        # split the timestamped events at the header lines (they set the year)
        bounds = np.searchsorted(pos_arr, heads) if heads else np.array([], dtype=np.int64)
        start = 0
        out = np.full(len(pos), np.nan)
        for h, b in zip(heads, [int(x) for x in bounds], strict=False):
            if b > start:
                out[start:b] = self.walls(year[start:b], month[start:b], day[start:b], secs[start:b])
                start = b
            self.set_header(events[h][2])
        if start < len(pos):
            out[start:] = self.walls(year[start:], month[start:], day[start:], secs[start:])
        walls[pos_arr] = out
        return walls

    def _few_walls(self, events: list[tuple[int, bytes, tuple]]) -> list[float] | None:
        """:meth:`event_walls` of a few events, one by one in Python (the same
        arithmetic: the same floats, the same state after them), when every timestamp
        is short (no year: the year carried and rolled over as :meth:`walls` does) and
        none is a Feb 29 (whose year may become a leap year for the others); else
        None, having changed nothing."""
        for _k, ts, _ev in events:
            if ts and (ts[5] != 32 or ts[1:5] == b"0229"):
                return None
        out = []
        nan = float("nan")
        for _k, ts, ev in events:
            if not ts:
                if ev[0] == "header":
                    self.set_header(ev)
                out.append(nan)
                continue
            month, day = int(ts[1:3]), int(ts[3:5])
            if month < 1 or month > 12 or day < 1 or day > 31:
                out.append(nan)
                continue
            if self.year is None:
                if self.name_year is not None:
                    self.year, self.prev_md = self.name_year
                    self.year_source = "file_name"
                else:
                    self.year = ASSUMED_YEAR
                    self.year_source = "assumed"
            md = month * 100 + day
            if self.prev_md is not None and self.prev_md - md > 600:
                self.year += 1
            self.prev_md = md
            days = _days_from_civil(self.year, month, day)
            if self.year_source == "assumed":
                self.year_assumed_used = True
                if self.leap_assumed and month >= 3 and self.year in self.leap_assumed:
                    days += 1
            secs = int(ts[6:8]) * 3600 + int(ts[9:11]) * 60 + int(ts[12:14]) + int(ts[15:21]) * 1e-6
            out.append(days * 86400.0 + secs)
        return out

    def set_header(self, ev: tuple) -> None:
        """A glog file header (``("header", year, month * 100 + day)``) sets the year."""
        _, year, md = ev
        self.year, self.prev_md = year, md
        self.year_source = "glog_header"

    def walls(self, year: np.ndarray, month: np.ndarray, day: np.ndarray, secs: np.ndarray) -> np.ndarray:
        """Unix seconds of timestamps (``year`` -1 where the prefix has none: the year
        carried from earlier lines, rolled over when the date goes back by more than six
        months); NaN where ``month`` is 0 (unreadable)."""
        n = len(month)
        out = np.full(n, np.nan)
        ok = month > 0
        if not ok.any():
            return out
        y = year[ok]
        m = month[ok]
        d = day[ok]
        md = m * 100 + d
        if (y >= 0).all():
            yrs = y
            self.year, self.prev_md = int(y[-1]), int(md[-1])
            self.year_source = "glog_prefix"
            self.formats.add("glog_year_prefix")
            assumed = np.zeros(len(m), dtype=bool)
        else:
            if self.year is None:
                if self.name_year is not None:
                    self.year, self.prev_md = self.name_year
                    self.year_source = "file_name"
                else:
                    self.year = ASSUMED_YEAR
                    self.year_source = "assumed"
            prev = np.empty_like(md)
            prev[0] = md[0] if self.prev_md is None else self.prev_md
            prev[1:] = md[:-1]
            roll = (prev - md) > 600
            yrs = self.year + np.cumsum(roll)
            yrs = np.where(y >= 0, y, yrs)
            self.year, self.prev_md = int(yrs[-1]), int(md[-1])
            assumed = np.full(len(m), self.year_source == "assumed")
            if assumed.any():
                self.year_assumed_used = True
                feb29 = assumed & (m == 2) & (d == 29)
                self.leap_assumed.update(int(v) for v in np.unique(yrs[feb29]))
        if len(m) > 1 and (m == m[0]).all() and (d == d[0]).all() and (yrs == yrs[0]).all():
            days = np.broadcast_to(L.days_from_civil(yrs[:1], m[:1], d[:1]), m.shape)  # one day
        else:
            days = L.days_from_civil(yrs, m, d)
        if self.leap_assumed:
            extra = assumed & (m >= 3) & np.isin(yrs, list(self.leap_assumed))
            days = days + extra
        out[ok] = days * 86400.0 + secs[ok]
        return out

    def meta(self) -> dict[str, object]:
        """``meta["caffe"]["year"]``: where the year came from, and the year assumed."""
        return {"source": self.year_source, "assumed_year": ASSUMED_YEAR if self.year_assumed_used else None}
