"""JWT access tokens (HS256 pinned, aud/iss/exp/typ checked) and opaque refresh tokens."""

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


@dataclass(frozen=True)
class TokenConfig:
    secret: str
    issuer: str
    audience: str
    access_ttl_seconds: int


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
    return jwt.encode(claims, config.secret, algorithm=ALGORITHM, headers={"typ": "JWT"})


def decode_access_token(config: TokenConfig, token: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            config.secret,
            algorithms=[ALGORITHM],
            audience=config.audience,
            issuer=config.issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "tid", "role", "typ"]},
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
