"""Worker processes that leave with the process that made them."""

from __future__ import annotations

import os
import threading
import time


def leave_with(parent: int) -> None:
    """A pool worker's start: leave as soon as ``parent`` (the pid of the process that made the pool, handed
    over as the pool was made) is gone.  A parent killed outright (SIGKILL, a crash) cannot stop its pool, and
    a worker waiting for work on a pipe it holds both ends of would wait forever.  The pid comes from the parent,
    not from :func:`os.getppid` at the worker's start: a spawned worker imports for seconds, and one whose parent
    stopped meanwhile would take its new parent, init, for the one to follow."""

    def follow() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=follow, daemon=True, name="follow-parent").start()
