"""Password hashing with argon2id and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from maestro_ml.domain.errors import InvalidInput

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verifying against this keeps login time equal whether or not the account exists.
_DUMMY_HASH = _hasher.hash("maestro-timing-equaliser")

MIN_LENGTH = 12
MAX_LENGTH = 256


def hash_password(password: str) -> str:
    check_password_policy(password)
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def check_password_policy(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"password must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"password must be at most {MAX_LENGTH} characters long")
    if len(set(password)) < 5:
        raise InvalidInput("password is too repetitive; use at least 5 different characters")
