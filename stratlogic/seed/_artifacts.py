"""What finished jobs leave behind: artifacts like real scraping output, with their metadata and objects.

Each finished job stores one to a few files (an HTML snapshot, extracted items as JSON, a CSV export, a
PNG screenshot, a PDF) with metadata keys: ``http_status`` for what was fetched, ``crawl_depth`` for what a
crawl found, ``language`` and ``page_title`` for pages and documents. With objects, each file is a small
but valid document of its type, so its size and sha256 are the real ones; without (``--no-objects``, for
volume), sizes follow the spread of real output and the sha256 is that of a placeholder.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from typing import Any, NamedTuple

import orjson

from stratlogic.seed._random import Draw

#: (content type, extension, median size in bytes, spread (sigma of the log)).
TYPES = {
    "html": ("text/html", "html", 85_000, 0.8),
    "json": ("application/json", "json", 12_000, 1.2),
    "csv": ("text/csv", "csv", 40_000, 1.3),
    "pdf": ("application/pdf", "pdf", 350_000, 1.0),
    "png": ("image/png", "png", 600_000, 0.6),
}
#: What each kind of job stores: (type, probability, how many of it at most).
OUTPUTS = {
    "scrape": (("html", 1.0, 1), ("json", 0.3, 1), ("csv", 0.05, 1)),
    "crawl": (("html", 1.0, 2), ("json", 0.3, 1), ("csv", 0.1, 1)),
    "sitemap": (("csv", 1.0, 1), ("json", 0.15, 1)),
    "api": (("json", 1.0, 1), ("csv", 0.15, 1)),
    "screenshot": (("png", 1.0, 1), ("pdf", 0.15, 1)),
}
_MAX_SIZE = 100 * 1024 * 1024  # artifacts.max_size_bytes' default
_STEMS = {"html": "page", "json": "items", "csv": "export", "pdf": "document", "png": "screenshot"}


class Page(NamedTuple):
    """The page a job fetched: what its outputs' metadata and bodies describe."""

    url: str
    language: str
    title: str
    depth: int


class ArtifactSpec(NamedTuple):
    """One stored file of a job, before it has an id. ``body`` is None without objects.

    ``token`` makes its object key unique, as the artifact service's uuid does (but reproducibly).
    """

    when: int
    job_id: int
    token: str
    filename: str
    content_type: str
    size: int
    sha256: str
    metadata: dict[str, Any]
    body: bytes | None


def outputs(rng: Draw, kind: str) -> list[tuple[str, int]]:
    """The files a finished job of ``kind`` stores: (type, number of this type), e.g. [("html", 2)]."""
    chosen = []
    for name, chance, most in OUTPUTS[kind]:
        if rng.random() < chance:
            chosen.append((name, 1 if most == 1 else 1 + int(rng.random() ** 2 * most)))
    return chosen


def artifact(rng: Draw, job_id: int, when: int, kind: str, number: int, page: Page, objects: bool,
             crawled: bool) -> ArtifactSpec:
    """One file of type ``kind`` (``html``…), the ``number``-th of its type in the job (``crawled``: by a crawl)."""
    content_type, ext, median, spread = TYPES[kind]
    filename = f"{_STEMS[kind]}.{ext}" if number == 1 else f"{_STEMS[kind]}-{number}.{ext}"
    metadata: dict[str, Any] = {}
    if kind != "pdf":  # a PDF is rendered from the page, not fetched
        metadata["http_status"] = 200 if rng.random() < 0.97 else rng.pick((203, 206))
    if crawled:
        metadata["crawl_depth"] = page.depth + number - 1
    if kind in ("html", "pdf"):
        metadata["language"] = page.language
        metadata["page_title"] = page.title
    token = rng.token()
    if objects:
        body = BODIES[kind](rng, page)
        return ArtifactSpec(when, job_id, token, filename, content_type, len(body), hashlib.sha256(body).hexdigest(),
                            metadata, body)
    size = min(_MAX_SIZE, max(200, int(rng.lognormal(median, spread))))
    placeholder = hashlib.sha256(f"{token}/{size}".encode()).hexdigest()
    return ArtifactSpec(when, job_id, token, filename, content_type, size, placeholder, metadata, None)


def _html(rng: Draw, page: Page) -> bytes:
    items = "".join(f"<li><a href=\"{page.url}?p={i}\">{page.title} {i}</a></li>" for i in range(rng.randint(3, 30)))
    return (f'<!doctype html><html lang="{page.language}"><head><meta charset="utf-8"><title>{page.title}</title>'
            f"</head><body><h1>{page.title}</h1><ul>{items}</ul></body></html>\n").encode()


def _json(rng: Draw, page: Page) -> bytes:
    items = [{"title": f"{page.title} {i}", "url": f"{page.url}?p={i}", "price": rng.randint(199, 99_999) / 100}
             for i in range(rng.randint(1, 40))]
    return orjson.dumps({"source": page.url, "items": items}) + b"\n"


def _csv(rng: Draw, page: Page) -> bytes:
    rows = "".join(f"{i},{page.url}?p={i},{rng.randint(199, 99_999) / 100}\r\n" for i in range(rng.randint(5, 80)))
    return f"position,url,price\r\n{rows}".encode()


def _pdf(rng: Draw, page: Page) -> bytes:
    """A one-page PDF 1.4 saying which page it captured (the cross-reference offsets are exact)."""
    text = f"{page.url} captured; {rng.randint(1, 60)} items".replace("(", "[").replace(")", "]")
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1", "replace")
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> "
               b"/Contents 4 0 R >>",
               b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _png(rng: Draw, page: Page) -> bytes:
    """A small RGB PNG (a gradient in a colour of its own)."""
    width, height = 48, 30
    red, green = rng.randrange(256), rng.randrange(256)
    lines = (b"\x00" + b"".join(bytes((red, green, (x * 5 + y * 3) % 256)) for x in range(width))
             for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"".join(lines)))
            + _chunk(b"IEND", b""))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


BODIES = {"html": _html, "json": _json, "csv": _csv, "pdf": _pdf, "png": _png}

__all__ = ["OUTPUTS", "TYPES", "ArtifactSpec", "Page", "artifact", "outputs"]
