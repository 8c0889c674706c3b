"""Instance stores: in memory, or one JSON file per instance (survives a restart)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote


@runtime_checkable
class InstanceStore(Protocol):
    """Where the engine keeps instance state (JSON-ready dicts)."""

    def load(self, instance_id: str) -> dict[str, Any] | None:
        """The saved state, or None."""
        ...

    def save(self, instance_id: str, data: dict[str, Any]) -> None:
        """Replace the saved state atomically."""
        ...

    def delete(self, instance_id: str) -> bool:
        """Remove the state; True if there was one."""
        ...

    def list_ids(self) -> list[str]:
        """Ids of every saved instance."""
        ...


class InMemoryStore:
    """Keeps serialised JSON text, so nothing is shared with the engine by reference.

    Survives a discarded engine object (the crash tests reuse it), not a process exit.
    """

    def __init__(self) -> None:
        """Create an empty store."""
        self._data: dict[str, str] = {}
        self._lock = threading.Lock()

    def load(self, instance_id: str) -> dict[str, Any] | None:
        """The saved state, or None."""
        with self._lock:
            text = self._data.get(instance_id)
        return None if text is None else dict(json.loads(text))

    def save(self, instance_id: str, data: dict[str, Any]) -> None:
        """Replace the saved state."""
        text = json.dumps(data)
        with self._lock:
            self._data[instance_id] = text

    def delete(self, instance_id: str) -> bool:
        """Remove the state; True if there was one."""
        with self._lock:
            return self._data.pop(instance_id, None) is not None

    def list_ids(self) -> list[str]:
        """Ids of every saved instance."""
        with self._lock:
            return sorted(self._data)


class JsonFileStore:
    """One ``<quoted id>.json`` file per instance in ``directory``.

    Writes go to a temporary file in the same directory, are flushed (and fsynced unless
    disabled), then renamed over the old file with os.replace, so a crash leaves either
    the old or the new state, never a torn file.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        fsync: bool = True,
        journal: str | os.PathLike[str] | None = None,
    ) -> None:
        """Use (and create) ``directory``; ``fsync=False`` trades durability for speed.
        ``journal`` names a file that gets every saved state appended as one JSON line (every
        generation of every instance, for the tests that search what was ever stored)."""
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        self._journal = Path(journal) if journal is not None else None
        self._lock = threading.Lock()

    def _path(self, instance_id: str) -> Path:
        name = quote(instance_id, safe="")
        if len(name) > 150:
            # Very long ids would exceed file-name limits; a digest keeps them unique.
            name = "sha256-" + hashlib.sha256(instance_id.encode()).hexdigest()
        return self.directory / f"{name}.json"

    def load(self, instance_id: str) -> dict[str, Any] | None:
        """The saved state, or None."""
        path = self._path(instance_id)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return dict(json.loads(text))

    def save(self, instance_id: str, data: dict[str, Any]) -> None:
        """Write atomically (temp file + os.replace)."""
        path = self._path(instance_id)
        text = json.dumps(data)
        with self._lock:
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
                    handle.flush()
                    if self._fsync:
                        os.fsync(handle.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            if self._journal is not None:
                with self._journal.open("a", encoding="utf-8") as journal:
                    journal.write(text + "\n")

    def delete(self, instance_id: str) -> bool:
        """Remove the file; True if there was one."""
        with self._lock:
            try:
                self._path(instance_id).unlink()
            except FileNotFoundError:
                return False
            return True

    def list_ids(self) -> list[str]:
        """Ids read from the files themselves (file names may be digests)."""
        ids: list[str] = []
        for path in sorted(self.directory.glob("*.json")):
            if path.name.startswith(".tmp-"):
                continue  # leftover of a crash mid-write: the old file is still valid
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            instance_id = data.get("instance_id")
            if isinstance(instance_id, str):
                ids.append(instance_id)
        return ids
