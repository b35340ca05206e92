"""A Space builds from the repository as pushed: README.md's front matter (kept short, the README's first screen
unchanged below it) and requirements.txt at the root, installing every library the offered tasks need. A task whose
libraries are missing is refused at validate with the pip command, and `autotrain profiles` says so."""

from __future__ import annotations

import re
import sys
from importlib.metadata import packages_distributions

import gradio as gr
import tomllib
import yaml

from autotrain_gradio import cli
from autotrain_gradio.pipeline import run_pipeline
from autotrain_gradio.tasks import TASK_EXTRAS, TASKS, missing_install
from tests.packaging import REPO

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
README = (REPO / "README.md").read_text(encoding="utf-8")
# Beyond the tasks' own extras, a Space needs quantized bases (the GPU-sized Flux profiles) and the HF sign-in.
SPACE_EXTRAS = sorted({extra for needs in TASK_EXTRAS.values() for extra in needs.values()} | {"quant", "space"})


def _name(requirement: str) -> str:
    return re.split(r"[<>=;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_readme_front_matter_configures_the_space_and_the_first_screen_is_unchanged():
    _, front, body = README.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert len(front.splitlines()) <= 10 and README.startswith("---\n")  # short: GitHub shows it as a table
    assert (meta["sdk"], meta["app_file"], meta["hf_oauth"]) == ("gradio", "app.py", True)
    assert meta["sdk_version"] == gr.__version__ and (REPO / meta["app_file"]).is_file()
    assert {"write-repos", "manage-repos"} <= set(meta["hf_oauth_scopes"])  # push_to_hub creates the visitor's repo
    assert body.startswith("# autotrain-gradio\n")
    first_block = body.split("```bash\n", 1)[1].split("```", 1)[0]
    assert [ln for ln in first_block.splitlines() if ln and not ln.startswith("#")] == [
        "pip install torch==2.13.0 -e . && autotrain demo",
        'pip install torch==2.13.0 -e ".[dev]" && ruff check . && python -m pytest']
    assert not (REPO / "space").exists()  # nothing to copy by hand any more


def test_space_requirements_are_the_dependencies_and_every_offered_tasks_extras():
    lines = [ln for ln in (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines()
             if ln.strip() and not ln.startswith("#")]
    wanted = [d for d in PROJECT["dependencies"] if _name(d) != "gradio"]
    wanted += [d for extra in SPACE_EXTRAS for d in PROJECT["optional-dependencies"][extra]]
    assert sorted(set(lines)) == sorted(set(wanted)), "requirements.txt should list:\n" + "\n".join(wanted)
    assert "gradio" not in {_name(ln) for ln in lines}  # the Space image's gradio is sdk_version


def test_task_extras_name_the_extra_that_installs_each_module():
    dists = packages_distributions()
    for task, needs in TASK_EXTRAS.items():
        assert task in TASKS
        for module, extra in needs.items():
            declared = {_name(d) for d in PROJECT["optional-dependencies"][extra]}
            installed = {_name(d) for d in dists[module]}
            assert installed & declared, (task, module, extra, installed, declared)
    assert all(missing_install(task) is None for task in TASKS)  # this test machine has every extra


def test_a_task_whose_library_is_missing_is_refused_at_validate_and_marked_in_profiles(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "trl", None)  # how Python marks a module that cannot be imported
    command = "pip install 'autotrain-gradio[llm]'"
    assert missing_install("llm") == missing_install("vlm") == command and missing_install("seq2seq") is None
    data = tmp_path / "chat.csv"
    data.write_text("text\nhello there\n", encoding="utf-8")
    result = run_pipeline(str(data), "TinyLLM", workspace=str(tmp_path / "ws"), dry_run=True)
    assert result.exit_code == 2
    assert result.errors == [f"profile TinyLLM trains llm, whose libraries are not installed here: {command}"]
    assert not (tmp_path / "ws" / "output").exists()
    assert cli.main(["--workspace", str(tmp_path / "ws"), "profiles"]) == 0
    lines = {ln.split()[0]: ln for ln in capsys.readouterr().out.splitlines()}
    assert lines["LLM-SFT"].endswith(f"[not installed: {command}]") and "not installed" not in lines["TinyFluxLORA"]
