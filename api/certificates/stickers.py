"""Signed QR stickers: signing keys, the sticker JWS (docs/stickers.md), the trust list and
verification.

Keys are the portal's one kind of Ed25519 key file (portal/signing.py: the portal's own key in
GONGZHI_SIGNING_KEY_FILE, an institution's in GONGZHI_SIGNING_KEYS_DIR/<CODE>.pem) with the portal's
one key id (16 hex digits of SHA-256 of the raw public key). Stickers printed before that scheme
carry an 11-character base64url key id (``legacy_key_id``); they still verify (``_find_key``).

The JWS is PyJWT's (``PyJWS``): it checks the algorithm against an allow-list (no ``none``, no
HS256 with a public key as secret) and the signature. The payload is passed as bytes so it stays
compact UTF-8 JSON (PyJWT's own claim encoder would ASCII-escape Chinese text and make the QR code
larger), and ``typ`` is left out of the header as format version 1 specifies.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jwt.utils import base64url_decode, base64url_encode
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.certificates.errors import CertificateNotFound
from api.certificates.labels import LabelContent
from api.certificates.lookup import lookup_certificate
from api.certificates.models import SigningKey
from api.certificates.numbers import normalize_number
from api.certificates.queries import (
    CERTIFICATE_JOIN,
    aware,
    categories,
    certificates,
    instruments,
    organizations,
    signing_keys,
)
from api.certificates.registry import acting_institution
from api.certificates.schemas import TrustedKey, TrustList, VerifyResult
from api.certificates.settings import CertificatesSettings
from api.certificates.states import STATES
from portal import signing
from portal.accounts.models import Organization, User
from portal.accounts.permissions import Action
from portal.audit import service as audit
from portal.clock import SHANGHAI
from portal.db import utcnow
from portal.settings import Settings

log = structlog.get_logger(__name__)

FORMAT_VERSION = 1
MAX_TOKEN_LENGTH = 2048
ALGORITHM = "EdDSA"
_JWS = jwt.PyJWS(algorithms=[ALGORITHM])


def b64url(data: bytes) -> str:
    return base64url_encode(data).decode("ascii")


def legacy_key_id(public_raw: bytes) -> str:
    """The sticker key id before the portal had one scheme: first 8 bytes of SHA-256 over the raw
    public key, base64url (11 characters). Printed stickers carry it; only verification uses it."""
    return b64url(hashlib.sha256(public_raw).digest()[:8])


def extract_token(text: str) -> str:
    """The token from a sticker URL (``…/v/<token>``, query and fragment ignored) or a token."""
    text = text.strip()
    if "/v/" in text:
        text = text.rsplit("/v/", 1)[1]
    for sep in ("?", "#"):
        text = text.split(sep, 1)[0]
    return text.strip("/")


def sign(claims: dict[str, Any], key: signing.SigningKey) -> str:
    payload = json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return _JWS.encode(
        payload, key.private_key, algorithm=ALGORITHM, headers={"kid": key.key_id, "typ": None}
    )


# --- keys ---------------------------------------------------------------------------------------


async def _register_key(
    session: AsyncSession, key: signing.SigningKey, organization_id: uuid.UUID | None
) -> None:
    if await session.get(SigningKey, key.key_id) is None:
        session.add(
            SigningKey(
                kid=key.key_id,
                organization_id=organization_id,
                public_key=b64url(signing.raw_public_key(key.public_key)),
                valid_from=utcnow(),
            )
        )
        await session.flush()


async def portal_signer(session: AsyncSession, settings: Settings) -> signing.SigningKey:
    key = signing.load_signing_key(settings.signing_key_file)
    await _register_key(session, key, None)
    return key


async def create_institution_key(
    session: AsyncSession, org: Organization, *, settings: Settings, actor: User | None
) -> SigningKey:
    """A new key pair for an institution; earlier keys stay in the trust list, closed from now."""
    path = settings.of(CertificatesSettings).signing_keys_dir / f"{org.code}.pem"
    if path.exists():
        path.replace(path.with_suffix(f".{utcnow().strftime('%Y%m%d%H%M%S')}.pem"))
    signing.forget_cached_keys()  # the file was just rotated away
    key = signing.load_signing_key(path)
    now = utcnow()
    await session.execute(
        update(signing_keys)
        .where(signing_keys.c.organization_id == org.id, signing_keys.c.valid_until.is_(None))
        .values(valid_until=now)
    )
    row = SigningKey(
        kid=key.key_id,
        organization_id=org.id,
        public_key=b64url(signing.raw_public_key(key.public_key)),
        valid_from=now,
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="signing_key.create",
        entity_type="signing_key",
        entity_id=key.key_id,
        region_code=org.region_code,
        after={"institution": org.code, "kid": key.key_id},
    )
    return row


async def signer_for(
    session: AsyncSession, org: Organization, settings: Settings
) -> signing.SigningKey:
    """The institution's own current key when it has one on this server, else the portal key."""
    kid = await session.scalar(
        select(signing_keys.c.kid).where(
            signing_keys.c.organization_id == org.id,
            or_(signing_keys.c.valid_until.is_(None), signing_keys.c.valid_until > utcnow()),
        )
    )
    path = settings.of(CertificatesSettings).signing_keys_dir / f"{org.code}.pem"
    if kid is not None and path.exists():
        key = signing.load_signing_key(path)
        if key.key_id == kid:
            return key
    return await portal_signer(session, settings)


