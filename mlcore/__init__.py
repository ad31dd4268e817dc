"""Chest X-ray image I/O, input gate, classifier and Grad-CAM; never imports Django."""
