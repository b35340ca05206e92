"""What the app offers: the profiles whose task's libraries are installed here, in every mode (local, login, Space).
The others are listed apart, greyed, with the pip command that adds them (tasks.missing_install); validate refuses
them with the same command, so the API and the CLI agree with the page."""

from __future__ import annotations

import html

from autotrain_gradio.profiles import Profile
from autotrain_gradio.tasks import missing_install


def offered(profiles: dict[str, Profile]) -> list[str]:
    """The names to choose from, sorted: profiles whose task can train here."""
    return sorted(name for name, prof in profiles.items() if missing_install(prof.task) is None)


def not_installed_html(profiles: dict[str, Profile]) -> str:
    """The profiles left out, grouped by the pip command that adds them; '' when nothing is missing."""
    by_command: dict[str, list[str]] = {}
    for name, prof in sorted(profiles.items()):
        if command := missing_install(prof.task):
            by_command.setdefault(command, []).append(name)
    if not by_command:
        return ""
    items = "".join(f"<li>{html.escape(', '.join(names))}: <code>{html.escape(command, quote=False)}</code></li>"
                    for command, names in by_command.items())
    return (f"<div class='not-installed' style='opacity:0.55'>Not installed here (install, then restart the app):"
            f"<ul>{items}</ul></div>")
