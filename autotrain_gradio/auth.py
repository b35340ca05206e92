"""Who is calling, and what they may do: the rules that make one app safe to share.

Three modes. `local` (the default): one person on their own machine; no login, every job is theirs (owner '').
`login` (`autotrain app --auth user:password`): Gradio's login page; each login owns its uploads, runs and jobs.
`space` (on when SPACE_ID is set, or `autotrain app --space`): Hugging Face OAuth (a "Sign in" button); each HF
user owns theirs, only the Space owner (or an allow-list of users/orgs) may train, and datasets come from uploads
only. The UI, the named API endpoints, the REST routes and the file downloads all ask this module who the caller
is, and act on that user's own things only. Imports no gradio: a request is anything with `headers` (Starlette's
or Gradio's), optionally `username` and a session.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autotrain_gradio.workspace import is_hub_id

GiB = 1024**3
MODES = ("local", "login", "space")


@dataclass(frozen=True)
class User:
    """A caller. name '' is the local user of an open app; `token` is their own HF token (OAuth or bearer)."""

    name: str
    token: str | None = field(default=None, repr=False)  # never printed, never written
    orgs: tuple[str, ...] = ()

    @property
    def folder(self) -> str:
        """A file-system-safe folder name for this user's uploads (distinct users never share one)."""
        if not self.name:
            return "local"
        safe = re.sub(r"[^A-Za-z0-9_-]+", "_", self.name).strip("_-")[:32] or "user"
        return f"{safe}-{hashlib.sha256(self.name.encode()).hexdigest()[:8]}"


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").replace(";", ",").split(",") if v.strip()]


def parse_logins(items: list[str] | str | None) -> dict[str, str]:
    """'user:password' entries (a list, or one comma-separated string) -> {user: password}."""
    entries = _split(items) if isinstance(items, str) else [e for item in items or [] for e in _split(item)]
    logins = {}
    for entry in entries:
        user, sep, password = entry.partition(":")
        if not sep or not user or not password:
            raise ValueError(f"--auth {entry.split(':')[0]}:…: give each login as user:password")
        logins[user] = password
    return logins


