"""URLs and hosts: the one base-URL normaliser and the one loopback test (stdlib only)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit, urlunsplit

#: schemes the live probe speaks
SCHEMES = ("http", "https")


def normalize_base_url(url: str) -> tuple[str, str | None]:
    """(base URL without a trailing /v1 or slash, note). OpenAI clients' base_url ends in /v1: a probe
    of `<that>/v1/embeddings` would hit /v1/v1/embeddings, so the suffix is dropped (and said)."""
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    note = None
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
        note = f"the URL ends in /v1 (an OpenAI client base_url); probing the server root {urlunsplit((parts.scheme, parts.netloc, path, '', ''))} instead"
    return urlunsplit((parts.scheme, parts.netloc, path, "", "")), note


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    h = host.strip("[]").lower()
    if h in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(h.split("%")[0]).is_loopback
    except ValueError:
        return False
