"""Whether the Rust extension released the GIL during a call, observed without timing anything."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable


def other_thread_ran_during(call: Callable[[], object], attempts: int) -> bool:
    """Whether a Python thread ran while `call` was inside the extension.

    With a switch interval of an hour the interpreter never takes the GIL from the main
    thread; the other thread can only run when the main thread gives the GIL up: while it
    waits, or while the extension has released it.
    """
    ticks = 0
    started = threading.Event()
    stop = False

    def spin() -> None:
        nonlocal ticks
        started.set()
        while not stop:
            ticks += 1
            time.sleep(0)  # hands the GIL back as soon as the main thread wants it

    interval = sys.getswitchinterval()
    sys.setswitchinterval(3600)
    worker = threading.Thread(target=spin)
    worker.start()
    try:
        started.wait()
        for _ in range(attempts):
            before = ticks
            call()
            if ticks != before:
                return True
        return False
    finally:
        stop = True
        sys.setswitchinterval(interval)
        worker.join()
