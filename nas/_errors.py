"""One-line messages for storage failures a user can fix, with secrets masked.

Used by the CLI (and the service) instead of a traceback: each names the storage URL
with its password replaced by ``***`` and says what to do.
"""

from __future__ import annotations

import errno
import os

from storage.engine import mask_url, resolve_url, sqlite_path

_HINTS = (  # (text in the driver's message, what to do)
    ("connection refused", "is the PostgreSQL server running and listening there?"),
    ("could not translate host name", "check the host name in the URL"),
    ("timeout expired", "is the host reachable (firewall, VPN)?"),
    ("does not exist", "check the database and user names in the URL (createdb NAME creates a database)"),
    ("password authentication failed", "check the user and password in the URL"),
    ("no password supplied", "put the password in the URL, or in ~/.pgpass (which keeps it off the command line)"),
    ("readonly database", "the file or its directory is read-only: run on a writable path; "
                          "nas studies/pareto/trials can still read it"),
    ("read-only file system", "the file system is read-only: run on a writable path; "
                              "nas studies/pareto/trials can still read it"),
    ("unable to open database file", "check that the directory exists and is readable and writable"),
    ("file is not a database", "the file is not a SQLite database: check --storage"),
    ("permission denied", "check the permissions of the database file and its directory"),
)


def mask_secrets(text: str, storage: str | None) -> str:
    """``text`` with the storage URL's password (and the URL itself) masked."""
    try:
        url = resolve_url(storage)
    except Exception:
        url = storage or os.environ.get("NAS_STORAGE") or ""
    if not url:
        return text
    text = text.replace(url, mask_url(url))
    password = _password(url)
    return text.replace(password, "***") if password else text


def _password(url: str) -> str | None:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).password  # type: ignore[return-value]
    except Exception:
        return None


def _on_read_only_fs(storage: str | None) -> bool:
    try:
        path = sqlite_path(resolve_url(storage))
        return bool(path and os.statvfs(os.path.dirname(os.path.abspath(path))).f_flag & os.ST_RDONLY)
    except (OSError, ValueError):
        return False


def storage_message(e: BaseException, storage: str | None) -> str | None:
    """A one-line description of a storage failure ``e``, or None when it is not one."""
    from sqlalchemy.exc import ArgumentError, DBAPIError

    fs_error = isinstance(e, OSError) and e.errno in (errno.EROFS, errno.EACCES, errno.ENOSPC)
    if not (isinstance(e, DBAPIError | ArgumentError) or fs_error):
        return None
    try:
        where = mask_url(resolve_url(storage))
    except Exception:
        where = "the storage URL"
    detail = str(getattr(e, "orig", None) or e).strip().splitlines()
    first = detail[0] if detail else type(e).__name__
    low = " ".join(detail).lower() + (" read-only file system" if _on_read_only_fs(storage) else "")
    hint = next((h for key, h in _HINTS if key in low), "check --storage / $NAS_STORAGE")
    return mask_secrets(f"cannot use storage {where}: {first} ({hint})", storage)
