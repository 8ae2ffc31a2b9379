"""Apple Push Notification service, as Apple Wallet uses it: an empty push on the pass's
topic (its Pass Type ID) tells a device that a pass changed; the device then asks the PassKit
web service which ones and fetches them. HTTP/2, authenticated by the Pass Type ID
certificate (TLS client certificate); an ``http://`` URL is HTTP/2 over cleartext with prior
knowledge (a local stand-in for tests and benchmarks)."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass

import httpx

# httpx logs each request's URL at INFO, and a push's URL holds the device's push token
logging.getLogger("httpx").setLevel(logging.WARNING)

TIMEOUT_S = 10.0
GONE = 410  # the device no longer takes pushes for this topic: drop its registration


@dataclass(frozen=True)
class Outcome:
    """What APNs said about one push: delivered, gone (410: unregister), or to retry."""

    status: int  # 0: no answer (connection failed, timed out)

    @property
    def delivered(self) -> bool:
        return self.status == 200

    @property
    def gone(self) -> bool:
        return self.status == GONE

    @property
    def retry(self) -> bool:
        """Worth trying again later: no answer, too many requests, or a server error."""
        return self.status == 0 or self.status == 429 or self.status >= 500


class Apns:
    """One HTTP/2 connection to APNs (reused for every push of the process)."""

    def __init__(self, url: str, topic: str, cert_file: str, key_file: str) -> None:
        self.url, self.topic = url.rstrip("/"), topic
        if self.url.startswith("http://"):  # h2c: HTTP/2 only, no upgrade dance
            self.client = httpx.AsyncClient(http1=False, http2=True, timeout=TIMEOUT_S)
        else:
            tls = ssl.create_default_context()
            tls.load_cert_chain(cert_file, key_file)
            self.client = httpx.AsyncClient(http2=True, verify=tls, timeout=TIMEOUT_S)

    async def push(self, push_token: str) -> Outcome:
        """Tell the device with ``push_token`` that a pass of this topic changed."""
        # Wallet pushes carry nothing but the topic: no alert, no push type (Wallet reads the
        # change from the pass it fetches, its changeMessages word the notification)
        headers = {"apns-topic": self.topic}
        try:
            reply = await self.client.post(
                f"{self.url}/3/device/{push_token}", content=b"{}", headers=headers
            )
        except httpx.HTTPError:
            return Outcome(0)
        return Outcome(reply.status_code)

    async def aclose(self) -> None:
        await self.client.aclose()
