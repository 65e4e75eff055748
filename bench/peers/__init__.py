"""What teams would pick instead of Tessera, served by the bench beside it (scenario 11).

Each module is an ASGI app for uvicorn's --factory, started by the bench on 127.0.0.1
and configured from the environment; nothing in `backend` imports them. fastapi-users
comes from the optional dependency group `bench-peers` (make bench installs it).
"""