@dataclass
class Access:
    """The sharing rules of one running app (see the module docstring for the modes)."""

    mode: str = "local"
    logins: dict[str, str] = field(default_factory=dict, repr=False)
    api_tokens: dict[str, str] = field(default_factory=dict, repr=False)  # bearer token -> user name
    allowed_users: tuple[str, ...] = ()  # space: users/orgs who may train; empty: the Space owner only
    space_owner: str = ""
    allowed_paths: tuple[Path, ...] = ()  # local/login: server folders a dataset may come from (login: every user)
    user_paths: dict[str, tuple[Path, ...]] = field(default_factory=dict)  # login: folders one user may read
    max_jobs: int = 2  # queued + running, per user (shared modes)
    max_upload_bytes: int = 2 * GiB
    max_disk_bytes: int = 20 * GiB  # a user's uploads + run outputs (shared modes)
    upload_max_age_s: float = 7 * 24 * 3600  # uploads no job uses are removed after this
    tokens: dict[str, str] = field(default_factory=dict, repr=False)  # login: a user's own HF token, memory only

    @classmethod
    def from_settings(cls, root: Path, *, space: bool | None = None, auth: list[str] | str | None = None,
                      allowed_paths: list[str] | None = None, api_token: str | None = None,
                      allowed_users: list[str] | str | None = None, **limits: Any) -> Access:
        """The rules from CLI options, falling back to the environment: SPACE_ID (space mode), AUTOTRAIN_AUTH
        ('user:pw,user2:pw2'), AUTOTRAIN_ALLOWED_PATHS (os.pathsep-separated), AUTOTRAIN_API_TOKEN (the bearer token
        of the local owner), AUTOTRAIN_ALLOWED_USERS (users/orgs who may train in a Space)."""
        space = bool(os.environ.get("SPACE_ID")) if space is None else space
        logins = parse_logins(auth if auth else os.environ.get("AUTOTRAIN_AUTH"))
        mode = "space" if space else ("login" if logins else "local")
        paths = allowed_paths or [p for p in os.environ.get("AUTOTRAIN_ALLOWED_PATHS", "").split(os.pathsep) if p]
        everyone, per_user = _allowed_folders(paths)
        # Local: your own machine, the workspace and home by default. Shared: only what the owner lists.
        folders = everyone or (() if mode != "local" else (root.resolve(), Path.home().resolve()))
        token = api_token or os.environ.get("AUTOTRAIN_API_TOKEN")
        owner_name = "" if mode == "local" else (next(iter(logins), "") if mode == "login" else "")
        users = _split(allowed_users) if isinstance(allowed_users, str) else list(allowed_users or [])
        users = users or _split(os.environ.get("AUTOTRAIN_ALLOWED_USERS"))
        return cls(mode=mode, logins=logins, api_tokens={token: owner_name} if token and mode != "space" else {},
                   allowed_users=tuple(users), space_owner=os.environ.get("SPACE_AUTHOR_NAME", ""),
                   allowed_paths=() if mode == "space" else folders,
                   user_paths={} if mode != "login" else per_user, **limits)

    @property
    def shared(self) -> bool:
        """More than one person uses this app: everything is per user."""
        return self.mode != "local"

    # --- who is calling ------------------------------------------------------------------------------------

    def user_of(self, request: Any) -> User | None:
        """The caller of a Gradio event or a REST route, or None when they are not signed in."""
        if request is None:
            return User("") if not self.shared else None
        name = getattr(request, "username", None)
        if isinstance(name, str) and name and self.mode == "login":
            return User(name, self.tokens.get(name))
        if self.mode == "space" and (info := _oauth_info(request)) is not None:
            userinfo = info.get("userinfo") or {}
            orgs = tuple(o.get("preferred_username", "") for o in userinfo.get("orgs") or [] if isinstance(o, dict))
            return User(userinfo.get("preferred_username") or "", info.get("access_token"), orgs)
        token = bearer(request)
        if token:
            return self.user_of_token(token)
        return None if self.shared else User("")

    def user_of_token(self, token: str) -> User | None:
        """A bearer token's user: a token the owner set (local/login), or in a Space an HF token (whoami)."""
        if token in self.api_tokens:
            return User(self.api_tokens[token], self.tokens.get(self.api_tokens[token]))
        if self.mode == "space":
            from huggingface_hub import whoami

            try:
                info = whoami(token=token)
            except Exception:  # an invalid or revoked token is simply not a user
                return None
            orgs = tuple(o.get("name", "") for o in info.get("orgs") or [])
            return User(info.get("name", ""), token, orgs)
        return None

    def set_token(self, name: str, token: str) -> None:
        """Hold (or with '' forget) a login's own HF token in memory: their jobs get it, nobody else's."""
        if token:
            self.tokens[name] = token
        else:
            self.tokens.pop(name, None)

    # --- what they may do ----------------------------------------------------------------------------------

    def may_train(self, user: User | None) -> str | None:
        """None when this user may validate and start runs, else the one sentence that says why not."""
        if user is None:
            return "sign in first: training needs a signed-in user" + (
                " (the Sign in with Hugging Face button)" if self.mode == "space" else "")
        if self.mode != "space":
            return None
        allowed = set(self.allowed_users) or ({self.space_owner} if self.space_owner else set())
        if user.name in allowed or allowed & set(user.orgs):
            return None
        who = ", ".join(sorted(allowed)) or "the Space owner"
        return (f"{user.name} may not train on this Space (only {who}); duplicate the Space to train on your own "
                "hardware")

    def readable_folders(self, user_name: str) -> tuple[Path, ...]:
        """The server folders (besides their own uploads and runs) this user may name."""
        return (*self.allowed_paths, *self.user_paths.get(user_name, ()))

    def dataset_path_error(self, path: str | Path, uploads: Path, user_name: str = "",
                           what: str = "dataset path") -> str | None:
        """None when this caller may read a server path, else the one sentence that says why not, the same whether
        the path exists or not. `uploads` is the caller's own upload folder (<workspace>/uploads/<user folder>).

        Local mode: their uploads and the allowed folders (default: the workspace and home). Login and Space modes:
        their own uploads, prepared datasets (input/<user folder>--*) and runs (output/<user folder>--*), plus the
        folders the owner listed for everyone or for this user; never anything else inside the workspace (another
        user's folder, the job store), even when a listed folder holds it. A Hub id (user/name that is no path
        here) is no server path and is allowed."""
        if is_hub_id(path):
            return None
        try:
            target = Path(path).expanduser().resolve()
        except (OSError, RuntimeError, ValueError):
            target = None
        uploads = uploads.resolve()
        if target is not None and _inside(target, uploads):
            return None
        if not self.shared:
            if target is not None and any(_inside(target, f) for f in self.allowed_paths):
                return None
            shown = ", ".join(str(f) for f in self.allowed_paths)
            return (f"{what} {path} is outside the folders this app may read ({shown}); upload it, or start the "
                    "app with --allowed-paths naming its folder (in Python: launch(allowed_paths=[...]))")
        root, mine = uploads.parent.parent, f"{uploads.name}--"
        if target is not None and _inside(target, root):
            parts = target.relative_to(root).parts
            if len(parts) >= 2 and parts[0] in ("input", "output") and parts[1].startswith(mine):
                return None
        elif target is not None and any(_inside(target, f) for f in self.readable_folders(user_name)):
            return None
        if self.mode == "space":
            return ("this Space trains on uploaded datasets only; upload images with captions, a table or a zip of "
                    "them")
        shown = ", ".join(str(f) for f in self.readable_folders(user_name))
        return (f"{what} {path} is not one of your uploads or datasets"
                + (f", nor in a folder this app lets you read ({shown})" if shown else "")
                + "; upload it instead")


