"""Workspace logs: logs/autotrain_pipeline.log (everything) and logs/autotrain_errors.log (errors), rotated.

Opened only once a run starts writing, so a rejected request or a --dry-run leaves the workspace untouched.
"""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

from autotrain_gradio.events import scrub
from autotrain_gradio.workspace import logs_dir

LOGGER_NAME = "autotrain.pipeline"
MAX_BYTES, BACKUPS = 5 * 1024 * 1024, 3


class _Scrub(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub(record.getMessage()), None
        return True


def pipeline_logger(root: Path) -> logging.Logger:
    """The pipeline logger with rotating file handlers in <root>/logs (added once per workspace)."""
    logger = logging.getLogger(f"{LOGGER_NAME}.{root}")
    if logger.handlers:
        return logger
    folder = logs_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    for filename, level in (("autotrain_pipeline.log", logging.INFO), ("autotrain_errors.log", logging.ERROR)):
        handler = RotatingFileHandler(folder / filename, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
        handler.setLevel(level)
        handler.setFormatter(fmt)
        handler.addFilter(_Scrub())
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger
