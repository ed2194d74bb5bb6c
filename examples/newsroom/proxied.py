"""`make demo-proxy`: the demo site as static files behind `adinject proxy` with the shipped rules.

The origin is the standard library's `http.server` over the pre-rendered pages (examples/newsroom/
static_site.py), on ADINJECT_DEMO_ORIGIN_PORT (8080); the proxy listens on ADINJECT_DEMO_PORT (8000). The
seed article comes out with the same units as through the Python app and the middleware (`make demo`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from examples.newsroom.app import RULES_DIR
from examples.newsroom.content import SEED_SLUG
from examples.newsroom.static_site import origin_server, render


def main() -> int:
    host = os.environ.get("ADINJECT_DEMO_HOST", "127.0.0.1")
    port = int(os.environ.get("ADINJECT_DEMO_PORT", "8000"))
    origin_port = int(os.environ.get("ADINJECT_DEMO_ORIGIN_PORT", "8080"))
    with tempfile.TemporaryDirectory(prefix="adinject-demo-site-") as tmp:
        root = Path(tmp)
        pages = render(root)
        origin = origin_server(root, "127.0.0.1", origin_port)
        threading.Thread(target=origin.serve_forever, daemon=True).start()
        print(
            f"origin: python http.server over {len(pages)} pre-rendered pages on http://127.0.0.1:{origin_port}/"
        )
        print(f"the seed article through the proxy: http://{host}:{port}/world/{SEED_SLUG}")
        command = [
            sys.executable,
            "-m",
            "adinject.proxy",
            "--upstream",
            f"http://127.0.0.1:{origin_port}",
            "--rules",
            str(RULES_DIR),
            "--host",
            host,
            "--port",
            str(port),
            "--metrics-path",
            "/-/metrics",
        ]
        proxy = subprocess.Popen(command)
        try:
            return proxy.wait()
        except KeyboardInterrupt:
            return 0
        finally:
            if proxy.poll() is None:
                proxy.terminate()
                proxy.wait(timeout=10)
            origin.shutdown()


if __name__ == "__main__":
    raise SystemExit(main())
