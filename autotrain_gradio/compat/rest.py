"""AutoTrain Advanced's REST wire format beside ours, over the same job functions (ui/actions.py), and the
standalone `autotrain api` server.

AutoTrain's client posts to /api/create_project {project_name, task, base_model, hardware, params, username,
column_mapping, hub_dataset, train_split, valid_split} and gets {message, job_id, success}; /api/logs {"jid"} ->
{logs, success, message}; /api/stop_training/{jid} (its client) or /api/stop_training {"jid"} (its server) ->
{message, success}. `hub_dataset` is a Hub id or a path this caller may read; `hardware` names AutoTrain's Spaces
hardware: a server trains on its own machine, so it is ignored, and the response says so. ui/api.py serves these
beside ours; compat/api_server.py is `autotrain api`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, ValidationError

from autotrain_gradio.compat.yaml_config import LOCAL_BACKENDS, from_autotrain
from autotrain_gradio.config import ConfigError


class AutoTrainProject(BaseModel):
    """The body AutoTrain's client sends to /api/create_project."""

    project_name: str = Field(..., description="the run's name")
    task: str = Field(..., description="AutoTrain's task: llm:sft, text-classification, st:pair, vlm:vqa, ...")
    base_model: str = Field(..., description="Hub id or server folder of the base model")
    hardware: str = Field("local", description="AutoTrain's hardware (spaces-a10g-large, ...): ignored here")
    params: dict[str, Any] = Field(default_factory=dict, description="AutoTrain's parameters (its names)")
    username: str = Field("", description="Hub namespace the model is pushed under")
    column_mapping: dict[str, Any] | None = None
    hub_dataset: str = Field(..., description="Hub dataset id, or a server path this caller may read")
    train_split: str = "train"
    valid_split: str | None = None


def is_autotrain_body(body: dict[str, Any]) -> bool:
    """AutoTrain's create_project body (it names a task and a hub_dataset; ours a profile and a dataset)."""
    return "task" in body or "hub_dataset" in body


def create_project(ctx: Any, who: Any, body: dict[str, Any]) -> dict[str, Any]:
    """AutoTrain's create_project for this caller: its body read as an AutoTrain config, then the app's own start
    path (sharing rules, quotas, the caller's token for the job)."""
    from autotrain_gradio.ui import actions

    try:
        project = AutoTrainProject.model_validate(body)
        run = from_autotrain({"task": project.task, "base_model": project.base_model,
                              "project_name": project.project_name,
                              "data": {"path": project.hub_dataset, "train_split": project.train_split,
                                       "valid_split": project.valid_split,
                                       "column_mapping": project.column_mapping or {}},
                              "params": project.params,
                              "hub": {"username": project.username} if project.username else {}},
                             "create_project", workspace=str(ctx.root))
    except ValidationError as err:
        raise actions.ActionError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()),
                                  422) from None
    except ConfigError as err:
        raise actions.ActionError(str(err), 400) from None
    notes = list(run.notes)
    if project.hardware not in LOCAL_BACKENDS:
        notes.append(f"hardware {project.hardware} is ignored: this server trains on its own machine")
    req = run.request
    result = actions.run_request(ctx, who, req.dataset_path, req.profile, dataset_name=req.dataset_name,
                                 overrides=req.config, column_mapping=req.column_mapping,
                                 train_split=req.train_split, valid_split=req.valid_split, dry_run=False)
    if result.errors:
        raise actions.ActionError(result.errors[0], 403 if "may not train" in result.errors[0] else 400)
    return {"message": "Project created", "job_id": result.job_id, "success": True, "project_name": result.name,
            "notes": notes}


def logs_text(answer: dict[str, Any]) -> str:
    """Our job_logs answer as AutoTrain's one `logs` text: the job's own log lines, then the trainer's output."""
    lines = [line if isinstance(line, str) else " ".join(str(v) for v in line) for line in answer.get("lines", [])]
    return "\n".join([*lines, answer.get("raw_tail", "")]).strip()
