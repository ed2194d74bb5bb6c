"""`python -m adinject.proxy --upstream URL --rules DIR`: the same as `adinject proxy`."""

from adinject.proxy.server import main

raise SystemExit(main())
