"""The model registry: mlcore/weights/<name>/{model.keras,card.json}.

CONTRACT: nothing here imports TensorFlow (the web process reads cards for /healthz).
- DEFAULT_MODEL_NAME: the one place the default model is named.
- weights_root() -> Path (env CXR_WEIGHTS_DIR overrides mlcore/weights).
- model_dir_resolve(*, name=None) -> Path
- model_card_read(*, name=None) -> ModelCard  (raises ModelUnavailableError)
"""

from __future__ import annotations

DEFAULT_MODEL_NAME = "cxr-v1"
