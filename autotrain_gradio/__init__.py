"""autotrain-gradio: one pipeline (validate -> prepare -> configure -> train -> monitor) behind a Gradio app,
a CLI and a Python API."""

__version__ = "0.1.0"
