"""Run a model's classifier and lung segmenter as LiteRT flatbuffers on XNNPACK.

The Keras networks stay the model of record. `compiled_build` converts their compiled passes
(BN-folded, the temperature and the class-activation maps inside) and checks that the
flatbuffers give the Keras outputs; it runs TensorFlow's converter, which keeps about 380 MB
once used, so `compiled_ensure` runs it in a child process, once per model version, and caches
the files. A worker then runs the networks through `ai_edge_litert` without TensorFlow: at
batch 1 on 2 CPU cores the classifier ran about twice as fast (bench/NOTES.md).

    python -m mlcore.compiled --cache-dir DIR [--model NAME]  # fill a worker's cache ahead
    python -m mlcore.compiled --folder MODEL_DIR --out DIR      # what compiled_ensure runs
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from mlcore.card import CARD_FILENAME, ModelCard, card_load, card_network_files
from mlcore.classifier import ClassifierOutput
from mlcore.errors import ModelUnavailableError
from mlcore.lungs import SEGMENTER_FILENAME
from mlcore.registry import model_card_read, model_dir_resolve
from mlcore.segmenter import LungBoxFinder

COMPILED_FORMAT = "2"
CLASSIFIER_FILE = "classifier.tflite"
SEGMENTER_FILE = "lungs.tflite"
# Largest difference between the Keras pass and the flatbuffer accepted at build time.
AGREEMENT_ATOL = 1e-3
BUILD_TIMEOUT_S = 900
_OUTPUT_NAME = re.compile(r"^Identity(?:_(\d+))?$")


def compiled_key(*, folder: Path, card: ModelCard) -> str:
    """Name what a build depends on: the network files, the card's pass settings, the tools."""
    digest = hashlib.sha256()
    tools = [_version(package) for package in ("tensorflow-cpu", "keras", "ai-edge-litert")]
    settings = {"t": card.temperature, "views": card.view_shift, "tools": tools}
    digest.update(f"{COMPILED_FORMAT}|{json.dumps(settings, sort_keys=True)}".encode())
    files = [*card_network_files(card=card), SEGMENTER_FILENAME]
    for name in files:
        path = folder / name
        if path.is_file():
            digest.update(name.encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:24]


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def compiled_ensure(*, folder: Path, card: ModelCard, cache_dir: Path) -> Path:
    """Return the folder of this model's flatbuffers, building them in a child process first
    when the cache lacks them; raise ModelUnavailableError when the build fails."""
    out = cache_dir / f"{card.name}-{card.version}-{compiled_key(folder=folder, card=card)}"
    if (out / CLASSIFIER_FILE).is_file():
        return out
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        # Worker children start together: one builds, the others wait and read its files.
        with open(cache_dir / f".{out.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (out / CLASSIFIER_FILE).is_file():
                _build_in_child(folder=folder, card=card, out=out)
    except OSError as exc:
        raise ModelUnavailableError(f"compiled networks cache {cache_dir}: {exc}") from exc
    return out


def _build_in_child(*, folder: Path, card: ModelCard, out: Path) -> None:
    command = [sys.executable, "-m", "mlcore.compiled"]
    command += ["--folder", str(folder.resolve()), "--out", str(out.resolve())]
    root = str(Path(__file__).resolve().parents[1])  # where `mlcore` is importable from
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, env=env
        )
    except subprocess.TimeoutExpired as exc:
        raise ModelUnavailableError(f"compiling {card.name!r} took over {exc.timeout} s") from exc
    if proc.returncode != 0 or not (out / CLASSIFIER_FILE).is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ModelUnavailableError(f"compiling {card.name!r} failed: {' | '.join(tail)}")


def compiled_build(*, folder: Path, out: Path) -> None:
    """Convert the folder's networks into `out` and check them (runs TensorFlow)."""
    from mlcore.parts import keras_networks_load

    parts = keras_networks_load(folder=folder, card=card_load(path=folder / CARD_FILENAME))
    networks = [(CLASSIFIER_FILE, parts["classifier"])]
    if parts["segmenter"] is not None:
        networks.append((SEGMENTER_FILE, parts["segmenter"]))
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        for filename, network in networks:
            flatbuffer = flatbuffer_convert(forward=network.forward)
            (staging / filename).write_bytes(flatbuffer)
            agreement_check(forward=network.forward, lite=LiteNetwork(path=staging / filename))
        # Another process may have built the same key meanwhile: its files are as good.
        if not out.exists():
            staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def flatbuffer_convert(*, forward: Any) -> bytes:
    """Return the LiteRT flatbuffer of a fixed-signature `tf.function`."""
    import tensorflow as tf

    concrete = forward.get_concrete_function()
    return tf.lite.TFLiteConverter.from_concrete_functions([concrete], forward).convert()


