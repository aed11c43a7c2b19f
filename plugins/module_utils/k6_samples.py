# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""k6's sample stream, reduced exactly while k6 writes it (part of the supervise stage).

Private to the loadops.k6 collection: no stability promise outside it. Standard library only.

k6 writes every sample to ``--out json=<fifo>`` (a named pipe in the run's directory, so nothing
lands on disk); a reader thread in the module turns the lines into one ``Series`` per metric and
tag set. k6 1.1.0 writes one JSON object per line (internal/output/json): a ``Metric`` line the
first time a metric is seen, then ``Point`` lines::

    {"type":"Metric","data":{"name":"http_reqs","type":"counter","contains":"default",...},"metric":"http_reqs"}
    {"metric":"http_reqs","type":"Point","data":{"time":"...","value":1,"tags":{"name":"ok",...}}}

Floats are written in Go's shortest round-trip form, so ``float()`` gets k6's value back bit for
bit. A series keeps count, sum (added in arrival order, like k6's sinks), min, max, the number of
non-zero values (k6's Rate counts those), the last value and its position in the stream (a
Gauge's value is the last one), and, for the trend metrics named in ``keep_values``, every value
(a percentile needs them all; ``finish()`` sorts them).

The reduction is written as ``reduction.json``: the series, with each kept value list stored as
sorted little-endian float64 bytes, zlib-compressed and base64-encoded (exact, about 3-6 bytes a
value). ``load()`` reads it back; ``merge()`` adds reductions of several load machines.

While k6 runs, the reader can also write ``reduction.live.json`` every few seconds (``live=``): the
reduction so far, of the metrics named only, with the values in arrival order (``load()`` sorts
them). A fleet run's controller merges the machines' live files to decide abortOnFail thresholds on
every machine's samples (k6_fleet.abort_check).
"""
from __future__ import annotations

import array
import base64
import json
import os
import select
import sys
import threading
import time
import zlib

FORMAT = "loadops.k6/reduction"
VERSION = 1
SAMPLES_PIPE = "samples.pipe"
REDUCTION_FILE = "reduction.json"
LIVE_FILE = "reduction.live.json"
RAW_SAMPLES_FILE = "samples.json.gz"
MODES = ("reduce", "keep", "off")

_PREFIX = b'{"metric":"'
_POINT = b'","type":"Point","data":{"time":"'
_VALUE = b'"value":'
_TAGS = b',"tags":'
_METADATA = b'"metadata"'
_READ_SIZE = 1 << 20


class Series(object):
    """One metric with one exact tag set."""
    __slots__ = ("metric", "tags", "count", "sum", "min", "max", "trues", "last", "seq", "values")

    def __init__(self, metric, tags, keep):
        self.metric, self.tags = metric, tags
        self.count, self.sum, self.trues, self.seq = 0, 0.0, 0, 0
        self.min = self.max = self.last = None
        self.values = array.array("d") if keep else None

    def add(self, value, seq):
        if self.count == 0:
            self.min = self.max = value
        elif value < self.min:
            self.min = value
        elif value > self.max:
            self.max = value
        self.count += 1
        self.sum += value
        if value != 0:
            self.trues += 1
        self.last, self.seq = value, seq
        if self.values is not None:
            self.values.append(value)

    def to_dict(self, level=6):
        out = {"metric": self.metric, "tags": dict(self.tags), "count": self.count, "sum": self.sum,
               "min": self.min, "max": self.max, "trues": self.trues, "last": self.last, "seq": self.seq}
        if self.values is not None:
            packed = array.array("d", self.values)
            if sys.byteorder != "little":
                packed.byteswap()
            out["values"] = base64.b64encode(zlib.compress(packed.tobytes(), level)).decode("ascii")
        return out

    @classmethod
    def from_dict(cls, data):
        series = cls(data["metric"], tuple(sorted(data.get("tags", {}).items())), "values" in data)
        for key in ("count", "sum", "min", "max", "trues", "last", "seq"):
            setattr(series, key, data.get(key))
        if "values" in data:
            series.values.frombytes(zlib.decompress(base64.b64decode(data["values"])))
            if sys.byteorder != "little":
                series.values.byteswap()
        return series


class Reducer(object):
    """Feed it k6's JSON output in chunks of any size; ``finish()`` once at the end."""

    def __init__(self, keep_values=("http_req_duration",)):
        self.keep_values = frozenset(keep_values)
        self.types = {}      # metric -> {"type": ..., "contains": ...}
        self.series = {}     # (metric, tags tuple) -> Series
        self._known = {}     # (metric bytes, raw tags bytes) -> Series: skips json.loads
        self._rest = b""
        self.samples = 0
        self.bad_lines = 0
        self.first_time = self.last_time = None

    def feed(self, data):
        lines = (self._rest + data).split(b"\n")
        self._rest = lines.pop()
        first = last = None
        for line in lines:
            if line.startswith(_PREFIX):
                if self._point(line):
                    first, last = first or line, line
            elif line:
                self._other(line)
        if last is not None:
            self.first_time = self.first_time or _time_of(first)
            self.last_time = _time_of(last)

    def _point(self, line):
        mark = line.find(_POINT, 11)
        value_at = line.find(_VALUE, mark + 40)
        tags_at = line.find(_TAGS, value_at)
        if mark < 0 or value_at < 0 or tags_at < 0:
            self.bad_lines += 1
            return False
        key = (line[11:mark], line[tags_at + 8:])
        series = self._known.get(key)
        if series is None:
            series = self._new_series(line, key)
            if series is None:
                return False
        self.samples += 1
        series.add(float(line[value_at + 8:tags_at]), self.samples)
        return True

    def _new_series(self, line, key):
        try:
            data = json.loads(line)["data"]
            metric = json.loads(b'"' + key[0] + b'"')
            tags = tuple(sorted((data.get("tags") or {}).items()))
        except (ValueError, KeyError, TypeError, AttributeError):
            self.bad_lines += 1
            return None
        ident = (metric, tags)
        series = self.series.get(ident)
        if series is None:
            keep = metric in self.keep_values and self.types.get(metric, {}).get("type") == "trend"
            series = self.series[ident] = Series(metric, tags, keep)
        if _METADATA not in key[1]:  # per-sample metadata would make every line a new key
            self._known[key] = series
        return series

    def _other(self, line):
        try:
            obj = json.loads(line)
        except ValueError:
            self.bad_lines += 1
            return
        if isinstance(obj, dict) and obj.get("type") == "Metric" and isinstance(obj.get("data"), dict):
            data = obj["data"]
            self.types[data.get("name")] = {"type": data.get("type"), "contains": data.get("contains")}
        else:
            self.bad_lines += 1

    def finish(self):
        """The stream ended: a cut-off last line (k6 killed mid-write) is dropped; values sorted."""
        if self._rest:
            self.bad_lines += 1
            self._rest = b""
        self._known.clear()
        for series in self.series.values():
            if series.values is not None:
                series.values = array.array("d", sorted(series.values))
        return self

    def to_dict(self, metrics=None, level=6, **extra):
        """The reduction as a dict; with ``metrics``, only the series of those metrics; ``level``: zlib's."""
        chosen = [s for s in self.series.values() if metrics is None or s.metric in metrics]
        out = {"format": FORMAT, "version": VERSION, "samples": self.samples, "bad_lines": self.bad_lines,
               "first_time": self.first_time, "last_time": self.last_time, "metrics": self.types,
               "series": [s.to_dict(level) for s in sorted(chosen, key=lambda s: (s.metric, s.tags))]}
        out.update(extra)
        return out


def _time_of(line):
    start = line.find(_POINT) + len(_POINT)
    return line[start:line.find(b'"', start)].decode("ascii", "replace")


def write(reducer, path, metrics=None, level=6, **extra):
    """reduction.json, private to its owner, written whole or not at all."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(reducer.to_dict(metrics=metrics, level=level, **extra), handle, separators=(",", ":"))
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def load(path_or_data):
    """A Reducer (finished) from reduction.json or its parsed dict; ValueError when it is not one."""
    data = path_or_data
    if not isinstance(data, dict):
        with open(path_or_data) as handle:
            data = json.load(handle)
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
        raise ValueError("not a %s version %d file" % (FORMAT, VERSION))
    reducer = Reducer()
    reducer.types = dict(data.get("metrics") or {})
    reducer.samples, reducer.bad_lines = data.get("samples", 0), data.get("bad_lines", 0)
    reducer.first_time, reducer.last_time = data.get("first_time"), data.get("last_time")
    for item in data.get("series") or []:
        series = Series.from_dict(item)
        if data.get("live") and series.values is not None:  # written mid-run: arrival order
            series.values = array.array("d", sorted(series.values))
        reducer.series[(series.metric, series.tags)] = series
    return reducer


def merge(reducers):
    """One reduction from several (load machines): series with equal metric and tags are added."""
    merged = Reducer()
    for reducer in reducers:
        merged.types.update(reducer.types)
        merged.samples += reducer.samples
        merged.bad_lines += reducer.bad_lines
        for ident, series in reducer.series.items():
            into = merged.series.get(ident)
            if into is None:
                into = merged.series[ident] = Series(series.metric, series.tags, series.values is not None)
            _add_series(into, series, merged.samples)
    return merged.finish()


def _add_series(into, series, offset):
    if series.count == 0:
        return
    if into.count == 0:
        into.min, into.max = series.min, series.max
    else:
        into.min, into.max = min(into.min, series.min), max(into.max, series.max)
    into.count += series.count
    into.sum += series.sum
    into.trues += series.trues
    into.last, into.seq = series.last, offset + series.seq
    if into.values is not None and series.values is not None:
        into.values.extend(series.values)


class PipeReader(object):
    """Reads k6's JSON output from a named pipe in a thread, into a Reducer.

    The pipe is opened without blocking and held open for writing by the reader too, so it sees no
    end before k6 has opened it; ``finish()`` (after k6 exited) lets go of that end and reads to the
    real end. If reducing fails, the reader keeps draining, so k6 never blocks on a full pipe.
    """

    def __init__(self, path, reducer, raw_path=None, owner=None, live=None, clock=time.monotonic):
        """``live``: (path, interval_s, metrics or None) to write the reduction so far every interval."""
        self.path, self.reducer, self.raw_path = path, reducer, raw_path
        self.problem = self.live_problem = None
        self._live, self._clock = live, clock
        self._live_due = None
        os.mkfifo(path, 0o600)
        self._fd = self._keep = None
        try:
            if owner is not None:
                os.chown(path, *owner)
            self._fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            self._keep = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            self._close("_fd")
            self.remove()
            raise
        self._raw = None
        self._thread = threading.Thread(target=self._loop, name="k6-samples")
        self._thread.daemon = True

    def start(self):
        if self.raw_path:
            import gzip
            self._raw = gzip.open(self.raw_path, "wb", compresslevel=1)
            os.chmod(self.raw_path, 0o600)
        self._thread.start()
        return self

    def chown(self, uid, gid):
        os.chown(self.path, uid, gid)

    def _loop(self):
        while True:
            self._write_live()
            try:
                select.select([self._fd], [], [], 0.5)
                data = os.read(self._fd, _READ_SIZE)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                self.problem = self.problem or "reading k6's samples failed: %s" % exc
                return
            if not data:
                return
            self._take(data)

    def _write_live(self):
        """The reduction so far, every interval (in this thread: the reducer is never read mid-feed)."""
        if self._live is None or self.problem or self.live_problem:
            return
        path, interval, metrics = self._live
        now = self._clock()
        if self._live_due is not None and now < self._live_due:
            return
        self._live_due = now + interval
        try:
            # zlib's fastest level: written every few seconds while k6 runs, read once
            write(self.reducer, path, metrics=metrics, level=1, live=True, written_at=time.time())
        except (OSError, ValueError) as exc:
            self.live_problem = "the live reduction %s cannot be written (%s); abortOnFail is not judged " \
                                "across machines from here on" % (path, exc)

    def _take(self, data):
        if self.problem:
            return  # drain only
        try:
            self.reducer.feed(data)
            if self._raw is not None:
                self._raw.write(data)
        except Exception as exc:  # pylint: disable=broad-except
            self.problem = "reducing k6's samples failed (%s: %s); the run goes on without them" % (
                type(exc).__name__, exc)

    def finish(self, timeout=120):
        """k6 has exited: read what is left, stop. Returns the finished Reducer, or None (see problem)."""
        self._close("_keep")
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.problem = self.problem or "k6's samples were still being read after %d s" % timeout
        self.close()
        if self.problem:
            return None
        return self.reducer.finish()

    def close(self):
        """Idempotent: nothing of the reader is left (fds, the pipe, the raw file handle, the live
        reduction: reduction.json supersedes it)."""
        self._close("_keep")
        if self._live is not None and not self._thread.is_alive():
            for name in (self._live[0], self._live[0] + ".tmp"):
                try:
                    os.unlink(name)
                except OSError:
                    pass
        if not self._thread.is_alive():
            self._close("_fd")
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        self.remove()

    def _close(self, name):
        fd = getattr(self, name, None)
        if fd is not None:
            setattr(self, name, None)
            os.close(fd)

    def remove(self):
        try:
            os.unlink(self.path)
        except OSError:
            pass
