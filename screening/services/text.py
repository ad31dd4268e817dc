"""Clean user-supplied text before it is stored or shown."""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def text_clean(*, text: str) -> str:
    """Drop control and format characters (log/terminal injection, bidi tricks) and trim."""
    text = unicodedata.normalize("NFC", str(text))
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf"))
    return _CONTROL_RE.sub("", text).strip()


def filename_sanitise(*, name: str) -> str:
    """Return the base name of a client file name, safe to show and to store as text."""
    base = PurePosixPath(str(name or "").replace("\\", "/")).name
    base = text_clean(text=base)
    if base in ("", ".", ".."):
        return "upload"
    if len(base) > 200:  # keep the extension, which is what people recognise
        stem, dot, ext = base.rpartition(".")
        base = f"{stem[: 190 - len(ext)]}...{dot}{ext}" if dot and len(ext) <= 10 else base[:200]
    return base
