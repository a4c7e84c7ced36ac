"""Pass 1 of the Caffe reader: every line that is not a debug line (glog or not), in order,
parsed into events (loss, lr, output, test, clipping and run lines; crashes and the glog
header), with the parameter dumps and other programs' lines counted."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gradlog.errors import ParseError
from gradlog.parsers.caffe import lines as L
from gradlog.parsers.caffe.clock import Clock
from gradlog.parsers.caffe.solver import Dump
from gradlog.parsers.caffe.tags import Tags
from gradlog.parsers.caffe.tally import Tally

#: Event of a damaged Iteration line: the output lines after it belong to no known step.
EV_BROKEN = "broken_iteration_line"


class Messages:
    """Reads the messages of a chunk's non-debug lines (:meth:`read`); ``multistep``:
    the ``MultiStep Status`` events seen (schedule events, not steps)."""

    def __init__(
        self, tally: Tally, tags: Tags, dump: Dump, clock: Clock, line: Callable[[int], int]
    ) -> None:
        self.tally, self.tags, self.dump, self.clock, self._line = tally, tags, dump, clock, line
        self.name = tally.name
        self.multistep: list[dict[str, int]] = []

    def read(
        self, kid: np.ndarray, kind: np.ndarray, recs: list[tuple[bytes, bytes]]
    ) -> list[tuple[int, bytes, tuple]]:
        """Parse every line that is not a debug line (glog or not), in order.

        Returns the events (record index, timestamp, parsed message); sets the record
        kinds of the events that are records.
        """
        events: list[tuple[int, bytes, tuple]] = []
        idx = np.flatnonzero(kid == 0).tolist()
        if not idx:
            return events
        found = L.EVENT_RE.findall(b"\n".join([recs[k][1] for k in idx]) + b"\n")
        if len(found) != len(idx):  # a line the scanner split differently: impossible
            raise ParseError(f"{self.name}: internal error: {len(found)} events for {len(idx)} lines")
        skipk = set(np.flatnonzero(kind == L.K_SKIP).tolist()) if (kind == L.K_SKIP).any() else ()
        set_k: list[int] = []
        set_v: list[int] = []
        prev = -1
        num = L.parse_num
        append = events.append
        handlers = L.HANDLERS
        crash_line = L.CRASH_LINE_RE.match
        dump = self.dump
        glog = 0
        net_dump = 0
        for k, g in zip(idx, found, strict=False):
            if k != prev + 1:  # a debug line came in between: a dump cannot go on
                dump.kind = None
            prev = k
            if skipk and k in skipk:
                continue
            ts = g[0]
            if not ts:
                line = g[10]
                # a net dump's line, the common case, inline (what _junk does with it)
                if dump.kind == "net" and line.strip() and not crash_line(line):
                    net_dump += 1
                else:
                    self._junk(k, line, events)
                continue
            glog += 1
            if g[1]:  # Iteration N ..., loss = X  /  Iteration N, lr = X
                dump.kind = None
                # beyond int64 (more than 19 significant digits is, whatever they are;
                # int() of thousands of digits would itself refuse)
                digits = g[1].lstrip(b"0")
                if len(digits) > 19 or (len(digits) > 18 and int(digits) > L.MAX_STEP):
                    self.tally.count("malformed_lines", self._line(k))
                    append((k, ts, (EV_BROKEN,)))
                    continue
                if g[3] == b"loss":
                    ev: tuple = (L.K_L, int(g[1]), num(g[4]), num(g[2]) if g[2] else None, g[4])
                else:
                    ev = (L.K_LR, int(g[1]), num(g[4]))
                set_k.append(k)
                set_v.append(ev[0])
                append((k, ts, ev))
                continue
            if g[5] and len(g[5]) > 9:  # an output index no net has: a damaged line
                self.tally.count("malformed_lines", self._line(k))
                append((k, ts, (EV_BROKEN,)))
                continue
            if g[5]:  # Train net output #k: name = v
                dump.kind = None
                w = g[8]
                ev = (L.K_TRO, int(g[5]), g[6], num(g[7]), num(w) if w else None)
                set_k.append(k)
                set_v.append(L.K_TRO)
                append((k, ts, ev))
                continue
            msg = g[9]
            if msg:  # (Intel Caffe prints a dump after an empty message)
                dump.kind = None
            if ts[0] == 70:  # a fatal line ends the run
                set_k.append(k)
                set_v.append(L.K_RUN)
                append((k, ts, ("fatal", msg.decode("utf-8", "replace").strip()[:200])))
                continue
            h = handlers.get(msg[:6])
            if h is None:  # a message the reader does not need
                continue
            got = self._message(k, h, msg, kid, kind, recs)
            if got is None:
                continue
            ev, record = got
            if record:
                set_k.append(k)
                set_v.append(L.K_RUN if isinstance(ev[0], str) else ev[0])
            append((k, ts, ev))
        self.tally.glog_lines += glog
        if net_dump:
            self.tally.skipped["parameter_dump_lines"] += net_dump
        if set_k:
            kind[np.array(set_k)] = np.array(set_v, dtype=kind.dtype)
        return events

    def _message(
        self,
        k: int,
        h: Callable[[bytes], tuple | None],
        msg: bytes,
        kid: np.ndarray,
        kind: np.ndarray,
        recs: list[tuple[bytes, bytes]],
    ) -> tuple[tuple, bool] | None:
        """Parse the message of glog line ``k`` (not a loss, lr or train output line) with
        its parser ``h``.

        Returns
        -------
        (event, whether it is a record), or None for a line that makes no event (not
        needed, counted as malformed, or a 2014 debug line: made a record in place).
        """
        ev = h(msg)
        if ev is None:
            return None
        k0 = ev[0]
        if k0 == L.K_T and ev[1] > L.MAX_STEP:
            k0 = "malformed"
        if k0 == "malformed":
            self.tally.count("malformed_lines", self._line(k))
            # the outputs after a broken Iteration line have no known step
            return ((EV_BROKEN,), False) if ev[1] == "Iteration line" else None
        if k0 == "debug_2014":  # a debug line after all: becomes one
            kd = self.tags.keytab[ev[1]]
            kid[k] = kd
            kind[k] = self.tags.key_kind[kd] if self.tags.key_kind[kd] != L.K_BADKEY else L.K_NONE
            recs[k] = (ev[1], ev[2])
            self.tally.formats.add("debug_info_2014")
            return None
        if k0 != L.EV_INFO:
            return ev, True
        what = ev[1]
        if what == "solver_params":
            return (L.EV_INFO, what, self.dump.start("solver")), False
        if what == "net_params":
            self.dump.start("net")
        elif what == "multistep":
            self.multistep.append({"step": ev[2], "stage": ev[3]})
        elif what in ("snapshot", "finetune"):
            self.tally.info[f"{what}_lines"] += 1
        else:
            return ev, False
        return None

    def _junk(self, k: int, line: bytes, events: list) -> None:
        """A line without a glog prefix: a parameter dump's, a crash's (an event), the
        glog file header's (an event), or another program's (counted)."""
        if not line.strip():
            return
        if L.CRASH_LINE_RE.match(line):
            text = line.decode("utf-8", "replace").strip()
            events.append((k, b"", ("crash", L.crash_kind(text), text)))
            return
        if self.dump.take(line, self.tally):
            return
        if L.STACK_LINE_RE.match(line):
            events.append((k, b"", ("trace",)))
            return
        m = L.HEADER_RE.match(line)
        if m:
            self.clock.header["created"] = m[0][21:].decode()
            events.append((k, b"", ("header", int(m[1]), int(m[2]) * 100 + int(m[3]))))
            return
        if line.startswith((b"Running on machine: ", b"Log line format: ", b"Running duration (")):
            key, _, value = line.partition(b": ")
            name = key.split(b" (")[0].decode("ascii", "replace").lower().replace(" ", "_")
            self.clock.header[name] = value.decode("utf-8", "replace").strip()
            return
        if L.GARBLED_RE.search(line):  # control bytes: damage, not somebody's print
            self.tally.count("garbled_lines", self._line(k))
        else:
            self.tally.count("non_glog_lines", self._line(k))
