# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running processes for loadops.k6: one helper for short commands, one handle for k6 itself.

Private to the loadops.k6 collection: no stability promise outside it.

- run_command: a short command (k6 version/inspect, docker, systemctl) with a timeout, never
  raising for a missing program or a timeout: (rc, stdout, stderr), rc 127 / 124 like a shell.
- Process: the long-running k6 (or `docker start --attach`, or `systemd-run --scope`) in its own
  process group, its merged output pumped to a capped log, reaped with its resource usage.
- first_line / first_error: the line of a tool's output worth showing in a message.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time

LOG_MAX_BYTES = 20 * 1024 ** 2
_TAIL_LINES = 400


def run_command(argv, timeout=60, env=None, cwd=None):
    """(rc, stdout, stderr) of a short command; rc 127 when it cannot start, 124 on timeout."""
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout, check=False, env=env, cwd=cwd)
    except OSError as exc:
        return 127, "", str(exc)
    except subprocess.TimeoutExpired:
        return 124, "", "%s did not answer within %d s" % (" ".join(str(a) for a in argv[:2]), timeout)
    return proc.returncode, proc.stdout, proc.stderr


def first_line(text):
    """The first non-blank line, stripped; 'no message' for none."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[0] if lines else "no message"


def first_error(text):
    """The message of k6's first error line (logfmt msg="..." when there is one)."""
    for line in (text or "").splitlines():
        if "level=error" in line or "error" in line.lower():
            match = re.search(r'msg="((?:[^"\\]|\\.)*)"', line)
            return match.group(1) if match else line.strip()
    stripped = (text or "").strip()
    return stripped.splitlines()[-1] if stripped else "no message"


class LogPump(threading.Thread):
    """Copies a stream to a file (0600), each line masked first, capped at max_bytes, keeping the
    last lines in memory. It always drains the stream to its end, so the writer never blocks:
    when the file cannot be written (a full disk), the lines are counted, not written."""

    def __init__(self, stream, path, max_bytes=LOG_MAX_BYTES, mask=None):
        super(LogPump, self).__init__(daemon=True)
        self.stream, self.path, self.max_bytes = stream, path, max_bytes
        self.mask = mask or (lambda line: line)
        self.written, self.dropped = 0, 0
        self.write_error = None
        self.tail = []

    def _open(self):
        try:
            return os.fdopen(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")
        except OSError as exc:
            self.write_error = exc
            return None

    def _write(self, out, data):
        if out is None or self.write_error is not None:
            return False
        try:
            out.write(data)
            out.flush()
            return True
        except OSError as exc:  # e.g. ENOSPC: keep draining, stop writing
            self.write_error = exc
            return False

    def run(self):
        out = self._open()
        try:
            for line in iter(self.stream.readline, b""):
                line = self.mask(line)
                self.tail.append(line)
                if len(self.tail) > _TAIL_LINES:
                    del self.tail[:_TAIL_LINES // 2]
                if self.written + len(line) <= self.max_bytes and self._write(out, line):
                    self.written += len(line)
                else:
                    self.dropped += 1
            if self.dropped and self.write_error is None:
                self._write(out, b"[loadops.k6: %d further log lines dropped at the %d byte cap]\n"
                            % (self.dropped, self.max_bytes))
        finally:
            if out is not None:
                try:
                    out.close()
                except OSError as exc:
                    self.write_error = self.write_error or exc

    def tail_text(self):
        return b"".join(self.tail).decode("utf-8", "replace")


class TimedOut(Exception):
    """Process.wait's deadline passed; the process still runs."""


class Process(object):
    """A started command in its own session (process group), output to a log file.

    wait() reaps with os.wait4 so the CPU time of k6 is known even without a cgroup; signal()
    reaches the whole group while the leader is unreaped (its pid cannot be reused before).
    """

    def __init__(self, argv, log_path, env=None, cwd=None, preexec=None, clock=time.monotonic, sleep=time.sleep,
                 mask=None):
        self.clock, self.sleep = clock, sleep
        self.rusage = None
        self.popen = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=env, cwd=cwd, preexec_fn=preexec, start_new_session=True)
        self.pid = self.popen.pid
        self.pump = LogPump(self.popen.stdout, log_path, mask=mask)
        self.pump.start()

    @property
    def returncode(self):
        return self.popen.returncode

    def wait(self, timeout=None):
        """k6's exit status (negative for a signal); TimedOut when timeout seconds pass first."""
        deadline = None if timeout is None else self.clock() + timeout
        delay = 0.005
        while self.popen.returncode is None:
            try:
                pid, status, rusage = os.wait4(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere (Popen.poll in a signal handler)
                return self.popen.wait()
            if pid:
                self.rusage = rusage
                self.popen.returncode = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
                break
            if deadline is not None and self.clock() >= deadline:
                raise TimedOut()
            self.sleep(delay)
            delay = min(delay * 2, 0.05)
        return self.popen.returncode

    def signal(self, sig):
        if self.popen.returncode is not None:
            return
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def cpu_seconds(self):
        if self.rusage is None:
            return None
        return round(self.rusage.ru_utime + self.rusage.ru_stime, 3)

    def finish_log(self, timeout=10):
        """Wait for the log pump to drain; the tail of the log as text."""
        self.pump.join(timeout=timeout)
        return self.pump.tail_text()

    def log_problem(self):
        """Why the log could not be written completely, or None."""
        error = self.pump.write_error
        return None if error is None else "k6's log %s could not be written completely: %s" % (
            self.pump.path, error.strerror or error)

    def kill_and_reap(self):
        """SIGKILL the group if the leader still runs, and reap it."""
        if self.popen.poll() is None:
            self.signal(signal.SIGKILL)
            self.popen.wait()
