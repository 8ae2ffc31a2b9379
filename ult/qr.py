"""QR codes and printable posters for a sponsor's scan URL.

The QR content is fixed: ``{ULT_PUBLIC_URL}/s/{sid}``, with ``?at=<tag>`` when the
code hangs at a particular spot (``table-3``). Codes use error correction level Q (about 25% of
the code may be damaged) because printed codes in cafés get scratched and stained.
"""

from __future__ import annotations

import html
import io
import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import qrcode
import qrcode.image.svg
from PIL import Image, ImageDraw, ImageFont
from qrcode.constants import ERROR_CORRECT_Q
from qrcode.exceptions import DataOverflowError

from ult.errors import UltError
from ult.i18n import DEFAULT, N_, direction, translate
from ult.validation import LIMITS, check_field

# The poster's words, in the business's language (``lang``: one of ult.i18n.LANGUAGES).
HEADLINE = N_("Scan to earn rewards")
PROMISE = N_("No app, no sign-up, no personal data")
SPOT = N_("Spot: {spot}")
MAX_URL = 1000  # far below a QR code's capacity, far above any real scan URL

FontType = ImageFont.FreeTypeFont | ImageFont.ImageFont


def scan_url(public_url: str, sid: str, at: str | None = None) -> str:
    """The URL a sponsor's QR code holds: ``{public_url}/s/{sid}[?at=<tag>]``."""
    base = (public_url or "").strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise UltError(
            "bad_public_url",
            "The public address for QR codes must look like https://example.com "
            "(check ULT_PUBLIC_URL).",
        )
    url = f"{base}/s/{check_field('sid', sid)}"
    return f"{url}?at={check_field('at', at)}" if at is not None else url


def _qr(url: str, box_size: int = 10, border: int = 4) -> qrcode.QRCode:
    """A fitted QR code for ``url``; UltError when the text cannot be a QR code."""
    if not isinstance(url, str) or not url.strip():
        raise UltError("bad_qr", "There is no address to put into the QR code.")
    if len(url) > MAX_URL:
        raise UltError("bad_qr", f"The address is too long for a QR code ({len(url)} characters).")
    if not 1 <= box_size <= 100:
        raise UltError("bad_qr", "The QR code's box size must be between 1 and 100 pixels.")
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_Q, box_size=box_size, border=border)
    code.add_data(url)
    try:
        code.make(fit=True)
    except DataOverflowError:
        raise UltError("bad_qr", "The address is too long for a QR code.") from None
    return code


def _pil_qr(url: str, box_size: int) -> Image.Image:
    """The QR code as a black-on-white Pillow image (mode "1")."""
    return _qr(url, box_size).make_image().get_image()


def png_bytes(url: str, box_size: int = 10) -> bytes:
    """The QR code for ``url`` as PNG bytes (``box_size`` pixels per module, 4-module margin)."""
    buffer = io.BytesIO()
    _pil_qr(url, box_size).save(buffer, format="PNG")
    return buffer.getvalue()


def svg_text(url: str) -> str:
    """The QR code for ``url`` as a standalone SVG document (one path, white background)."""
    image = _qr(url).make_image(image_factory=qrcode.image.svg.SvgPathFillImage)
    return image.to_string(encoding="unicode")


