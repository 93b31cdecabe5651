"""The request journal: what the backend received, so tests can assert what a gateway forwarded."""
from __future__ import annotations

import json
import threading
import time


class Journal:
    """Thread-safe, in-memory list of request records, optionally mirrored to a JSON-lines file."""

    def __init__(self, path: str | None = None) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict] = []
        self._path = path

    def append(self, entry: dict) -> None:
        entry = {"time": time.time(), **entry}
        line = json.dumps(entry, sort_keys=True)
        with self._lock:
            self._entries.append(entry)
            if self._path:
                with open(self._path, "a", encoding="utf-8") as handle:
                    handle.write(line + "\n")

    def entries(self) -> list[dict]:
        with self._lock:
            return list(self._entries)

    def reset(self) -> int:
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            return count
