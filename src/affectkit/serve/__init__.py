"""``affectkit serve``: a local web page and HTTP API over :func:`affectkit.analyze`.

:func:`create_app` builds the FastAPI application (see :mod:`affectkit.serve.app` for
the API). It needs the optional ``web`` extra (``pip install 'affectkit[web]'``:
FastAPI, uvicorn, python-multipart, websockets); importing this package does not import them.
"""

from __future__ import annotations

WEB_EXTRA_HINT = ("affectkit serve needs the web extra: pip install 'affectkit[web]' "
                  "(fastapi, uvicorn, python-multipart, websockets)")


def missing_web_extra() -> str | None:
    """The one-line hint when a package of the ``web`` extra is missing, else None."""
    import importlib.util

    for name in ("fastapi", "uvicorn", "python_multipart", "websockets"):
        if importlib.util.find_spec(name) is None:
            return f"{WEB_EXTRA_HINT}; {name} is not installed"
    return None


def create_app(*args, **kwargs):
    """Build the application; see :func:`affectkit.serve.app.create_app` for the parameters.

    Raises
    ------
    ImportError
        With :data:`WEB_EXTRA_HINT` when the ``web`` extra is missing.
    """
    hint = missing_web_extra()
    if hint:
        raise ImportError(hint)
    from affectkit.serve.app import create_app as build

    return build(*args, **kwargs)
