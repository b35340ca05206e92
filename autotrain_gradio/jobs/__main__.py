"""`python -m autotrain_gradio.jobs --workspace W`: the background worker that drains the workspace's queue.

A module of its own, so running it does not re-import `scheduler` (which the package's __init__ already loaded)."""

import sys

from autotrain_gradio.jobs.scheduler import main

sys.exit(main())
