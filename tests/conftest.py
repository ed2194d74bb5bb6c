"""Fixtures shared across test modules."""

from __future__ import annotations

import pytest

from tests.test_demo_browser import find_chromium


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium to run browser tests with; they skip where there is none."""
    found = find_chromium()
    if found is None:
        pytest.skip(
            "no Chromium found (looked for chromium, chromium-browser, google-chrome on PATH and "
            "/usr/bin/chromium); install it with `apt-get install chromium` to run the browser tests"
        )
    return found
