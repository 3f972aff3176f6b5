"""Known failures, marked here in one place so that CI stays meaningful while they are fixed.

Each entry is a test node id prefix and the reason, found in this session's CI run; `strict=False` keeps the
tests running and reports them as XPASS once fixed (then remove the entry). Listed in the issue notes too.
"""
import pytest

KNOWN_FAILURES = {
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        for prefix, reason in KNOWN_FAILURES.items():
            if item.nodeid.startswith(prefix):
                item.add_marker(pytest.mark.xfail(reason=reason, strict=False))
