"""Basic-auth password hashing for stations (argon2id, the PasswordHasher's parameters and encoding).

The salt is derived from the command that set the password (`salt_seed`), not drawn at random: it is still unique
per password change and not secret, and replaying the command log rebuilds the very same store. The edge checks a
password with `argon2.PasswordHasher().verify(hash, password)`. The password itself is never logged nor emitted.
"""

from __future__ import annotations

import hashlib

from argon2 import PasswordHasher, Type
from argon2.exceptions import VerificationError
from argon2.low_level import hash_secret

_PARAMETERS = PasswordHasher()  # only read for its default cost parameters


def hash_password(password: str, salt_seed: str) -> str:
    """The argon2id hash (PHC string) of `password`, salted from `salt_seed`."""
    salt = hashlib.blake2b(salt_seed.encode(), digest_size=16, person=b"csms-station-pw").digest()
    return hash_secret(
        password.encode(), salt, time_cost=_PARAMETERS.time_cost, memory_cost=_PARAMETERS.memory_cost,
        parallelism=_PARAMETERS.parallelism, hash_len=_PARAMETERS.hash_len, type=Type.ID,
    ).decode()


def verify_password(password_hash: str, password: str) -> bool:
    """Whether `password` matches `password_hash` (as the edge checks it)."""
    try:
        return PasswordHasher().verify(password_hash, password)
    except VerificationError:
        return False
