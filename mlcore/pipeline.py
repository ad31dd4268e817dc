"""Gate + classify + Grad-CAM for one image: what the Celery worker and CLI call.

CONTRACT (the screening app relies on it):

    screener = Screener.load(name=None)          # loads TF + model once; raises ModelUnavailableError
    result = screener.screen(data=b"...", filename="x.dcm")   # raises mlcore.errors.ImageError
    result.accepted: bool
    result.reason: str | None            # gate's reason when refused, e.g. "lateral view"
    result.label: str | None             # "covid" | "pneumonia" | "normal" when accepted
    result.probabilities: dict[str, float] | None   # calibrated, keys covid/pneumonia/normal
    result.heatmap: np.ndarray | None    # Grad-CAM (h, w) in [0, 1]
    result.overlay_png: bytes | None     # heatmap over the radiograph, PNG
    result.model_name / result.model_version: str
    result.timings_ms: dict[str, float]  # decode, gate, preprocess, classify, gradcam, overlay
"""