def sticker_claims(row: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "v": FORMAT_VERSION,
        "n": row.number,
        "o": row.institution_code,
        "t": row.sticker_token,
        "c": row.category_code,
        "s": row.serial,
        "k": "C" if row.kind == "certificate" else "N",
        "r": row.conclusion,
        "d": row.verified_on.isoformat(),
    }
    if row.valid_until is not None:
        claims["u"] = row.valid_until.isoformat()
    return claims


async def sticker_url(
    session: AsyncSession,
    number: str,
    *,
    actor: User,
    settings: Settings,
    institution_code: str | None = None,
) -> str:
    org = await acting_institution(session, actor, Action.certificate_issue, institution_code)
    row = (
        await session.execute(
            select(
                certificates.c.number,
                certificates.c.kind,
                certificates.c.conclusion,
                certificates.c.verified_on,
                certificates.c.valid_until,
                organizations.c.code.label("institution_code"),
                instruments.c.sticker_token,
                instruments.c.category_code,
                instruments.c.serial,
                categories.c.name,
            )
            .select_from(CERTIFICATE_JOIN)
            .where(
                certificates.c.institution_id == org.id,
                certificates.c.number == normalize_number(number),
            )
        )
    ).first()
    if row is None:
        raise CertificateNotFound(detail_zh=f"本机构没有编号为 {number} 的证书。")
    key = await signer_for(session, org, settings)
    return f"{settings.base_url.rstrip('/')}/v/{sign(sticker_claims(row), key)}"


async def label_content(
    session: AsyncSession,
    number: str,
    *,
    actor: User,
    settings: Settings,
    institution_code: str | None = None,
) -> LabelContent:
    """What a printed label shows: the signed sticker URL as its QR code, 检定合格 while the
    certificate holds (else its state), the number, the valid-until date and the institution."""
    org = await acting_institution(session, actor, Action.certificate_issue, institution_code)
    url = await sticker_url(
        session, number, actor=actor, settings=settings, institution_code=org.code
    )
    certificate = await lookup_certificate(
        session, number, settings=settings.of(CertificatesSettings), institution_code=org.code
    )
    status = certificate.status.value
    valid = status in ("valid", "expiring")
    return LabelContent(
        url=url,
        headline="检定合格" if valid else STATES[status].text,
        valid=valid,
        number=certificate.number,
        valid_until=certificate.valid_until.isoformat() if certificate.valid_until else "—",
        institution=certificate.institution.name,
    )


# --- verification -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """The outcome of checking a token: ``genuine`` only when the signature verifies with a key of
    the trust list that was valid when the certificate was signed and that belongs to the
    certificate's institution (or to the portal, which signs for every institution)."""

    genuine: bool
    reason: str | None = None
    kid: str | None = None
    alg: str | None = None
    claims: dict[str, Any] | None = None
    signed_by: str | None = None  # institution code, or "portal"


async def _find_key(session: AsyncSession, kid: str) -> Any:
    columns = (
        signing_keys.c.kid,
        signing_keys.c.public_key,
        signing_keys.c.valid_from,
        signing_keys.c.valid_until,
        organizations.c.code,
    )
    keys = select(*columns).select_from(
        signing_keys.outerjoin(organizations, organizations.c.id == signing_keys.c.organization_id)
    )
    found = (await session.execute(keys.where(signing_keys.c.kid == kid))).first()
    if found is None and len(kid) == 11:
        # A sticker printed before the one key id scheme: the trust list is small (a few keys per
        # institution), so find the key whose legacy id matches.
        for candidate in (await session.execute(keys)).all():
            if legacy_key_id(base64url_decode(candidate.public_key)) == kid:
                return candidate
    return found


