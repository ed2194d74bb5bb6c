"""`adinject proxy`: a reverse proxy that applies the rules in front of any origin (see README, "In front of
any site"). Light to import: aiohttp and uvicorn (the `proxy` extra) are imported only when it runs."""
