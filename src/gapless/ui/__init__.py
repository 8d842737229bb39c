"""The monitoring dashboard of the REST server, under ``/ui``: pages, JSON routes and
static files, reading only through a Workspace. Mounted by ``create_app``."""

from gapless.ui.routes import mount_dashboard

__all__ = ["mount_dashboard"]
