"""pytest plugin (entry point `pytest11`): fixtures for testing code that uses mpasync."""
