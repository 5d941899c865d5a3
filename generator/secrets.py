"""Rendered files refer to secrets and never hold them.

Every target's check runs its parsed files through `literal_secrets`: a value
under a key that names a secret must be a file under /run/secrets or an
environment variable reference, and no URL may carry a password.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

# Keys whose value is a secret unless it points at a file or a variable.
SECRET_KEY = re.compile(r"password|passwd|secret|token|credentials|api_?key", re.I)
REFERENCE_KEY = re.compile(r"_(file|path)$", re.I)
REFERENCE_VALUE = re.compile(r"^(/run/secrets/|\$\{[A-Za-z_][A-Za-z0-9_]*\}$)")
URL_WITH_PASSWORD = re.compile(r"://[^/\s:@]+:[^/\s@]+@")


def literal_secrets(document: Any) -> list[str]:
    """Where `document` holds a secret's value rather than a reference to one."""
    return sorted(_literal_secrets(document, ""))


def _literal_secrets(value: Any, where: str) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if isinstance(item, str) and _is_literal_secret(str(key), item):
                yield path
            else:
                yield from _literal_secrets(item, path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _literal_secrets(item, f"{where}[{index}]")
    elif isinstance(value, str) and URL_WITH_PASSWORD.search(value):
        yield where


def _is_literal_secret(key: str, value: str) -> bool:
    if URL_WITH_PASSWORD.search(value):
        return True
    if not SECRET_KEY.search(key) or REFERENCE_KEY.search(key):
        return False
    return bool(value) and not REFERENCE_VALUE.match(value)
