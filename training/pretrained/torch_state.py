"""Read a PyTorch state dict (legacy or zip format) into numpy arrays, without torch.

Only tensors of plain dtypes in an (Ordered)dict are understood; anything else in the pickle
is refused, so a checkpoint cannot run code on load.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


@dataclass(frozen=True)
class _Storage:
    key: str
    dtype: Any


@dataclass(frozen=True)
class _TensorRef:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _tensor_rebuild(storage, offset, shape, stride, *_args) -> _TensorRef:
    return _TensorRef(storage, int(offset), tuple(shape), tuple(stride))


class _StateUnpickler(pickle.Unpickler):
    """Unpickle a state dict, resolving only the handful of names a tensor needs."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _tensor_rebuild
        if module == "torch" and name in STORAGE_DTYPES:
            return name
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a checkpoint")

    def persistent_load(self, pid: Any) -> _Storage:
        kind, storage_type, key = pid[0], pid[1], pid[2]
        if kind != "storage" or storage_type not in STORAGE_DTYPES:
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        return _Storage(str(key), STORAGE_DTYPES[storage_type])


def _tensor_materialise(*, ref: _TensorRef, buffers: dict[str, bytes]) -> np.ndarray:
    flat = np.frombuffer(buffers[ref.storage.key], dtype=ref.storage.dtype)
    itemsize = flat.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        flat[ref.offset :],
        shape=ref.shape,
        strides=tuple(s * itemsize for s in ref.stride),
        writeable=False,
    )
    return np.array(view)


def _legacy_read(*, fh: io.BufferedIOBase) -> tuple[dict, dict[str, bytes]]:
    if pickle.load(fh) != LEGACY_MAGIC:  # noqa: S301 - only ints, checked
        raise ValueError("not a PyTorch checkpoint (bad magic number)")
    pickle.load(fh)  # noqa: S301 - protocol version
    pickle.load(fh)  # noqa: S301 - system info
    state = _StateUnpickler(fh).load()
    keys = pickle.load(fh)  # noqa: S301 - a list of storage keys
    storages = _storages_of(state=state)
    buffers = {}
    for key in keys:
        (count,) = struct.unpack("<q", fh.read(8))
        buffers[key] = fh.read(count * np.dtype(storages[key]).itemsize)
    return state, buffers


def _zip_read(*, path: Path) -> tuple[dict, dict[str, bytes]]:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        prefix = names[0].split("/", 1)[0]
        state = _StateUnpickler(io.BytesIO(archive.read(f"{prefix}/data.pkl"))).load()
        buffers = {k: archive.read(f"{prefix}/data/{k}") for k in _storages_of(state=state)}
    return state, buffers


def _storages_of(*, state: dict) -> dict[str, Any]:
    return {v.storage.key: v.storage.dtype for v in state.values() if isinstance(v, _TensorRef)}


def state_dict_read(*, path: Path) -> dict[str, np.ndarray]:
    """Return {name: array} of a PyTorch `state_dict` file; ValueError if it is not one."""
    if zipfile.is_zipfile(path):
        state, buffers = _zip_read(path=path)
    else:
        with open(path, "rb") as fh:
            state, buffers = _legacy_read(fh=fh)
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state dict")
    return {
        name: _tensor_materialise(ref=ref, buffers=buffers)
        for name, ref in state.items()
        if isinstance(ref, _TensorRef)
    }
