"""Serve the demo: `python -m examples.newsroom`.

ADINJECT_DEMO_HOST and ADINJECT_DEMO_PORT override the address (127.0.0.1:8000).
"""

from __future__ import annotations

import os

import uvicorn

from examples.newsroom.app import create_app
from examples.newsroom.content import SEED_SLUG

SEED_PATH = f"/world/{SEED_SLUG}"


def main() -> None:
    host = os.environ.get("ADINJECT_DEMO_HOST", "127.0.0.1")
    port = int(os.environ.get("ADINJECT_DEMO_PORT", "8000"))
    print(f"adinject demo newsroom: http://{host}:{port}/ (the seed article: {SEED_PATH})")
    uvicorn.run(create_app(), host=host, port=port)


if __name__ == "__main__":
    main()