def write_qr(url: str, path: str | Path) -> Path:
    """Write the QR code to ``path``: PNG for ``.png``, SVG for ``.svg``. Returns the path."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".png":
        data: bytes = png_bytes(url)
    elif suffix == ".svg":
        data = svg_text(url).encode("utf-8")
    else:
        shown = target.suffix or "no ending"
        raise UltError(
            "bad_qr_format",
            f"A QR code file must end in .png or .svg (this one has {shown}).",
        )
    try:
        target.write_bytes(data)
    except OSError as exc:
        reason = exc.strerror or "it could not be written"
        raise UltError(
            "qr_write_failed", f"Could not save the QR code to {target}: {reason}."
        ) from None
    return target


# --- posters ----------------------------------------------------------------------------------


def _check_poster(biz: str, at: str | None) -> tuple[str, str | None]:
    """A tidy business name (one line of whitespace) and a checked spot tag."""
    name = " ".join(biz.split()) if isinstance(biz, str) else ""
    if not name:
        raise UltError("bad_request", "The poster needs the business name.")
    if len(name) > LIMITS["business_name"]:
        most = LIMITS["business_name"]
        raise UltError("bad_request", f"The business name is too long (at most {most}).")
    return name, (check_field("at", at) if at is not None else None)


def _inline_svg(url: str) -> str:
    """The QR SVG without its XML declaration, ready to sit inside HTML."""
    return re.sub(r"^\s*<\?xml[^>]*\?>\s*", "", svg_text(url))


_POSTER_CSS = """
.ult-poster { box-sizing: border-box; width: 100%; max-width: 148mm; margin: 0 auto;
  padding: 10mm 8mm; background: #fff; color: #111; text-align: center;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  border: 1px solid #ddd; border-radius: 4mm; }
.ult-poster .ult-biz { margin: 0 0 3mm; font-size: 24pt; line-height: 1.15; font-weight: 700;
  overflow-wrap: anywhere; }
.ult-poster .ult-headline { margin: 0 0 5mm; font-size: 18pt; font-weight: 600; }
.ult-poster .ult-qr svg { display: block; width: 80mm; max-width: 100%; height: auto;
  margin: 0 auto; shape-rendering: crispEdges; }
.ult-poster .ult-promise { margin: 5mm 0 2mm; font-size: 12pt; }
.ult-poster .ult-spot { margin: 0 0 2mm; font-size: 12pt; font-weight: 600; }
.ult-poster .ult-url { margin: 3mm 0 0; font-size: 7pt; color: #555; overflow-wrap: anywhere;
  font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
@media print {
  @page { size: A5 portrait; margin: 10mm; }
  .ult-poster { border: none; border-radius: 0; max-width: none; padding: 0;
    break-inside: avoid; page-break-inside: avoid;
    -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def poster_html(biz: str, url: str, at: str | None = None, lang: str = DEFAULT) -> str:
    """A self-contained printable poster fragment: name, headline, inline QR, promise, URL.

    Every sponsor-supplied string is HTML-escaped. The style is scoped to ``.ult-poster``;
    printing uses an A5 page (it fits on A4 as well).
    """
    name, spot = _check_poster(biz, at)
    spot_line = translate(lang, SPOT).format(spot=spot) if spot else ""
    spot_html = f'<p class="ult-spot">{html.escape(spot_line)}</p>' if spot else ""
    return (
        f'<div class="ult-poster" lang="{lang}" dir="{direction(lang)}">'
        f"<style>{_POSTER_CSS}</style>"
        f'<h1 class="ult-biz">{html.escape(name)}</h1>'
        f'<p class="ult-headline">{html.escape(translate(lang, HEADLINE))}</p>'
        f'<div class="ult-qr" role="img" aria-label="QR code">{_inline_svg(url)}</div>'
        f'<p class="ult-promise">{html.escape(translate(lang, PROMISE))}</p>'
        f"{spot_html}"
        f'<p class="ult-url">{html.escape(url)}</p>'
        f"</div>"
    )


def poster_page(biz: str, url: str, at: str | None = None, lang: str = DEFAULT) -> str:
    """The poster as a complete HTML document (for a download or a print window)."""
    title = html.escape(" ".join(str(biz).split()))
    return (
        f'<!doctype html><html lang="{lang}" dir="{direction(lang)}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title} — QR poster</title></head>"
        f"<body>{poster_html(biz, url, at, lang)}</body></html>"
    )


# A5 portrait at 150 dpi.
POSTER_SIZE = (874, 1240)
_MARGIN = 60


@lru_cache(maxsize=32)
def _font(size: int, bold: bool = False, mono: bool = False) -> FontType:
    """DejaVu when the system has it, else Pillow's built-in scalable font."""
    name = "DejaVuSansMono" if mono else ("DejaVuSans-Bold" if bold else "DejaVuSans")
    try:
        return ImageFont.truetype(f"{name}.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: FontType, width: int) -> list[str]:
    """Greedy word wrap; a word longer than a line is cut by characters."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if draw.textlength(candidate, font=font) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = word
        while draw.textlength(line, font=font) > width and len(line) > 1:
            cut = len(line) - 1
            while cut > 1 and draw.textlength(line[:cut], font=font) > width:
                cut -= 1
            lines.append(line[:cut])
            line = line[cut:]
    if line:
        lines.append(line)
    return lines


def _fit_title(draw: ImageDraw.ImageDraw, text: str, width: int) -> tuple[FontType, list[str]]:
    """The largest bold size (72 down to 28 px) at which the name fits in three lines."""
    for size in range(72, 27, -4):
        font = _font(size, bold=True)
        lines = _wrap(draw, text, font, width)
        if len(lines) <= 3:
            return font, lines
    return font, lines[:3]


def _centered(draw: ImageDraw.ImageDraw, y: int, text: str, font: FontType, fill: str) -> int:
    """Draw one centred line at ``y``; return the y below it."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text(((POSTER_SIZE[0] - (right - left)) / 2 - left, y - top), text, font=font, fill=fill)
    return y + int(bottom - top)  # whole pixels (Pillow types the box as floats)


def poster_png(biz: str, url: str, at: str | None = None, lang: str = DEFAULT) -> bytes:
    """The poster of :func:`poster_html` as an A5 PNG (150 dpi) for downloads."""
    name, spot = _check_poster(biz, at)
    width, height = POSTER_SIZE
    inner = width - 2 * _MARGIN
    image = Image.new("RGB", POSTER_SIZE, "white")
    draw = ImageDraw.Draw(image)

    y = _MARGIN
    title_font, title_lines = _fit_title(draw, name, inner)
    for line in title_lines:
        y = _centered(draw, y, line, title_font, "#111111") + 12
    y = _centered(draw, y + 16, translate(lang, HEADLINE), _font(40, bold=True), "#111111") + 30

    modules = _qr(url, box_size=1).modules_count + 8  # with the 4-module margin on each side
    box = max(1, min(inner, height - y - 260) // modules)
    qr_image = _pil_qr(url, box).convert("RGB")
    image.paste(qr_image, ((width - qr_image.width) // 2, y))
    y += qr_image.height + 20

    y = _centered(draw, y, translate(lang, PROMISE), _font(30), "#111111") + 20
    if spot:
        y = (
            _centered(
                draw, y, translate(lang, SPOT).format(spot=spot), _font(30, bold=True), "#111111"
            )
            + 20
        )
    small = _font(18, mono=True)
    for line in _wrap(draw, url, small, inner)[:3]:
        y = _centered(draw, y, line, small, "#555555") + 6

    page = Image.new("RGB", POSTER_SIZE, "white")  # centre the drawn block on the page
    page.paste(image.crop((0, 0, width, y)), (0, max(0, (height - y - _MARGIN) // 2)))
    buffer = io.BytesIO()
    page.save(buffer, format="PNG", dpi=(150, 150))
    return buffer.getvalue()
