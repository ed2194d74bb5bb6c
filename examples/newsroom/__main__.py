"""Serve the demo: `python -m examples.newsroom`.

ADINJECT_DEMO_HOST and ADINJECT_DEMO_PORT override the address (127.0.0.1:8000). ADINJECT_DEBUG_TOKEN sets
the middleware's debug token (default `demo`): `?adinject=debug` with that token shows the annotated page.
"""

from __future__ import annotations

import os
from pathlib import Path

import uvicorn

from examples.newsroom.app import create_app
from examples.newsroom.content import SEED_SLUG

SEED_PATH = f"/world/{SEED_SLUG}"
# Time and level on every line, adinject's INFO lines (rules loaded and reloaded) included: the library
# attaches no handler of its own, so what shows is the host's choice (`uvicorn --log-config` takes it too).
LOG_CONFIG = Path(__file__).resolve().parents[1] / "logging.json"


def main() -> None:
    host = os.environ.get("ADINJECT_DEMO_HOST", "127.0.0.1")
    port = int(os.environ.get("ADINJECT_DEMO_PORT", "8000"))
    # A short, known token on purpose: the demo runs on 127.0.0.1 with made-up articles, and the token is
    # printed below for the reader to paste. The middleware logs that it is weak; a real site sets a long
    # random one (ADINJECT_DEBUG_TOKEN here).
    token = os.environ.get("ADINJECT_DEBUG_TOKEN", "demo")
    print(f"adinject demo newsroom: http://{host}:{port}/ (the seed article: {SEED_PATH})")
    print(
        f"  debug view: {SEED_PATH}?adinject=debug, after setting the cookie in the browser's console:\n"
        f'              document.cookie = "adinject_debug={token}; path=/"\n'
        f"  metrics:    http://{host}:{port}/metrics\n"
        "  rules:      rules/ is watched: save a change and the next page shows it; touch rules/OFF to switch"
        " every unit off"
    )
    uvicorn.run(create_app(debug_token=token), host=host, port=port, log_config=str(LOG_CONFIG))


if __name__ == "__main__":
    main()