def agreement_check(*, forward: Any, lite: LiteNetwork) -> None:
    """Raise ValueError unless `lite` gives `forward`'s outputs on two random inputs."""
    size = lite.input_size
    x = np.random.default_rng(0).uniform(-1, 1, (2, size, size, 1)).astype(np.float32)
    expected = forward(x)
    expected = expected if isinstance(expected, tuple | list) else (expected,)
    got = lite.run(x=x)
    for k, (a, b) in enumerate(zip(expected, got, strict=True)):
        gap = float(np.max(np.abs(np.asarray(a) - b)))
        if not gap <= AGREEMENT_ATOL:
            raise ValueError(f"compiled output {k} differs from the Keras pass by {gap:.2e}")


class LiteNetwork:
    """One flatbuffer in a LiteRT interpreter; outputs in the converted function's order."""

    def __init__(self, *, path: Path, threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        threads = threads or len(os.sched_getaffinity(0))
        self._interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self._input = self._interpreter.get_input_details()[0]
        self.input_size = int(self._input["shape_signature"][1])
        details = self._interpreter.get_output_details()
        order = [_OUTPUT_NAME.match(d["name"]) for d in details]
        if not all(order):
            raise ModelUnavailableError(f"{path.name}: unexpected output names")
        rank = {int(m.group(1) or 0): d["index"] for m, d in zip(order, details, strict=True)}
        self._outputs = [rank[k] for k in sorted(rank)]
        self._batch = 0

    def run(self, *, x: np.ndarray) -> list[np.ndarray]:
        """Run a (B, S, S, 1) float32 batch; return each output as its own array."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.shape[0] != self._batch:
            self._interpreter.resize_tensor_input(self._input["index"], list(x.shape))
            self._interpreter.allocate_tensors()
            self._batch = x.shape[0]
        self._interpreter.set_tensor(self._input["index"], x)
        self._interpreter.invoke()
        return [self._interpreter.get_tensor(i).copy() for i in self._outputs]


def _batch4(batch: np.ndarray) -> np.ndarray:
    x = np.asarray(batch, dtype=np.float32)
    return x[..., None] if x.ndim == 3 else x


class LiteClassifier:
    """The Classifier's pass as a flatbuffer: the same `run` and outputs."""

    def __init__(self, *, path: Path, threads: int | None = None) -> None:
        self._network = LiteNetwork(path=path, threads=threads)
        self.input_size = self._network.input_size

    def run(self, *, batch: np.ndarray) -> ClassifierOutput:
        """Run a (B, S, S) or (B, S, S, 1) float32 batch."""
        return ClassifierOutput(*self._network.run(x=_batch4(batch)))


class LiteSegmenter(LungBoxFinder):
    """The lung segmenter's pass as a flatbuffer: the same `run` and `box_of`."""

    def __init__(self, *, path: Path, threads: int | None = None) -> None:
        self._network = LiteNetwork(path=path, threads=threads)
        self.input_size = self._network.input_size

    def run(self, *, batch: np.ndarray) -> np.ndarray:
        """(B, S, S) probabilities for a (B, S, S) float32 batch of prepared inputs."""
        return self._network.run(x=_batch4(batch))[0]


def compiled_networks_load(*, folder: Path, card: ModelCard, cache_dir: Path) -> dict[str, Any]:
    """Return the Screener's `classifier` and `segmenter` run from cached flatbuffers."""
    built = compiled_ensure(folder=folder, card=card, cache_dir=cache_dir)
    segmenter = built / SEGMENTER_FILE
    try:
        return {
            "classifier": LiteClassifier(path=built / CLASSIFIER_FILE),
            # Beside the classifier's pass (mlcore.overlap): one thread keeps it off its cores.
            "segmenter": LiteSegmenter(path=segmenter, threads=1) if segmenter.is_file() else None,
        }
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelUnavailableError(f"compiled {card.name!r} is unreadable: {exc}") from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlcore.compiled", description=__doc__)
    parser.add_argument("--folder", type=Path, help="a model folder (card.json) to build")
    parser.add_argument("--out", type=Path, help="where --folder's flatbuffers go")
    parser.add_argument("--cache-dir", type=Path, help="fill this cache, as a worker would")
    parser.add_argument("--model", default=None, help="with --cache-dir (default: the default)")
    args = parser.parse_args(argv)
    if (args.cache_dir is None) == (args.folder is None or args.out is None):
        parser.error("give --folder and --out, or --cache-dir")
    try:
        if args.cache_dir is not None:
            folder = model_dir_resolve(name=args.model, weights_dir=None)
            card = model_card_read(name=args.model, weights_dir=None)
            print(compiled_ensure(folder=folder, card=card, cache_dir=args.cache_dir))
        else:
            compiled_build(folder=args.folder, out=args.out)
    except (ModelUnavailableError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
