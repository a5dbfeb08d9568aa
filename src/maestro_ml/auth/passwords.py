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

# The most common passwords of policy length (from public breach-frequency lists), compared
# case-insensitively: long enough is not good enough when everyone picks the same one.
COMMON_PASSWORDS = frozenset({
    "123456789012", "1234567890123", "12345678901234", "123456789123", "111111111111",
    "000000000000", "123123123123", "1q2w3e4r5t6y", "1qaz2wsx3edc", "qwertyuiop12",
    "qwertyuiop123", "qwertyuiopasdf", "qwerty123456", "qwerty1234567", "asdfghjkl123",
    "zxcvbnm12345", "password1234", "password12345", "password123456", "password1234!",
    "passwordpassword", "password1!password", "p@ssw0rd1234", "p@ssword1234", "passw0rd1234",
    "iloveyou1234", "iloveyouiloveyou", "welcome12345", "welcome123456", "letmein12345",
    "letmeinletmein", "changeme1234", "changeme12345", "changemechangeme", "administrator",
    "administrator1", "admin1234567", "adminadmin123", "rootroot1234", "trustno1trustno1",
    "sunshine1234", "princess1234", "football1234", "baseball1234", "superman1234",
    "dragon123456", "monkey123456", "michael12345", "abcdefghijkl", "abc123abc123",
    "abcd1234abcd", "aa123456789a", "secret123456", "mypassword123", "qazwsxedcrfv",
})


def hash_password(password: str, email: str | None = None) -> str:
    check_password_policy(password, email)
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def check_password_policy(password: str, email: str | None = None) -> None:
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"password must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"password must be at most {MAX_LENGTH} characters long")
    if len(set(password)) < 5:
        raise InvalidInput("password is too repetitive; use at least 5 different characters")
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS:
        raise InvalidInput("password is one of the most commonly used passwords; choose another")
    if email:
        address = email.strip().lower()
        if lowered in (address, address.partition("@")[0]):
            raise InvalidInput("password must not be your email address")
