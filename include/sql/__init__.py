"""The warehouse's SQL files, installed as the package ``agent_warehouse.sql``.

``pyproject.toml`` maps this folder into the package (``[tool.setuptools] package-dir``), so
the wheel carries the files as package data and an editable install finds them here; code
reads them through ``agent_warehouse.SQL_DIR`` (``importlib.resources``).
"""
