"""The HTTP service: ``app.create_app`` wires the routers in ``routes/`` over the shared ``deps``."""
