"""Generated images for tests, gate evaluation and benchmarks: `arrays` makes, `files` encodes."""
