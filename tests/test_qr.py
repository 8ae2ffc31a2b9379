"""ult.qr: scan URLs, PNG/SVG codes that decode back, and printable posters."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from ult.errors import UltError
from ult.qr import png_bytes, poster_html, poster_page, poster_png, scan_url, svg_text, write_qr

PUBLIC = "http://127.0.0.1:8000/"
SID = "fika-sisters-3fa9"
SVG_NS = "{http://www.w3.org/2000/svg}"
EVIL = "<img src=x onerror=alert(1)>"


def decode(png: bytes) -> list[str]:
    """Every QR code zxing-cpp finds in a PNG."""
    image = Image.open(io.BytesIO(png))
    return [
        r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode
    ]


# --- scan_url ---------------------------------------------------------------------------------


def test_scan_url() -> None:
    assert scan_url(PUBLIC, SID) == "http://127.0.0.1:8000/s/fika-sisters-3fa9"
    assert scan_url("https://ult.example.com", SID, "table-3") == (
        "https://ult.example.com/s/fika-sisters-3fa9?at=table-3"
    )


@pytest.mark.parametrize(
    ("public", "sid", "at"),
    [
        (PUBLIC, "Fika Sisters", None),
        (PUBLIC, "ab", None),
        (PUBLIC, SID, ""),
        (PUBLIC, SID, "table 3"),
        (PUBLIC, SID, "x" * 33),
        (PUBLIC, SID, "t&x=<b>"),
        ("ftp://example.com", SID, None),
        ("example.com", SID, None),
        ("http://example.com/?q=1", SID, None),
    ],
)
def test_scan_url_refuses_bad_parts(public: str, sid: str, at: str | None) -> None:
    with pytest.raises(UltError) as info:
        scan_url(public, sid, at)
    assert info.value.code in {"bad_request", "bad_public_url"}


# --- PNG / SVG --------------------------------------------------------------------------------


@pytest.mark.parametrize("at", [None, "table-3", "A_b-9" * 6 + "xy"])
def test_png_round_trip(at: str | None) -> None:
    url = scan_url(PUBLIC, SID, at)
    png = png_bytes(url)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert decode(png) == [url]


def test_png_box_size() -> None:
    url = scan_url(PUBLIC, SID)
    small, large = (Image.open(io.BytesIO(png_bytes(url, box_size=b))) for b in (4, 12))
    assert large.width == 3 * small.width
    assert decode(png_bytes(url, box_size=4)) == [url]


def test_svg_is_xml_with_a_path() -> None:
    url = scan_url(PUBLIC, SID, "table-3")
    root = ET.fromstring(svg_text(url))
    assert root.tag == f"{SVG_NS}svg"
    [path] = root.iter(f"{SVG_NS}path")
    assert path.get("d", "").startswith("M")


def test_refuses_what_cannot_be_a_qr_code() -> None:
    for bad in ("", "x" * 5000):
        with pytest.raises(UltError) as info:
            png_bytes(bad)
        assert info.value.code == "bad_qr"
    with pytest.raises(UltError):
        png_bytes(scan_url(PUBLIC, SID), box_size=0)


def test_write_qr_png_and_svg(tmp_path: Path) -> None:
    url = scan_url(PUBLIC, SID)
    png = write_qr(url, tmp_path / "code.PNG")
    assert png == tmp_path / "code.PNG"
    assert decode(png.read_bytes()) == [url]
    svg = write_qr(url, str(tmp_path / "code.svg"))
    assert ET.parse(svg).getroot().tag == f"{SVG_NS}svg"


@pytest.mark.parametrize("name", ["code.jpg", "code", "code.svg.txt"])
def test_write_qr_refuses_other_formats(tmp_path: Path, name: str) -> None:
    with pytest.raises(UltError) as info:
        write_qr(scan_url(PUBLIC, SID), tmp_path / name)
    assert info.value.code == "bad_qr_format"
    assert ".png or .svg" in info.value.message
    assert not (tmp_path / name).exists()


def test_write_qr_into_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(UltError) as info:
        write_qr(scan_url(PUBLIC, SID), tmp_path / "nope" / "code.png")
    assert info.value.code == "qr_write_failed"


# --- posters ----------------------------------------------------------------------------------


def test_poster_html() -> None:
    url = scan_url(PUBLIC, SID, "table-3")
    poster = poster_html("Fika  Sisters", url, "table-3")
    assert "Fika Sisters" in poster
    assert "Scan to earn rewards" in poster
    assert "No app, no sign-up, no personal data" in poster
    assert "table-3" in poster
    assert f'<p class="ult-url">{url}</p>' in poster
    assert "@media print" in poster
    assert "<?xml" not in poster
    inline = re.search(r"<svg.*?</svg>", poster, re.S)
    assert inline and ET.fromstring(inline.group(0)).tag == f"{SVG_NS}svg"
    assert "<script" not in poster and "http" not in poster.replace(url, "").replace(
        "http://www.w3.org/2000/svg", ""
    )  # nothing is fetched from elsewhere


def test_poster_html_escapes_the_business_name() -> None:
    poster = poster_html(EVIL, scan_url(PUBLIC, SID))
    assert EVIL not in poster
    assert "&lt;img src=x onerror=alert(1)&gt;" in poster
    assert "<img" not in poster


def test_poster_page_is_a_document() -> None:
    page = poster_page(EVIL, scan_url(PUBLIC, SID))
    assert page.startswith("<!doctype html>") and page.endswith("</html>")
    assert "<img" not in page


def test_poster_without_a_name() -> None:
    with pytest.raises(UltError):
        poster_html("   ", scan_url(PUBLIC, SID))


@pytest.mark.parametrize(
    ("biz", "at"),
    [
        ("Fika Sisters", None),
        ("The Extraordinarily Long-Named Neighbourhood Coffee & Cinnamon Bun Emporium", "bar"),
        (EVIL, "table-12"),
    ],
)
def test_poster_png_decodes(biz: str, at: str | None) -> None:
    url = scan_url(PUBLIC, SID, at)
    png = poster_png(biz, url, at)
    image = Image.open(io.BytesIO(png))
    assert image.size == (874, 1240)
    assert decode(png) == [url]
