"""The static files, loaded once at startup: gzipped, under a content-hashed path, and the
scan page's scripts joined into one inline script (no module waterfall on a slow phone).

``/static/v/<version>/<path>`` is immutable: ``<version>`` is a hash of every static file,
so a deploy that changes any of them changes every such URL. ``/static/<path>`` stays for
what cannot carry a version (icons named in scripts, tests, old pages); it revalidates.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import mimetypes
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
COMPRESSIBLE = {".js", ".css", ".svg", ".json", ".webmanifest", ".html", ".txt", ".map"}
MEDIA_TYPES = {".js": "text/javascript", ".webmanifest": "application/manifest+json"}
MIN_GZIP_BYTES = 256  # below this a gzip header costs more than it saves

# The forms of import and export the bundler understands; any other form is refused at
# startup (a module edited into a form it would get wrong must not ship silently).
IMPORT_RE = re.compile(r'^import\s*\{([^}]*)\}\s*from\s*"\./([\w.-]+\.js)";[ \t]*$', re.M)
EXPORT_RE = re.compile(
    r"^export\s+(?:async\s+)?(?:function\*?|class|const|let|var)\s+([\w$]+)", re.M
)
UNSUPPORTED_RE = re.compile(r"^(?:export\s+(?:default|\{|\*)|import\s*[^{\s(])|import\.meta", re.M)


@dataclass(frozen=True)
class Asset:
    """One file: its bytes, gzipped bytes (None when not worth it) and media type."""

    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str


def _asset(path: Path) -> Asset:
    body = path.read_bytes()
    media = MEDIA_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
    packed = None
    if path.suffix in COMPRESSIBLE and len(body) >= MIN_GZIP_BYTES:
        packed = gzip.compress(body, 9, mtime=0)
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
    return Asset(body, packed, media or "application/octet-stream", etag)


def accepts_gzip(request: Request) -> bool:
    """Whether the client takes a gzip-encoded answer."""
    return "gzip" in request.headers.get("accept-encoding", "").lower()


def encoded(request: Request, body: bytes, packed: bytes | None, headers: dict[str, str]) -> tuple:
    """The body to send for ``request`` and its headers: gzipped when the client takes it."""
    headers = {**headers, "Vary": ", ".join(filter(None, [headers.get("Vary"), "Accept-Encoding"]))}
    if packed is not None and accepts_gzip(request):
        return packed, {**headers, "Content-Encoding": "gzip"}
    return body, headers


GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def _deflate_piece(data: bytes, level: int) -> bytes:
    """``data`` as deflate blocks that stand alone: no back-reference outside, byte-aligned."""
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(zlib.Z_FULL_FLUSH)


@dataclass(frozen=True)
class Piece:
    """A constant part of a page (an inlined script), deflated once at startup."""

    raw: bytes
    packed: bytes

    @classmethod
    def of(cls, text: str) -> Piece:
        raw = text.encode()
        return cls(raw, _deflate_piece(raw, 9))


def gzip_join(parts: list[bytes | Piece], level: int = 6) -> bytes:
    """One gzip member of ``parts`` in order, compressing only the ``bytes`` ones now: a page
    whose 100 KB of inlined scripts are constant costs the CPU of its few KB that are not."""
    out, crc, size = [GZIP_HEADER], 0, 0
    for part in parts:
        raw = part.raw if isinstance(part, Piece) else part
        out.append(part.packed if isinstance(part, Piece) else _deflate_piece(part, level))
        crc, size = zlib.crc32(raw, crc), size + len(raw)
    out.append(zlib.compressobj(level, zlib.DEFLATED, -15).flush(zlib.Z_FINISH))
    out.append(struct.pack("<II", crc, size & 0xFFFFFFFF))
    return b"".join(out)


def csp_hash(text: str) -> str:
    """The Content-Security-Policy source that allows this inline script or style."""
    digest = hashlib.sha256(text.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


class StaticAssets:
    """Every file under ``root``, read, hashed and compressed once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = {
            p.relative_to(root).as_posix(): _asset(p)
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }
        tree = hashlib.sha256()
        for name, asset in self.files.items():
            tree.update(name.encode() + b"\0" + asset.body)
        self.version = tree.hexdigest()[:12]
        self.prefix = f"/static/v/{self.version}"

    def text(self, name: str) -> str:
        """A file's text (UTF-8)."""
        return self.files[name].body.decode()

    def url(self, name: str) -> str:
        """The immutable URL of a file, e.g. ``/static/v/1a2b…/css/ult.css``."""
        return f"{self.prefix}/{name}"

    def module_graph(self, entry: str) -> list[str]:
        """The ES modules ``entry`` (e.g. ``js/scan.js``) needs, dependencies first."""
        order: list[str] = []

        def visit(name: str, path: tuple[str, ...]) -> None:
            if name in path:
                raise ValueError(f"import cycle through {name}")
            if name in order:
                return
            folder = name.rsplit("/", 1)[0]
            for _, dep in IMPORT_RE.findall(self.text(name)):
                visit(f"{folder}/{dep}", (*path, name))
            order.append(name)

        visit(entry, ())
        return order

    def bundle(self, entry: str) -> str:
        """The module graph of ``entry`` as one script: each module in its own scope, run in
        import order, sources unchanged but for their import and export keywords. Strict, as
        modules are, and a classic script's body too: it may run while the page is parsed,
        where a module script would wait for the end."""
        parts = ['(() => {\n"use strict";\nconst __ult = {};']
        for name in self.module_graph(entry):
            parts.append(_scoped(name, self.text(name)))
        return "\n".join(parts) + "\n})();\n"

    async def serve(self, request: Request) -> Response:
        """``/static/{path}`` and ``/static/v/{version}/{path}``."""
        path = request.path_params["path"]
        cache = REVALIDATE
        if path.startswith("v/"):
            _, version, path = (path.split("/", 2) + ["", ""])[:3]
            if version != self.version:
                return Response("Not Found", status_code=404, headers={"Cache-Control": "no-store"})
            cache = IMMUTABLE
        asset = self.files.get(path)
        if asset is None:
            return Response("Not Found", status_code=404, headers={"Cache-Control": "no-store"})
        base = {"Cache-Control": cache, "ETag": asset.etag, "X-Content-Type-Options": "nosniff"}
        if request.headers.get("if-none-match") == asset.etag:
            return Response(status_code=304, headers=base)
        body, headers = encoded(request, asset.body, asset.gzipped, base)
        return Response(body, media_type=asset.media_type, headers=headers)


def _scoped(name: str, source: str) -> str:
    """One module as a function scope whose exports land in ``__ult[name]``."""
    if UNSUPPORTED_RE.search(source):
        raise ValueError(f"{name}: an import or export form the page bundler does not handle")
    folder = name.rsplit("/", 1)[0]

    def imported(match: re.Match) -> str:
        names = ", ".join(_binding(part) for part in match[1].split(",") if part.strip())
        return f'const {{ {names} }} = __ult["{folder}/{match[2]}"];'

    body = IMPORT_RE.sub(imported, source)
    exports = EXPORT_RE.findall(body)
    body = re.sub(r"^export\s+", "", body, flags=re.M)
    if re.search(r"^\s*(?:import|export)\b", body, re.M):
        raise ValueError(f"{name}: an import or export the page bundler left behind")
    return f'__ult["{name}"] = (() => {{\n{body}\nreturn {{ {", ".join(exports)} }};\n}})();'


def _binding(spec: str) -> str:
    """``a`` → ``a``; ``a as b`` → ``a: b`` (an import's name as a destructuring entry)."""
    words = spec.split()
    return words[0] if len(words) == 1 else f"{words[0]}: {words[2]}"
