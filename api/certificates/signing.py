"""Sticker signatures: a JWS compact serialisation (RFC 7515) with EdDSA over Ed25519 (RFC 8037).

The format is specified in docs/stickers.md; keep the two in step. The portal's key lives in
GONGZHI_SIGNING_KEY_FILE (created on first use); an institution may have its own key in
GONGZHI_SIGNING_KEYS_DIR/<CODE>.pem, registered in ``signing_key`` so the trust list carries it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from portal.signing import load_signing_key

FORMAT_VERSION = 1
MAX_TOKEN_LENGTH = 2048


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if not text or any(c not in _B64URL for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_raw: bytes) -> str:
    """First 8 bytes of SHA-256 over the raw 32-byte public key, base64url (11 characters)."""
    return b64url(hashlib.sha256(public_raw).digest()[:8])


@dataclass(frozen=True)
class Signer:
    kid: str
    private_key: Ed25519PrivateKey

    @property
    def public_raw(self) -> bytes:
        return raw_public_key(self.private_key.public_key())


def load_or_create_key(path: Path) -> Signer:
    """The Ed25519 key at ``path`` (PKCS#8 PEM), created atomically on first use by the portal's
    one key loader (portal/signing.py); the sticker key id is derived here (``key_id``)."""
    key = load_signing_key(path).private_key
    return Signer(kid=key_id(raw_public_key(key.public_key())), private_key=key)


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(claims: dict[str, Any], signer: Signer) -> str:
    header = b64url(_json({"alg": "EdDSA", "kid": signer.kid}))
    payload = b64url(_json(claims))
    signing_input = f"{header}.{payload}".encode("ascii")
    return f"{header}.{payload}.{b64url(signer.private_key.sign(signing_input))}"


@dataclass(frozen=True)
class ParsedToken:
    kid: str
    alg: str
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


class MalformedToken(ValueError):
    pass


def parse(token: str) -> ParsedToken:
    """Split and decode a token without trusting it; ``verify`` checks the signature."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise MalformedToken("token too long")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedToken("a sticker token has three dot-separated parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]).decode("utf-8"))
        signature = b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedToken("a part is not base64url-encoded JSON") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise MalformedToken("header and payload must be JSON objects")
    kid, alg = header.get("kid"), header.get("alg")
    if not isinstance(kid, str) or not isinstance(alg, str):
        raise MalformedToken("the header lacks kid or alg")
    return ParsedToken(
        kid=kid,
        alg=alg,
        claims=claims,
        signing_input=f"{parts[0]}.{parts[1]}".encode("ascii"),
        signature=signature,
    )


def verify(parsed: ParsedToken, public_raw: bytes) -> bool:
    if parsed.alg != "EdDSA" or len(parsed.signature) != 64:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(
            parsed.signature, parsed.signing_input
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def extract_token(text: str) -> str:
    """The token from a sticker URL (``…/v/<token>``, query and fragment ignored) or a token."""
    text = text.strip()
    if "/v/" in text:
        text = text.rsplit("/v/", 1)[1]
    for sep in ("?", "#"):
        text = text.split(sep, 1)[0]
    return text.strip("/")
