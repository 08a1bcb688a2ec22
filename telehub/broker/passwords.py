"""Mosquitto 2 `$7$` password hashes (what `mosquitto_passwd` writes and `devices.credential_hash`
holds), broker usernames, and the owner-only files they are written to."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import tempfile
from collections.abc import Iterable
from pathlib import Path

from telehub.domain.record_ids import is_ascii_digits
from telehub.errors import ConfigError
from telehub.mqtt.topics import DEVICE_ID_PATTERN

# mosquitto_passwd's own count (Mosquitto 2.0). The count is stored in each hash,
# so a higher one can be chosen later without invalidating the hashes already issued.
HASH_ITERATIONS = 101
SALT_BYTES = 12      # as mosquitto_passwd
DIGEST_BYTES = 64    # SHA-512
HASH_PREFIX = "$7$"


def hash_mosquitto_password(password: str, *, iterations: int = HASH_ITERATIONS,
                            salt: bytes | None = None) -> str:
    """A Mosquitto 2 password hash: `$7$<iterations>$<b64 salt>$<b64 PBKDF2-SHA512>`."""
    if not password:
        raise ValueError("an empty password cannot be hashed")
    if iterations < 1:
        raise ValueError("iterations must be positive")
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, DIGEST_BYTES)
    return (f"{HASH_PREFIX}{iterations}${base64.b64encode(salt).decode()}"
            f"${base64.b64encode(digest).decode()}")


def split_hash(stored: str) -> tuple[int, bytes, bytes] | None:
    """(iterations, salt, digest) of a `$7$` hash; None when it is not one."""
    parts = stored.split("$")
    # "$7$101$salt$hash".split("$") == ["", "7", "101", "salt", "hash"]
    if len(parts) != 5 or parts[0] or parts[1] != "7" or not is_ascii_digits(parts[2]):
        return None
    try:
        salt = base64.b64decode(parts[3], validate=True)
        digest = base64.b64decode(parts[4], validate=True)
    except ValueError:
        return None
    iterations = int(parts[2])
    if iterations < 1 or not salt or len(digest) != DIGEST_BYTES:
        return None
    return iterations, salt, digest


def is_mosquitto_hash(value: str | None) -> bool:
    """True when `value` is a well-formed Mosquitto `$7$` hash."""
    return value is not None and split_hash(value) is not None


def verify_mosquitto_password(stored: str | None, password: str) -> bool:
    """True when `password` matches a `$7$` hash (constant-time); False otherwise."""
    parts = split_hash(stored) if stored else None
    if parts is None:
        return False
    iterations, salt, digest = parts
    candidate = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, DIGEST_BYTES)
    return hmac.compare_digest(candidate, digest)


def check_username(name: str) -> str:
    """`name` if it is safe as a broker username and ACL `%u`; else ConfigError.

    Device ids already follow this pattern; holding service users to it keeps
    `:` out of the password file and MQTT wildcards (`+`, `#`) and `/` out of
    the topics that `%u` expands to.
    """
    if not DEVICE_ID_PATTERN.fullmatch(name):
        raise ConfigError(f"'{name}' cannot be a broker username: use 2-64 letters, digits, "
                          "'.', '_' or '-', starting with a letter or digit.")
    return name


def write_password_file(entries: Iterable[tuple[str, str]], path: Path) -> int:
    """Write `username:hash` lines (mode 0600, replaced atomically); returns how many.

    Every hash must already be a `$7$` hash: plain passwords never reach the disk.
    """
    lines = []
    seen: set[str] = set()
    for username, password_hash in entries:
        check_username(username)
        if username in seen:
            raise ConfigError(f"broker username '{username}' appears twice.")
        if not is_mosquitto_hash(password_hash):
            raise ConfigError(f"the password of '{username}' is not a Mosquitto $7$ hash.")
        seen.add(username)
        lines.append(f"{username}:{password_hash}\n")
    write_private(path, "".join(lines))
    return len(lines)


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by its owner only, replacing any old file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
