"""pytest fixtures for the WMS simulator (registered in tests/conftest.py)."""
