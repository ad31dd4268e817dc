"""`make bench`: speed, throughput, scale and memory figures for cxrscreen (not part of tests)."""
