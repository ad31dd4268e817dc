"""Settings by environment: base, local (default for manage.py), test, production."""