async def check_token(session: AsyncSession, token: str) -> Verification:
    if len(token) > MAX_TOKEN_LENGTH:
        return Verification(genuine=False, reason="malformed: token too long")
    try:
        header = _JWS.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        return Verification(genuine=False, reason=f"malformed: {exc}")
    kid, alg = header.get("kid"), header.get("alg")
    if not isinstance(kid, str) or not isinstance(alg, str):
        return Verification(genuine=False, reason="malformed: the header lacks kid or alg")
    key = await _find_key(session, kid)
    if key is None:
        return Verification(genuine=False, reason="unknown key id", kid=kid, alg=alg)
    failed = Verification(genuine=False, reason="signature does not verify", kid=kid, alg=alg)
    try:
        public_key = Ed25519PublicKey.from_public_bytes(base64url_decode(key.public_key))
        payload = _JWS.decode(token, public_key, algorithms=[ALGORITHM])
        claims = json.loads(payload.decode("utf-8"))
    except (jwt.InvalidTokenError, ValueError):
        return failed
    if not isinstance(claims, dict):
        return failed
    signer_code = key.code
    number, institution = claims.get("n"), claims.get("o")
    if signer_code is not None and signer_code != institution:
        return Verification(
            genuine=False,
            reason="signed with another institution's key",
            kid=kid,
            alg=alg,
            signed_by=signer_code,
        )
    if key.valid_until is not None and isinstance(number, str) and isinstance(institution, str):
        closed = aware(key.valid_until)
        issued = await session.scalar(
            select(certificates.c.created_at)
            .select_from(CERTIFICATE_JOIN)
            .where(
                certificates.c.number == normalize_number(number),
                organizations.c.code == institution,
            )
        )
        signed_on = claims.get("d")
        if (issued is not None and aware(issued) >= closed) or (
            isinstance(signed_on, str)
            and signed_on > closed.astimezone(SHANGHAI).date().isoformat()
        ):
            return Verification(
                genuine=False,
                reason="signed with a key after its valid_until",
                kid=kid,
                alg=alg,
                signed_by=signer_code or "portal",
            )
    return Verification(
        genuine=True, kid=kid, alg=alg, claims=claims, signed_by=signer_code or "portal"
    )


async def verify_token(session: AsyncSession, token: str) -> Verification | None:
    """The verification when the token is genuine, else None (for resolving scans)."""
    verification = await check_token(session, token)
    return verification if verification.genuine else None


async def verify_sticker(
    session: AsyncSession, payload: str, *, settings: CertificatesSettings
) -> VerifyResult:
    verification = await check_token(session, extract_token(payload))
    if not verification.genuine:
        return VerifyResult(
            signature_valid=False,
            key_id=verification.kid,
            algorithm=verification.alg,
            reason=verification.reason,
        )
    claims = verification.claims or {}
    result = VerifyResult(
        signature_valid=True,
        key_id=verification.kid,
        algorithm=verification.alg,
        signed_by=verification.signed_by,
        claims=claims,
    )
    number, institution = claims.get("n"), claims.get("o")
    if isinstance(number, str) and isinstance(institution, str):
        try:
            certificate = await lookup_certificate(
                session, number, settings=settings, institution_code=institution
            )
        except CertificateNotFound:
            result.reason = "signed, but the certificate is not in the registry"
        else:
            result.certificate = certificate
            result.status = certificate.status.value
            result.status_name = certificate.status_name
    return result


async def trust_list(session: AsyncSession, *, settings: Settings) -> TrustList:
    await portal_signer(session, settings)
    rows = (
        await session.execute(
            select(
                signing_keys,
                organizations.c.code.label("institution_code"),
                organizations.c.name.label("institution_name"),
            )
            .select_from(
                signing_keys.outerjoin(
                    organizations, organizations.c.id == signing_keys.c.organization_id
                )
            )
            .order_by(signing_keys.c.valid_from)
        )
    ).all()
    return TrustList(
        issuer=settings.base_url,
        generated_at=utcnow(),
        keys=[
            TrustedKey(
                kid=key.kid,
                crv=key.curve,
                alg=key.algorithm,
                x=key.public_key,
                institution_code=key.institution_code,
                institution_name=key.institution_name or "共治平台",
                valid_from=aware(key.valid_from),
                valid_until=aware(key.valid_until) if key.valid_until else None,
            )
            for key in rows
        ],
    )
