"""Deterministic train/val/test assignment by hashing a grouping key (a study, a file)."""

from __future__ import annotations

import hashlib


def split_of_key(*, key: str, salt: str, train_pct: int, val_pct: int) -> str:
    """Return "train", "val" or "test" for `key`: the same key always lands in the same split."""
    v = int(hashlib.sha256(f"{salt}|{key}".encode()).hexdigest()[:8], 16) % 100
    return "train" if v < train_pct else ("val" if v < train_pct + val_pct else "test")
