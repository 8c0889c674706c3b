"""A local stand-in for ``func start`` (Azure Functions Core Tools) for this app.

``python -m devtools.host --port 7071`` loads ``function_app.py``, indexes its functions
through ``app.get_functions()`` (the metadata the real host receives), and serves the HTTP
functions under ``/api``, the Durable Functions RPC and management APIs, and Core Tools' local
Event Grid endpoint. Orchestrations run through :mod:`devtools.durable`. Never deployed.
"""
