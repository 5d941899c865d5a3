"""The delivery thread: runs the Deliverer and the escalations until stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from alert_gateway.delivery import Deliverer
from alert_gateway.store import StoreUnavailable

log = logging.getLogger(__name__)

_MIN_IDLE_SECONDS = 0.1


class Worker:
    """The thread that runs the Deliverer and the escalations until stopped."""

    def __init__(
        self,
        deliverer: Deliverer,
        *,
        after_pass: Callable[[], int] | None = None,
    ) -> None:
        self.deliverer = deliverer
        self._after_pass = after_pass
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="delivery", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the Slack call in flight, then return."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        log.info("delivery worker started")
        while not self._stop.is_set():
            self._wake.clear()
            try:
                done = self.deliverer.run_once(stopping=self._stop.is_set)
                if self._after_pass is not None and not self._stop.is_set():
                    done += self._after_pass()
            except StoreUnavailable as error:
                log.error("store unavailable, pausing", extra={"error": str(error)})
                done = 0
                self._stop.wait(1.0)
            except Exception:
                # One bad group must not stop delivery of the others.
                log.exception("delivery pass failed")
                done = 0
                self._stop.wait(1.0)
            if not done:
                # New webhooks wake the worker; a short pause lets them gather
                # so that a burst costs a few passes, not one per commit.
                self._stop.wait(_MIN_IDLE_SECONDS)
                self._wake.wait(self.deliverer.next_wake())
        log.info("delivery worker stopped")
