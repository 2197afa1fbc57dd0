"""Which endpoint URLs a subscription may name.

Checked once, when a subscription is created (API request models and the store), so
the dispatcher only ever POSTs to absolute http(s) URLs of a sane length.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048


def validate_url(url: str) -> str:
    """The URL if it is an absolute http(s) URL with a host; ``ValueError`` otherwise."""
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"URL longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise ValueError("URL must not contain whitespace or control characters")
    try:
        url.encode()
    except UnicodeEncodeError:
        raise ValueError("URL is not valid Unicode") from None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("only http and https URLs are accepted")
    if not parts.hostname:
        raise ValueError("URL needs a host")
    _ = parts.port  # raises ValueError on a malformed or out-of-range port
    return url
