"""Identity use cases: first admin, login/refresh/logout, authentication, tenants, users, keys."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from maestro_ml.auth.api_keys import display_prefix, looks_like_api_key, new_api_key
from maestro_ml.auth.passwords import hash_password, verify_password
from maestro_ml.auth.permissions import Role, parse_role
from maestro_ml.auth.principal import Principal
from maestro_ml.auth.tokens import (
    TokenConfig,
    decode_access_token,
    issue_access_token,
    keyed_hash,
    new_refresh_token,
)
from maestro_ml.domain.errors import (
    AlreadyExists,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from maestro_ml.domain.names import validate_name

from .ports import UnitOfWorkFactory

LOCKOUT_THRESHOLD = 5
LOCKOUT_BASE_SECONDS = 30
LOCKOUT_MAX_SECONDS = 15 * 60
LAST_USED_GRANULARITY = timedelta(seconds=60)
MAX_ROTATION_GRACE_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret


@dataclass(frozen=True)
class BootstrapResult:
    created: bool
    email: str | None = None
    generated_password: str | None = None


def now() -> datetime:
    return datetime.now(UTC)


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or len(email) > 320 or any(c.isspace() for c in email):
        raise InvalidInput(f"'{email}' is not a valid email address")
    return email


class IdentityService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        tokens: TokenConfig,
        secret: str,
        refresh_ttl_seconds: int,
        api_key_cache_seconds: float = 10.0,
    ) -> None:
        self._uow = uow
        self._tokens = tokens
        self._secret = secret
        self._refresh_ttl = timedelta(seconds=refresh_ttl_seconds)
        self._cache_ttl = api_key_cache_seconds
        self._key_cache: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    # -- first start ----------------------------------------------------------------------
    def bootstrap_admin(self, email: str | None, password: str | None) -> BootstrapResult:
        """Create tenant ``default`` and a platform admin when no user exists yet.

        With no email/password configured, a password is generated and returned once.
        """
        with self._uow.system() as uow:
            if uow.users.any_exist():
                return BootstrapResult(created=False)
            tenant = uow.tenants.find_by_name("default") or uow.tenants.create(name="default")
            uow.flush()
            generated = None
            if not password:
                generated = password = secrets.token_urlsafe(18)
            address = normalise_email(email or "admin@maestro.local")
            uow.users.create(
                tenant_id=tenant.id, email=address, password_hash=hash_password(password, address),
                role=Role.PLATFORM_ADMIN.value,
            )
            uow.commit()
            return BootstrapResult(created=True, email=address, generated_password=generated)

    # -- sessions -------------------------------------------------------------------------
    def login(self, email: str, password: str) -> TokenPair:
        """Exchange email + password for an access token and a refresh token."""
        with self._uow.system() as uow:
            user = uow.users.find_by_email(email.strip().lower())
            if user is not None and user.locked_until and user.locked_until > now():
                wait = int((user.locked_until - now()).total_seconds()) + 1
                raise Unauthenticated(
                    f"account temporarily locked after repeated failures; retry in {wait} s",
                    retry_after=wait,
                )
            if not verify_password(user.password_hash if user else None, password):
                if user is not None:
                    self._record_failure(user)
                    uow.commit()
                raise Unauthenticated("invalid email or password")
            if not user.is_active:
                raise Unauthenticated("this account is disabled; ask a tenant admin")
            user.failed_logins, user.locked_until = 0, None
            pair = self._issue_pair(uow, user, family_id=secrets.token_hex(16))
            uow.commit()
            return pair

    def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate a refresh token; presenting a used one revokes its whole family."""
        with self._uow.system() as uow:
            row = uow.refresh_tokens.find_by_hash(keyed_hash(self._secret, refresh_token))
            if row is None or row.expires_at <= now():
                raise Unauthenticated("refresh token invalid or expired; log in again")
            if row.revoked_at is not None:
                for member in uow.refresh_tokens.family(row.family_id):
                    member.revoked_at = member.revoked_at or now()
                uow.commit()
                raise Unauthenticated("refresh token reuse detected; all sessions revoked")
            user = uow.users.get(row.user_id)
            if not user.is_active:
                raise Unauthenticated("this account is disabled; ask a tenant admin")
            row.revoked_at = now()
            pair = self._issue_pair(uow, user, family_id=row.family_id)
            uow.commit()
            return pair

    def logout(self, refresh_token: str) -> None:
        with self._uow.system() as uow:
            row = uow.refresh_tokens.find_by_hash(keyed_hash(self._secret, refresh_token))
            if row is not None:
                for member in uow.refresh_tokens.family(row.family_id):
                    member.revoked_at = member.revoked_at or now()
                uow.commit()

    def _issue_pair(self, uow: Any, user: Any, family_id: str) -> TokenPair:
        principal = Principal(user.id, user.tenant_id, Role(user.role), user.email)
        refresh = new_refresh_token()
        uow.refresh_tokens.create(
            tenant_id=user.tenant_id, user_id=user.id, family_id=family_id,
            token_hash=keyed_hash(self._secret, refresh), expires_at=now() + self._refresh_ttl,
        )
        return TokenPair(
            access_token=issue_access_token(self._tokens, principal),
            refresh_token=refresh,
            expires_in=self._tokens.access_ttl_seconds,
        )

    @staticmethod
    def _record_failure(user: Any) -> None:
        user.failed_logins += 1
        over = user.failed_logins - LOCKOUT_THRESHOLD
        if over >= 0:
            seconds = min(LOCKOUT_BASE_SECONDS * 2**over, LOCKOUT_MAX_SECONDS)
            user.locked_until = now() + timedelta(seconds=seconds)

    # -- authentication -------------------------------------------------------------------
    def authenticate(self, bearer: str) -> Principal:
        """Resolve a bearer credential (API key or JWT access token) to a principal."""
        if looks_like_api_key(bearer):
            return self._authenticate_key(bearer)
        return decode_access_token(self._tokens, bearer)

    def authenticate_without_io(self, bearer: str) -> Principal | None:
        """The principal when it needs no database (a JWT, or an API key still cached);
        None when ``authenticate`` must look the key up."""
        if not looks_like_api_key(bearer):
            return decode_access_token(self._tokens, bearer)
        cached = self._key_cache.get(keyed_hash(self._secret, bearer))
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        return None

    def authenticate_password(self, email: str, password: str) -> Principal:
        """HTTP basic auth (MLflow clients): verify and return the principal, no tokens."""
        with self._uow.system() as uow:
            user = uow.users.find_by_email(email.strip().lower())
            if not verify_password(user.password_hash if user else None, password):
                raise Unauthenticated("invalid email or password")
            if not user.is_active:
                raise Unauthenticated("this account is disabled; ask a tenant admin")
            return Principal(user.id, user.tenant_id, Role(user.role), user.email)

    def _authenticate_key(self, key: str) -> Principal:
        digest = keyed_hash(self._secret, key)
        cached = self._key_cache.get(digest)
        clock = time.monotonic()
        if cached is not None and cached[1] > clock:
            return cached[0]
        with self._uow.system() as uow:
            row = uow.api_keys.find_by_hash(digest)
            # A rotated key stays valid until its grace period ends (revoked_at ahead).
            if row is None or (row.revoked_at is not None and row.revoked_at <= now()):
                raise Unauthenticated("invalid or revoked API key")
            if row.expires_at is not None and row.expires_at <= now():
                raise Unauthenticated("API key expired; create a new one")
            user = uow.users.get(row.user_id)
            if not user.is_active:
                raise Unauthenticated("the API key's user is disabled")
            if row.last_used_at is None or now() - row.last_used_at > LAST_USED_GRANULARITY:
                row.last_used_at = now()
                uow.commit()
            # A key never grants more than its user currently holds.
            role = min(Role(row.role), Role(user.role), key=lambda r: r.rank)
            principal = Principal(user.id, row.tenant_id, role, user.email, api_key_id=row.id)
        ttl = self._cache_ttl
        for ends in (row.expires_at, row.revoked_at):
            if ends is not None:
                ttl = min(ttl, (ends - now()).total_seconds())
        with self._lock:
            if len(self._key_cache) > 10_000:
                self._key_cache.clear()
            self._key_cache[digest] = (principal, clock + ttl)
        return principal

    def forget_cached_keys(self) -> None:
        with self._lock:
            self._key_cache.clear()

    # -- tenants --------------------------------------------------------------------------
    def create_tenant(self, principal: Principal, name: str) -> Any:
        name = validate_name(name, "tenant name", max_len=128)
        with self._uow.system() as uow:
            if uow.tenants.find_by_name(name) is not None:
                raise AlreadyExists(f"tenant '{name}' already exists")
            tenant = uow.tenants.create(name=name)
            uow.commit()
            return tenant

    def list_tenants(self, principal: Principal, limit: int, cursor: str | None) -> Any:
        if principal.is_platform_admin:
            uow = self._uow.system(write=False)
        else:
            uow = self._uow.for_tenant(principal.tenant_id, write=False)
        with uow:
            return uow.tenants.list(limit=limit, cursor=cursor)

    def get_tenant(self, principal: Principal, tenant_id: str) -> Any:
        if principal.is_platform_admin:
            with self._uow.system(write=False) as uow:
                return uow.tenants.get(tenant_id)
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            return uow.tenants.get(tenant_id)

    def update_tenant_settings(
        self, principal: Principal, tenant_id: str, changes: dict[str, Any]
    ) -> Any:
        target = self._target_tenant(principal, tenant_id)
        with self._uow.for_tenant(target) as uow:
            tenant = uow.tenants.get(target)
            tenant.settings = {**tenant.settings, **changes}
            uow.commit()
            return tenant

    # -- users ----------------------------------------------------------------------------
    def _target_tenant(self, principal: Principal, tenant_id: str | None) -> str:
        """The tenant a user-management call acts on; others' tenants do not exist for you."""
        if tenant_id is None or tenant_id == principal.tenant_id:
            return principal.tenant_id
        if not principal.is_platform_admin:
            raise NotFound.of("tenant", tenant_id)
        with self._uow.system(write=False) as uow:
            uow.tenants.get(tenant_id)
        return tenant_id

    def create_user(
        self, principal: Principal, email: str, password: str, role: str,
        tenant_id: str | None = None,
    ) -> Any:
        """Create a user in the caller's tenant (platform admins: in any tenant)."""
        wanted = parse_role(role)
        if not principal.role.at_least(wanted):
            raise PermissionDenied(f"you cannot grant the role '{wanted.value}' (above your own)")
        target = self._target_tenant(principal, tenant_id)
        address = normalise_email(email)
        password_hash = hash_password(password, address)
        with self._uow.for_tenant(target) as uow:
            with self._uow.system(write=False) as system:
                if system.users.find_by_email(address) is not None:
                    raise AlreadyExists(f"a user with email '{address}' already exists")
            user = uow.users.create(
                tenant_id=target, email=address, password_hash=password_hash, role=wanted.value
            )
            uow.commit()
            return user

    def list_users(self, principal: Principal, limit: int, cursor: str | None) -> Any:
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            return uow.users.list(limit=limit, cursor=cursor)

    def get_user(self, principal: Principal, user_id: str) -> Any:
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            return uow.users.get(user_id)

    def update_user(
        self, principal: Principal, user_id: str, role: str | None, is_active: bool | None,
        password: str | None = None,
    ) -> Any:
        with self._uow.for_tenant(principal.tenant_id) as uow:
            user = uow.users.get(user_id)
            if not principal.role.at_least(Role(user.role)):
                raise PermissionDenied("you cannot change a user whose role is above your own")
            if role is not None:
                wanted = parse_role(role)
                if not principal.role.at_least(wanted):
                    raise PermissionDenied(f"you cannot grant the role '{wanted.value}'")
                user.role = wanted.value
            if is_active is not None:
                if user.id == principal.user_id and not is_active:
                    raise InvalidInput("you cannot disable your own account")
                user.is_active = is_active
            if password is not None:
                user.password_hash = hash_password(password, user.email)
            uow.commit()
        self.forget_cached_keys()
        return user

    def delete_user(self, principal: Principal, user_id: str) -> None:
        with self._uow.for_tenant(principal.tenant_id) as uow:
            user = uow.users.get(user_id)
            if user.id == principal.user_id:
                raise InvalidInput("you cannot delete your own account")
            if not principal.role.at_least(Role(user.role)):
                raise PermissionDenied("you cannot delete a user whose role is above your own")
            uow.users.delete(user)
            uow.commit()
        self.forget_cached_keys()

    # -- API keys -------------------------------------------------------------------------
    def create_api_key(
        self, principal: Principal, name: str, role: str | None, expires_in_days: int | None
    ) -> tuple[Any, str]:
        """Create a key for the caller at no higher role than theirs; the key is shown once."""
        wanted = parse_role(role) if role else principal.role
        if not principal.role.at_least(wanted):
            raise PermissionDenied(
                f"an API key cannot have a role above your own ('{wanted.value}')"
            )
        if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
            raise InvalidInput("expires_in_days must be between 1 and 3650")
        key = new_api_key()
        expires = now() + timedelta(days=expires_in_days) if expires_in_days else None
        with self._uow.for_tenant(principal.tenant_id) as uow:
            row = uow.api_keys.create(
                user_id=principal.user_id, name=validate_name(name, "API key name", max_len=128),
                prefix=display_prefix(key), key_hash=keyed_hash(self._secret, key),
                role=wanted.value, expires_at=expires,
            )
            uow.commit()
            return row, key

    def list_api_keys(self, principal: Principal, limit: int, cursor: str | None) -> Any:
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            where = []
            if not principal.can("api_keys:admin"):
                where.append(uow.api_keys.row.user_id == principal.user_id)
            return uow.api_keys.list(limit=limit, cursor=cursor, where=where)

    def revoke_api_key(self, principal: Principal, key_id: str) -> Any:
        with self._uow.for_tenant(principal.tenant_id) as uow:
            row = uow.api_keys.get(key_id)
            if row.user_id != principal.user_id and not principal.can("api_keys:admin"):
                raise NotFound.of("API key", key_id)
            if row.revoked_at is None or row.revoked_at > now():  # ends a rotation's grace too
                row.revoked_at = now()
            uow.commit()
        self.forget_cached_keys()
        return row

    def rotate_api_key(
        self, principal: Principal, key_id: str, grace_seconds: int = 0
    ) -> tuple[Any, str]:
        """Replace a key with a new one (same owner, name, role and lifetime), shown once.

        The old key keeps working for ``grace_seconds`` (0: revoked at once, at most 7
        days) so clients can switch over without an outage.
        """
        if not 0 <= grace_seconds <= MAX_ROTATION_GRACE_SECONDS:
            raise InvalidInput(
                f"grace_seconds must be between 0 and {MAX_ROTATION_GRACE_SECONDS} (7 days)"
            )
        key = new_api_key()
        with self._uow.for_tenant(principal.tenant_id) as uow:
            old = uow.api_keys.get(key_id)
            if old.user_id != principal.user_id and not principal.can("api_keys:admin"):
                raise NotFound.of("API key", key_id)
            if not principal.role.at_least(Role(old.role)):
                raise PermissionDenied("you cannot rotate a key whose role is above your own")
            if old.revoked_at is not None:
                raise Conflict("this API key was already revoked or rotated")
            if old.expires_at is not None and old.expires_at <= now():
                raise Conflict("this API key has expired; create a new one")
            lifetime = old.expires_at - old.created_at if old.expires_at else None
            row = uow.api_keys.create(
                user_id=old.user_id, name=old.name, prefix=display_prefix(key),
                key_hash=keyed_hash(self._secret, key), role=old.role,
                expires_at=now() + lifetime if lifetime else None,
            )
            old.revoked_at = now() + timedelta(seconds=grace_seconds)
            uow.commit()
        self.forget_cached_keys()
        return row, key
