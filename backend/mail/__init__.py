"""Mail: what Tessera sends (messages.py), how it looks (render.py), how it goes (smtp.py).

Use cases name a message and its recipient; the request's transaction commits, then the
message is sealed and queued (taskqueue/dispatch.py), and the worker renders and sends it.
"""
