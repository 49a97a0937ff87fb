"""How every /api/ URL is bound to its view (``api_view(...)`` in the URL confs).

- CSRF-exempt: the API authenticates with bearer tokens only and never reads the
  session cookie, so Django's CSRF check protects nothing there; it would only
  answer its HTML 403 to every cookieless POST (the plain views' case; DRF's
  views are exempt already).
- The method first: a method the URL does not serve answers 405 in the error
  shape with ``Allow``, before authentication. DRF authenticates first, so an
  anonymous PUT would get 401, which says nothing true about the URL.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from migrations_app.api.errors import method_not_allowed

View = Callable[..., HttpResponseBase]

# Django's order, which DRF's own Allow header follows.
_METHOD_ORDER = ("get", "post", "put", "patch", "delete", "head", "options", "trace")


def allowed_methods(view: View, methods: Iterable[str] | None = None) -> list[str]:
    """The methods a view serves: ``methods`` for a plain view, the handlers of a
    class-based one (HEAD wherever GET is, as Django's View.setup arranges)."""
    if methods is not None:
        names = {m.lower() for m in methods}
    else:
        view_class: Any = getattr(view, "view_class", None) or getattr(view, "cls", None)
        if view_class is None:
            raise TypeError(f"{view!r} is not a class-based view: pass its methods")
        names = {m for m in view_class.http_method_names if hasattr(view_class, m)}
        if "get" in names:
            names.add("head")
    return [m.upper() for m in _METHOD_ORDER if m in names]


def api_view(view: View, methods: Iterable[str] | None = None) -> View:
    """``view`` behind the method check, CSRF-exempt. Attributes are kept (wraps
    copies ``__dict__``), so drf-spectacular still finds the DRF view class."""
    allowed = allowed_methods(view, methods)

    @functools.wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method not in allowed:
            return method_not_allowed(request, allowed)
        return view(request, *args, **kwargs)

    return csrf_exempt(checked)
