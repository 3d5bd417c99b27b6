"""The API's routers, one module per audience: comments, CRM, labelling, service/admin."""

from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "static"