def looks_local(value: str) -> bool:
    """A setting's value names a server path (not a Hub id, not a `tiny:` model): what the path rules then check."""
    value = str(value or "").strip()
    if not value or value.startswith("tiny:"):
        return False
    return value.startswith(("/", "~", ".")) or Path(value).exists() or ("/" in value and not is_hub_id(value))


def _inside(target: Path, folder: Path) -> bool:
    return target == folder or folder in target.parents


def _allowed_folders(entries: list[str]) -> tuple[tuple[Path, ...], dict[str, tuple[Path, ...]]]:
    """--allowed-paths entries: FOLDER (every user) or USER=FOLDER (that login only)."""
    everyone: list[Path] = []
    per_user: dict[str, list[Path]] = {}
    for entry in entries:
        user, sep, folder = entry.partition("=")
        if sep and user and "/" not in user and folder:
            per_user.setdefault(user, []).append(Path(folder).expanduser().resolve())
        else:
            everyone.append(Path(entry).expanduser().resolve())
    return tuple(everyone), {u: tuple(f) for u, f in per_user.items()}


def bearer(request: Any) -> str | None:
    """The token of an 'Authorization: Bearer <token>' header, if any."""
    headers = getattr(request, "headers", None) or {}
    value = headers.get("authorization") or headers.get("Authorization") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _oauth_info(request: Any) -> dict | None:
    """The HF OAuth session Gradio's login stored in the signed session cookie (None: not signed in)."""
    raw = getattr(request, "request", None) or request  # gr.Request wraps the Starlette request
    try:
        session = raw.session
    except (AssertionError, AttributeError, KeyError):  # no SessionMiddleware: no OAuth in this app
        return None
    info = session.get("oauth_info") if hasattr(session, "get") else None
    if not isinstance(info, dict) or (info.get("expires_at") or 0) < time.time():
        return None
    return info
