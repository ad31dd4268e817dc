"""`python -m tests.support.held_worker ARGS`: `celery ARGS`, but the first screening waits.

The wait comes after the prediction is marked running, so a test can kill the worker
mid-prediction. A marker file (CXR_TEST_HOLD_MARKER) makes only the first screening of the
run wait, whichever pool child or worker runs it; CXR_TEST_HOLD_S says how long.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any


class HeldScreener:
    """Wrap a Screener: the first screening call of the run sleeps before screening."""

    def __init__(self, screener: Any, *, marker: Path, seconds: float) -> None:
        self._screener, self._marker, self._seconds = screener, marker, seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._screener, name)

    def screen(self, **kwargs: Any) -> Any:
        self._hold()
        return self._screener.screen(**kwargs)

    def screen_many(self, **kwargs: Any) -> Any:
        self._hold()
        return self._screener.screen_many(**kwargs)

    def _hold(self) -> None:
        try:
            self._marker.open("x").close()
        except FileExistsError:
            pass  # not the first screening of this run
        else:
            time.sleep(self._seconds)


def hold_install(*, marker: Path, seconds: float) -> None:
    """Make screening.inference hand out HeldScreeners."""
    from screening import inference

    real = inference.screener_get

    def held_get(**kwargs: Any) -> Any:
        return HeldScreener(real(**kwargs), marker=marker, seconds=seconds)

    inference.screener_get = held_get


def main() -> None:
    hold_install(
        marker=Path(os.environ["CXR_TEST_HOLD_MARKER"]),
        seconds=float(os.environ["CXR_TEST_HOLD_S"]),
    )
    from celery.__main__ import main as celery_main

    sys.argv[0] = "celery"
    celery_main()


if __name__ == "__main__":
    main()
