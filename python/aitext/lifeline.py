"""Child processes that end with their parent, even when the parent is killed with SIGKILL.

A server worker that outlived its supervisor would go on serving its old configuration on the
shared SO_REUSEPORT port beside a restarted supervisor's workers; a pool process that outlived
its worker would sit idle forever. Nothing in the parent can prevent that when it is SIGKILLed,
so the child asks the kernel (Linux PR_SET_PDEATHSIG) and, elsewhere, watches its parent id.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
WATCH_INTERVAL_SECONDS = 0.5


def end_with_parent(parent_pid: int, signum: int = signal.SIGTERM) -> None:
    """Delivers `signum` to this process when its parent, `parent_pid`, exits.

    Call it first thing in the child. If the parent is already gone (it died between starting
    this process and this call, so no signal would ever come), the signal is raised at once.
    """
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    else:
        threading.Thread(target=_watch_parent, args=(parent_pid, signum), name="parent-watch", daemon=True).start()
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signum)


def _watch_parent(parent_pid: int, signum: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCH_INTERVAL_SECONDS)
    os.kill(os.getpid(), signum)
