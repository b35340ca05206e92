"""The pipeline's Python API: the same phases and parameters as `autotrain pipeline run|batch|prepare`.

    from autotrain_gradio.pipeline import run_pipeline, run_batch_pipeline
    result = run_pipeline("photos/", "TinyFluxLORA", immediate=True)
    result.exit_code, result.phases, result.config_path
    if run_pipeline(dataset_path="photos/", profile="TinyFluxLORA", max_steps=20):  # a failed run is falsy
        run_batch_pipeline(datasets_dir="sets/", profile="TinyFluxLORA")  # or dataset_paths=["a", "b"]
"""

from autotrain_gradio.pipeline.batch import BatchResult, discover_datasets, run_batch_pipeline
from autotrain_gradio.pipeline.request import RunRequest
from autotrain_gradio.pipeline.run import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PARTIAL,
    PhaseResult,
    PipelineResult,
    plan_dataset,
    run_pipeline,
)

__all__ = [
    "EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_OK", "EXIT_PARTIAL", "BatchResult", "PhaseResult", "PipelineResult",
    "RunRequest",
    "discover_datasets", "plan_dataset", "run_batch_pipeline", "run_pipeline",
]
