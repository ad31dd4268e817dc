"""The screening REST API (DRF), mounted at /api/v1/."""
