"""Project-wide pytest configuration: loads the test bed's fixtures (tests/testbed/fixtures.py)."""

pytest_plugins = ["tests.testbed.fixtures"]
