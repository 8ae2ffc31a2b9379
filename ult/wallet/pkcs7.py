"""The signature of an Apple Wallet pass: a detached PKCS #7 (CMS) signature of its manifest,
DER, SHA-256, by the Pass Type ID certificate, with Apple's WWDR intermediate certificate
included and the signing time among the signed attributes (cryptography adds it unless told
``NoAttributes``)."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from cryptography.hazmat.primitives.serialization.pkcs7 import PKCS7PrivateKeyTypes

OPTIONS = [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]


def sign_manifest(
    manifest: bytes, cert: x509.Certificate, key: PKCS7PrivateKeyTypes, wwdr: x509.Certificate
) -> bytes:
    """The ``signature`` file of a pass whose ``manifest.json`` is ``manifest``."""
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(manifest)
        .add_signer(cert, key, hashes.SHA256())
        .add_certificate(wwdr)
        .sign(Encoding.DER, OPTIONS)
    )
