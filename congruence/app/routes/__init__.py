"""The routes of the web application, one router per audience (see :mod:`congruence.app.web`)."""

from congruence.app.routes import admin, pages, rater, session

ROUTERS = (session.router, pages.router, rater.router, admin.router)

__all__ = ["ROUTERS"]
