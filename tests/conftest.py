"""Project-wide pytest configuration: loads the test bed's fixtures (tests/testbed/fixtures.py)."""

import logging

pytest_plugins = ["tests.testbed.fixtures"]


def pytest_configure(config):
    """Drop Salt's temporary deferred log handler (installed on the root logger when the
    salt-factories plugin imports Salt): it would queue every log record of the session and
    write them at interpreter exit to pytest's already closed capture stream ("Logging error"
    tracebacks after the summary). pytest's own log capture is unaffected."""
    try:
        from salt._logging.handlers import DeferredStreamHandler
    except ImportError:
        return
    for handler in logging.root.handlers[:]:
        if isinstance(handler, DeferredStreamHandler):
            logging.root.removeHandler(handler)
            queued = getattr(handler, "_DeferredStreamHandler__messages", None)
            if queued is not None:
                queued.clear()  # Salt's atexit flush would still write these
            handler.close()
