"""JWT access tokens (HS256 pinned, aud/iss/exp/typ checked) and opaque refresh tokens.

Signing keys rotate: tokens are signed with the current key and name it in the ``kid``
header (a short hash of the key, never the key); verification picks the key by ``kid`` and
still accepts the previous keys listed in the configuration, so tokens signed before a
rotation keep working until they expire.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass

import jwt

from maestro_ml.domain.errors import Unauthenticated

from .permissions import Role, parse_role
from .principal import Principal

ALGORITHM = "HS256"
ALLOWED_ALGORITHMS = (ALGORITHM,)
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub", "tid", "role", "typ")


def key_id(secret: str) -> str:
    """A short, public name for a signing key: 16 hex digits of a domain-separated hash."""
    return hashlib.sha256(b"maestro-jwt-kid:" + secret.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TokenConfig:
    secret: str
    issuer: str
    audience: str
    access_ttl_seconds: int
    previous_secrets: tuple[str, ...] = ()

    @property
    def kid(self) -> str:
        return key_id(self.secret)

    def verification_key(self, kid: str | None) -> str | None:
        """The key a token names; a token without ``kid`` predates rotation: current key."""
        if kid is None:
            return self.secret
        for secret in (self.secret, *self.previous_secrets):
            if hmac.compare_digest(key_id(secret), kid):
                return secret
        return None


def issue_access_token(config: TokenConfig, principal: Principal) -> str:
    now = int(time.time())
    claims = {
        "sub": principal.user_id,
        "tid": principal.tenant_id,
        "role": principal.role.value,
        "email": principal.email,
        "iss": config.issuer,
        "aud": config.audience,
        "iat": now,
        "nbf": now,
        "exp": now + config.access_ttl_seconds,
        "jti": uuid.uuid4().hex,
        "typ": "access",
    }
    return jwt.encode(
        claims, config.secret, algorithm=ALGORITHM, headers={"typ": "JWT", "kid": config.kid}
    )


def decode_access_token(config: TokenConfig, token: str) -> Principal:
    try:
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        if header.get("alg") not in ALLOWED_ALGORITHMS or not isinstance(kid, str | None):
            raise jwt.InvalidAlgorithmError("algorithm not allowed")
        key = config.verification_key(kid)
        if key is None:
            raise Unauthenticated("access token signed by an unknown or retired key; log in again")
        claims = jwt.decode(
            token,
            key,
            algorithms=list(ALLOWED_ALGORITHMS),
            audience=config.audience,
            issuer=config.issuer,
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("access token expired; refresh it or log in again") from None
    except jwt.InvalidAudienceError:
        raise Unauthenticated("invalid access token: wrong audience") from None
    except jwt.PyJWTError:
        # The library's wording can describe the token's structure; say only what to do.
        raise Unauthenticated(
            "invalid access token; send an API key (mk_...) or log in again"
        ) from None
    if claims.get("typ") != "access":
        raise Unauthenticated("invalid access token: wrong token type")
    try:
        role: Role = parse_role(claims["role"])
    except Exception:
        raise Unauthenticated("invalid access token: unknown role") from None
    return Principal(
        user_id=claims["sub"], tenant_id=claims["tid"], role=role, email=claims.get("email", "")
    )


def new_refresh_token() -> str:
    return "mr_" + secrets.token_urlsafe(32)


def keyed_hash(secret: str, value: str) -> str:
    """HMAC-SHA256 of a secret value (API keys, refresh tokens) under the server secret."""
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()
