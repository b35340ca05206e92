"""Space / local entry point: `python app.py` serves the app over $AUTOTRAIN_WORKSPACE (default: this folder).

On a Hugging Face Space this is the `app_file`; GRADIO_SERVER_NAME / GRADIO_SERVER_PORT set by the Space are
honoured by Gradio itself.
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from autotrain_gradio.ui.server import launch  # noqa: E402

if __name__ == "__main__":
    launch(workspace=os.environ.get("AUTOTRAIN_WORKSPACE"))
