"""Progress lines for long management commands: count done, rate, time left.

A line such as ``Exported 12,000 of 100,000 articles (2,345/s, about 38 s
left)`` is written at most once per ``interval`` seconds, and once more at the
end of a run that wrote one. A run under a second, or of fewer than
``min_total`` items, writes none: it is over before a rate means anything,
and its own per-item lines already say all there is.
"""

import time
from collections.abc import Callable

BYTES = "bytes"
COUNT = "count"
# Runs smaller than this never print progress lines, whatever the clock says.
MIN_TOTAL = {COUNT: 100, BYTES: 32 * 1024 * 1024}


def now() -> float:
    """Return the clock progress is timed by."""
    return time.monotonic()


def format_count(value: float) -> str:
    return f"{round(value):,}"


def format_bytes(value: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            break
        value /= 1024
    return f"{round(value):,} {unit}" if unit == "bytes" else f"{value:,.1f} {unit}"


def format_duration(seconds: float) -> str:
    """Return ``seconds`` as "38 s", "4 min 10 s" or "1 h 5 min"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


class Progress:
    """Report how far a long run has got, through ``write``, at most once per interval."""

    def __init__(
        self,
        write: Callable[[str], object] | None,
        total: int | None,
        *,
        verb: str,
        noun: str = "",
        unit: str = COUNT,
        interval: float = 1.0,
        min_total: int | None = None,
        clock: Callable[[], float] | None = None,
    ):
        clock = clock or now
        self.write = write
        self.total = total
        self.verb = verb
        self.noun = noun
        self.unit = unit
        self.interval = interval
        self.clock = clock
        self.done = 0
        self.started = clock()
        self.last_line = self.started
        self.first: tuple[float, int] | None = None
        self.lines = 0
        minimum = MIN_TOTAL[unit] if min_total is None else min_total
        # An unknown total may yet turn out large; only a known small one is quiet.
        self.quiet = write is None or (total is not None and total < minimum)

    def advance(self, count: int = 1) -> None:
        """Count ``count`` more items done."""
        self.update(self.done + count)

    def update(self, done: int) -> None:
        """Record that ``done`` items are done so far; write a line if one is due."""
        self.done = done
        if self.quiet:
            return
        moment = self.clock()
        if self.first is None:
            # Rates count from the first item done, not from the start: the
            # query or scan before it says nothing about the pace after.
            self.first = (moment, done)
            self.last_line = moment
        elif moment - self.last_line >= self.interval:
            self.last_line = moment
            self._write(self.line(moment))

    def finish(self) -> None:
        """Write the closing line, if the run wrote any line before."""
        if self.quiet or self.lines == 0:
            return
        self._write(self.line(self.clock(), final=True))

    def _write(self, text: str) -> None:
        self.lines += 1
        self.write(text)

    def line(self, moment: float, *, final: bool = False) -> str:
        """Return the progress line as of ``moment`` on the clock."""
        fmt = format_bytes if self.unit == BYTES else format_count
        elapsed = moment - self.started
        since, done_then = self.first or (self.started, 0)
        if final:
            since, done_then = self.started, 0
        rate = (self.done - done_then) / (moment - since) if moment > since else 0.0
        noun = f" {self.noun}" if self.noun else ""
        done = fmt(self.done)
        if self.total is not None:
            done += f" of {fmt(self.total)}"
        shown_rate = f"{fmt(rate)}/s"
        if final:
            return f"{self.verb} {done}{noun} in {format_duration(elapsed)} ({shown_rate})"
        if self.total is None:
            return f"{self.verb} {done}{noun} ({shown_rate})"
        if rate > 0:
            seconds = (self.total - self.done) / rate
            left = f"about {format_duration(seconds)} left" if seconds >= 1 else "under 1 s left"
        else:
            left = "time left unknown"
        return f"{self.verb} {done}{noun} ({shown_rate}, {left})"


def command_progress(command, options, total, **kwargs) -> Progress:
    """Return a Progress writing to ``command``'s stdout, silent at --verbosity 0."""
    write = command.stdout.write if options.get("verbosity", 1) > 0 else None
    return Progress(write, total, **kwargs)
