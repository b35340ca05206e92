"""`autotrain api`: the REST routes (AutoTrain's wire format and ours, ui/api.py) served alone, without the UI,
under the same sharing rules as the app (a bearer token; logins make every job its submitter's)."""

from __future__ import annotations

import argparse
from typing import Any


def build_api(workspace: str | None = None, **settings: Any):
    """A FastAPI app with the REST routes only (ours and AutoTrain's), under the app's sharing rules."""
    from fastapi import FastAPI

    from autotrain_gradio.auth import Access
    from autotrain_gradio.jobs.scheduler import WARM_WORKER_S, ensure_worker
    from autotrain_gradio.ui.actions import AppContext
    from autotrain_gradio.ui.api import add_rest_routes
    from autotrain_gradio.workspace import workspace_root

    root = workspace_root(workspace)
    root.mkdir(parents=True, exist_ok=True)
    ctx = AppContext(root, Access.from_settings(root, **settings))
    ensure_worker(root, idle_grace=WARM_WORKER_S)
    app = FastAPI(title="AutoTrain API", docs_url=None, redoc_url=None, openapi_url=None)
    add_rest_routes(app, ctx)
    return app


def cmd_api(args: argparse.Namespace) -> int:
    """`autotrain api`: serve the REST routes (AutoTrain's and ours) without the UI."""
    import uvicorn

    try:
        app = build_api(args.workspace, api_token=args.api_token, allowed_paths=args.allowed_paths,
                        auth=args.auth)
    except ValueError as err:
        print(f"❌ {err}")
        return 2
    print(f"* AutoTrain API on http://{args.host}:{args.port}/api/", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def add_api_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("api", help="serve the REST API alone (AutoTrain's routes and ours), no UI")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--api-token", default=None, help="bearer token the routes require (or AUTOTRAIN_API_TOKEN)")
    p.add_argument("--allowed-paths", nargs="+", default=None, metavar="FOLDER",
                   help="server folders a dataset may come from (default: the workspace and your home folder)")
    p.add_argument("--auth", action="append", default=None, metavar="USER:PASSWORD",
                   help="logins, as for the app (their jobs are their own); or AUTOTRAIN_AUTH")
    p.add_argument("--workspace", default=argparse.SUPPRESS, help="workspace folder")
    p.set_defaults(func=cmd_api)
