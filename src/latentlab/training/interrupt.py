"""Stopping a training run cleanly on Ctrl-C (SIGINT) or SIGTERM (what a cluster scheduler sends
before it kills a job).

While `stop_requests()` is active, the first of these signals only raises a flag; the trainer
looks at it after each iteration, so the state it then checkpoints is that of a whole step (an
optimizer is never caught half-way), and `--resume` continues to the same numbers as a run that
was never stopped. A second Ctrl-C stops at once, without a checkpoint.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

class StopRequest:
    """The name of the signal that asked to stop ("" while none has)."""

    def __init__(self):
        self.signal = ""

    def __bool__(self) -> bool:
        return bool(self.signal)


@contextmanager
def stop_requests() -> Iterator[StopRequest]:
    """Catch SIGINT and SIGTERM into a `StopRequest` for the block (main thread only; elsewhere
    Python cannot install handlers and the signals keep their default effect)."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def on_signal(signum, frame):
        if request and signum == signal.SIGINT:  # asked twice: stop now
            raise KeyboardInterrupt
        request.signal = signal.Signals(signum).name

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
