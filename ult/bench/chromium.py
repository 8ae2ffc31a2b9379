"""Debian's Chromium, headless, as the benchmark and the browser tests launch it.

Playwright's own browser download does not work offline, so it drives the system binary.
The flags keep Chromium from phoning home (no network here) and from needing a sandbox as root.
"""

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # no host resolves but localhost and 127.x: nothing outside is asked for,
    # blocked inside Chromium rather than per request by Playwright
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.*",
]
