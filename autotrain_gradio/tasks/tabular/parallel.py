"""Optuna trials in parallel processes (`parallel_trials` > 1), sharing the study file output/<name>/study.db.

Each worker process (forked: it shares the fitted preprocessing and the data) asks the shared study for a trial, fits
it and tells the result. A trial is taken under a file lock that counts the study's finished and running trials, so
exactly num_trials run and none twice. The trainer's own process only watches: it writes the step / eval events of
each trial as the study file records it, copies the best trial's model to model.joblib, and passes a stop on to the
workers (they finish no new trial; the one running is dropped). A trial left running by a killed or stopped worker is
marked failed without an error of ours on --resume: it is not counted, and a fresh trial runs in its place.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from filelock import FileLock
from optuna.trial import TrialState

WorkerResult = Callable[[optuna.Trial], float]


def drop_unfinished(study: optuna.Study) -> None:
    """Trials a stopped or killed worker left running: failed, without an error of ours (not counted)."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)


def _work(index: int, num_trials: int, seed: int, db: Path, storage: Callable[[], Any], study_name: str,
          run_trial: WorkerResult, save_model: Callable[[int], bool], counted: Callable, stop: Any,
          ctx: Any) -> None:
    """One worker: take a trial while fewer than num_trials are taken, fit it, record it; stop on request."""
    study = optuna.load_study(study_name=study_name, storage=storage(),
                              sampler=optuna.samplers.TPESampler(seed=seed + 7919 * (index + 1)))
    while not (stop.is_set() or ctx.stop_requested):
        with FileLock(str(db) + ".lock"):
            trials = study.get_trials(deepcopy=False)
            if sum(1 for t in trials if counted(t) or t.state == TrialState.RUNNING) >= num_trials:
                return
            trial = study.ask()
        trial.set_user_attr("worker", os.getpid())
        try:
            value = run_trial(trial)
        except ValueError:  # the library refused the sampled combination: counted (run_trial recorded why)
            study.tell(trial, state=TrialState.FAIL)
            continue
        except Exception:  # noqa: BLE001 - a stop inside the trial (or a crash): not counted, runs again on resume
            study.tell(trial, state=TrialState.FAIL)
            return
        if stop.is_set() or ctx.stop_requested:  # finished after the stop: still a finished trial
            study.tell(trial, value)
            save_model(trial.number)
            return
        save_model(trial.number)  # before tell: the watcher may copy it as soon as it is recorded
        study.tell(trial, value)


def optimize(cfg: Any, ctx: Any, saved: optuna.Study, db: Path, storage: Callable[[], Any], study_name: str,
             run_trial: WorkerResult, save_model: Callable[[int], bool], counted: Callable,
             on_trial: Callable[[optuna.trial.FrozenTrial], None]) -> None:
    """Run the study's remaining trials in cfg.parallel_trials worker processes; `on_trial` gets each counted trial
    (in this process, in the order the study records them)."""
    drop_unfinished(saved)
    seen = {t.number for t in saved.get_trials(deepcopy=False) if t.state != TrialState.RUNNING}
    fork = multiprocessing.get_context("fork")
    stop = fork.Event()
    workers = [fork.Process(target=_work, args=(i, cfg.num_trials, cfg.seed + len(seen), db, storage, study_name,
                                                run_trial, save_model, counted, stop, ctx), daemon=True)
               for i in range(cfg.parallel_trials)]
    for worker in workers:
        worker.start()

    def report() -> None:
        for trial in sorted(saved.get_trials(deepcopy=False), key=lambda t: t.number):
            if trial.number not in seen and trial.state in (TrialState.COMPLETE, TrialState.FAIL):
                seen.add(trial.number)
                if counted(trial):
                    on_trial(trial)

    alive = workers
    while alive:
        if ctx.stop_requested:
            stop.set()
        alive[0].join(timeout=0.5)  # a worker's end, or half a second: then the study file's news
        report()
        alive = [w for w in workers if w.is_alive()]
    report()


def keep_trial_model(model_dir: Path, number: int) -> None:
    """The trial's saved model becomes model.joblib."""
    source = model_dir / "trials" / f"{number}.joblib"
    if source.exists():
        shutil.copyfile(source, model_dir / "model.joblib")
