"""Training, calibration and evaluation of the chest X-ray models (CLI: python -m training)."""
