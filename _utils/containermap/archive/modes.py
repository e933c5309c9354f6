"""``apply_chown`` / ``apply_chmod`` arguments: parsing and application to mode bits.

``chown``: ``'user'``, ``'user:group'``, ``':group'``, ``'user:'`` (the user's login group, as
``chown`` does), numeric ids or names of the local host, an int (uid) or a ``(uid, gid)`` pair.
Result ``(uid, gid)`` with -1 for "leave unchanged".

``chmod``: octal digits as a string (``'750'``, ``'0o2750'``; special bits only when written),
an int mode value (``0o750``, as for ``os.chmod``), or a symbolic mode as ``chmod`` takes it
(``'u=rwX,g=rX,o='``, ``'go-w'``, ``'+x'``, ``'g=u'``); the umask is not consulted (a clause without
``ugoa`` means ``a``). ``True`` means ``'u=rwX,g=rX,o='`` (owner read/write, group read, others
nothing, as docker-fabric documented). Salt passes YAML numbers such as ``750``: the Salt adapter
must turn them into the string ``'750'`` (like ``salt.utils.files.normalize_mode``).
"""

from __future__ import annotations

import grp
import pwd
import re
from collections.abc import Callable

from ..exceptions import ConfigurationError

DEFAULT_SYMBOLIC = "u=rwX,g=rX,o="

_CLASS_SHIFT = {"u": 6, "g": 3, "o": 0}
_CLAUSE = re.compile(r"^([ugoa]*)((?:[-+=](?:[rwxXst]*|[ugo]))+)$")
_OP = re.compile(r"([-+=])([ugo]|[rwxXst]*)")


def _lookup_user(spec: str) -> tuple[int, int]:
    if spec.isdigit():
        return int(spec), -1
    try:
        entry = pwd.getpwnam(spec)
    except KeyError:
        raise ConfigurationError(f"apply_chown: no user {spec!r} on this host") from None
    return entry.pw_uid, entry.pw_gid


def _lookup_group(spec: str) -> int:
    if spec.isdigit():
        return int(spec)
    try:
        return grp.getgrnam(spec).gr_gid
    except KeyError:
        raise ConfigurationError(f"apply_chown: no group {spec!r} on this host") from None


def parse_chown(spec: str | int | tuple[int, int] | list | None) -> tuple[int, int] | None:
    """``(uid, gid)`` (-1 = unchanged) for an ``apply_chown`` value; None for no change."""
    if spec is None or spec is False or spec == "":
        return None
    if isinstance(spec, bool):
        raise ConfigurationError("apply_chown: give a user[:group], not True")
    if isinstance(spec, int):
        return spec, -1
    if isinstance(spec, (tuple, list)) and len(spec) == 2:
        return int(spec[0]), int(spec[1])
    if not isinstance(spec, str):
        raise ConfigurationError(f"apply_chown: cannot use {spec!r} (expected 'user[:group]')")
    user, sep, group = spec.strip().partition(":")
    uid, login_gid = _lookup_user(user) if user else (-1, -1)
    if group:
        gid = _lookup_group(group)
    elif sep and user:
        if login_gid == -1:
            try:
                login_gid = pwd.getpwuid(uid).pw_gid
            except KeyError:
                raise ConfigurationError(f"apply_chown: user {user!r} has no login group here") from None
        gid = login_gid
    else:
        gid = -1
    if uid == -1 and gid == -1:
        raise ConfigurationError(f"apply_chown: cannot use {spec!r} (expected 'user[:group]')")
    return uid, gid


def _symbolic(spec: str) -> Callable[[int, bool], int]:
    clauses = []
    for clause in spec.split(","):
        match = _CLAUSE.match(clause.strip())
        if not match:
            raise ConfigurationError(f"apply_chmod: invalid mode {spec!r} (clause {clause!r})")
        who = match.group(1).replace("a", "ugo") or "ugo"
        clauses.append((set(who), _OP.findall(match.group(2))))

    def apply(mode: int, is_dir: bool) -> int:
        for who, ops in clauses:
            who_mask = sum(0o7 << _CLASS_SHIFT[c] for c in who)
            for op, perms in ops:
                if perms in _CLASS_SHIFT:  # copy another class's bits: g=u
                    bits = (mode >> _CLASS_SHIFT[perms]) & 0o7
                    value = sum(bits << _CLASS_SHIFT[c] for c in who)
                else:
                    rwx = 0
                    rwx |= 4 if "r" in perms else 0
                    rwx |= 2 if "w" in perms else 0
                    rwx |= 1 if "x" in perms or ("X" in perms and (is_dir or mode & 0o111)) else 0
                    value = sum(rwx << _CLASS_SHIFT[c] for c in who)
                    if "s" in perms:
                        value |= (0o4000 if "u" in who else 0) | (0o2000 if "g" in who else 0)
                    if "t" in perms:
                        value |= 0o1000
                if op == "+":
                    mode |= value
                elif op == "-":
                    mode &= ~value
                else:
                    special = (0o4000 if "u" in who else 0) | (0o2000 if "g" in who else 0)
                    special |= 0o1000 if who == {"u", "g", "o"} else 0
                    mode = (mode & ~(who_mask | special)) | value
        return mode & 0o7777

    return apply


def parse_chmod(spec: str | int | bool | None) -> Callable[[int, bool], int] | None:
    """A function ``(mode, is_dir) -> mode`` for an ``apply_chmod`` value; None for no change."""
    if spec is None or spec is False or spec == "":
        return None
    if spec is True:
        spec = DEFAULT_SYMBOLIC
    if isinstance(spec, int):
        if not 0 <= spec <= 0o7777:
            raise ConfigurationError(f"apply_chmod: mode {spec!r} out of range")
        value = spec
        return lambda mode, is_dir: value
    if not isinstance(spec, str):
        raise ConfigurationError(f"apply_chmod: cannot use {spec!r}")
    text = spec.strip()
    digits = text[2:] if text.lower().startswith("0o") else text
    if digits.isdigit():
        if not re.fullmatch(r"[0-7]{1,4}", digits):
            raise ConfigurationError(f"apply_chmod: invalid octal mode {spec!r}")
        value = int(digits, 8)
        return lambda mode, is_dir: value
    return _symbolic(text)
