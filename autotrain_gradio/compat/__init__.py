"""A drop-in for AutoTrain Advanced users: its YAML configs, its task names, its per-task commands and its REST wire
format, all mapped onto our one `RunRequest` (nothing here trains or re-declares a parameter).

- `yaml_config`: AutoTrain's YAML schema (task, base_model, project_name, log, backend, data, params, hub) and every
  task name it knows -> RunRequest; `autotrain --config FILE.yml`, `autotrain pipeline run --config FILE.yml`.
- `commands`: `autotrain llm|text-classification|... --train ...` with AutoTrain's flags, generated from TASKS.
- `rest`: AutoTrain's /api/create_project, /api/logs, /api/stop_training/{jid} beside our routes, and the
  standalone `autotrain api` server.

AutoTrain's parameter names themselves are aliases declared on our config fields (config.py, tasks/*/config.py).
Imports nothing heavy: no torch.
"""
