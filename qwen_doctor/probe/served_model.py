"""Where a running server says its model is: so ``check --url`` can run the model and tokenizer checks on it.

Asked once, before the run, when only a URL is given: SGLang ``/model_info`` / ``/get_model_info`` (``model_path``),
vLLM ``/v1/models`` (``root``: the path or repo id it loaded), TEI ``/info`` (``model_id``). The answer is used only
when it names a directory readable on this host (the server runs here, or shares the model volume). Bounded: short
timeouts, a small body cap, the run's API key, no redirects followed to another origin.
"""

from __future__ import annotations

import os
from typing import Any

#: (route, JSON key) in the order asked; the first answer naming a readable directory wins
ROUTES = (
    ("/model_info", "model_path"),  # SGLang >= 0.5.6
    ("/get_model_info", "model_path"),  # SGLang
    ("/v1/models", "root"),  # vLLM (and SGLang, where root is the served name)
    ("/info", "model_id"),  # TEI
)


def _value(body: Any, key: str) -> str | None:
    if key == "root" and isinstance(body, dict):
        data = body.get("data")
        if isinstance(data, list) and data and isinstance(data[0], dict):
            v = data[0].get("root")
            return v if isinstance(v, str) else None
        return None
    v = body.get(key) if isinstance(body, dict) else None
    return v if isinstance(v, str) else None


def served_model_path(url: str, *, api_key: str | None = None, timeout: float = 3.0) -> tuple[str, str] | None:
    """(a local model directory the server at ``url`` reports, which route said so), or None."""
    from .http import ProbeClient

    try:
        client = ProbeClient(url, api_key=api_key, connect_timeout=min(2.0, timeout), read_timeout=timeout, max_body=1 << 20, max_connections=1)
    except Exception:  # noqa: BLE001 - a URL the client cannot use: the probe checks will say why
        return None
    try:
        for route, key in ROUTES:
            r = client.get(route)
            if not r.answered:
                if r.status is None:
                    return None  # nothing answers: do not wait for the other routes
                continue
            if r.status != 200:
                continue
            path = _value(r.json(), key)
            if path and len(path) < 4096 and "\x00" not in path and os.path.isdir(path):
                return path, f"{route} {key}"
        return None
    finally:
        try:
            client.close()
        except Exception:  # noqa: BLE001
            pass
