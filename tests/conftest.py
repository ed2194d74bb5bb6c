"""Fixtures shared across test modules."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from tests._support.browser import find_chromium

# CI must not fail at random: there every property test replays the same examples (derandomized), and a
# failure prints the blob that reproduces it. At a desk the examples are random, and more of them, so new
# bugs keep being found where they can be looked at. `--hypothesis-profile` overrides either.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile("ci" if os.environ.get("CI", "").lower() == "true" else "dev")


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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A browser test starts Chromium: slow by nature, whatever it checks.
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(pytest.mark.slow)
