"""Made-up Apple Wallet certificates for the tests: a root CA, an intermediate standing in
for Apple's WWDR, and a Pass Type ID certificate signed by it (a real iPhone trusts none)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

PASS_TYPE_ID = "pass.test.ult.loyalty"
TEAM_ID = "TEAM123456"


@dataclass(frozen=True)
class WalletService:
    """A running service with Apple passes on, and the file its output goes to."""

    url: str
    log: Path


@dataclass(frozen=True)
class WalletCerts:
    root: Path
    wwdr: Path
    cert: Path
    key: Path

    def env(self, apns_url: str = "http://127.0.0.1:9") -> dict[str, str]:
        """The service's ULT_APPLE_* settings for these certificates."""
        return {
            "ULT_APPLE_PASS_TYPE_ID": PASS_TYPE_ID,
            "ULT_APPLE_TEAM_ID": TEAM_ID,
            "ULT_APPLE_PASS_CERT": str(self.cert),
            "ULT_APPLE_PASS_KEY": str(self.key),
            "ULT_APPLE_WWDR_CERT": str(self.wwdr),
            "ULT_APNS_URL": apns_url,
        }


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _cert(
    subject: str, key: rsa.RSAPrivateKey, issuer: str, signer: rsa.RSAPrivateKey, ca: bool
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    usage = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    usage |= {"key_cert_sign": ca, "crl_sign": ca, "digital_signature": not ca}
    builder = builder.add_extension(x509.KeyUsage(**usage), critical=True)
    return builder.sign(signer, hashes.SHA256())


def make_certs(directory: Path) -> WalletCerts:
    """Write the three certificates and the pass key (PEM) into ``directory``."""
    keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)]
    root_key, wwdr_key, pass_key = keys
    root = _cert("ULT Test Root", root_key, "ULT Test Root", root_key, ca=True)
    wwdr = _cert("ULT Test WWDR", wwdr_key, "ULT Test Root", root_key, ca=True)
    leaf = _cert(f"Pass Type ID: {PASS_TYPE_ID}", pass_key, "ULT Test WWDR", wwdr_key, ca=False)
    paths = WalletCerts(
        directory / "root.pem",
        directory / "wwdr.pem",
        directory / "pass.pem",
        directory / "key.pem",
    )
    pem = serialization.Encoding.PEM
    paths.root.write_bytes(root.public_bytes(pem))
    paths.wwdr.write_bytes(wwdr.public_bytes(pem))
    paths.cert.write_bytes(leaf.public_bytes(pem))
    paths.key.write_bytes(
        pass_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths
