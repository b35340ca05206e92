"""Is the base model reachable from here, and from where? Checked before anything is queued, so a run that cannot
load its model fails at Validate with the reason, not half a minute after Start with "does not appear to have a file
named config.json". Torch-free: a local folder or file, the Hugging Face cache, or the Hub asked with the token the
job will have (HF_TOKEN / the saved login). Nothing is downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

from autotrain_gradio.workspace import is_hub_id

MARKERS = ("model_index.json", "config.json")  # a diffusers pipeline, or a transformers model
WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".bin", ".pt", ".pth", ".gguf")


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def check_base_model(base_model: str, token: str | None = None) -> tuple[str | None, str]:
    """(error, where): error is None when the model can be loaded, else one sentence naming the model, why and what
    to do; `where` says where it comes from (built in code, a local folder, the cache, the Hub)."""
    name = (base_model or "").strip()
    if not name:
        return "base_model is empty; set it in the settings (a Hub id or a local folder)", ""
    if name.startswith("tiny:"):
        return None, f"{name}: a tiny model built in code"
    local = Path(name).expanduser()
    if local.is_dir():
        if any((local / m).is_file() for m in MARKERS):
            return None, f"{name}: a local folder"
        return (f"base model folder {name} has no {' or '.join(MARKERS)}; point base_model at a downloaded model "
                "folder (or a Hub id)"), ""
    if local.is_file():
        if local.suffix.lower() in WEIGHT_SUFFIXES:
            return None, f"{name}: a local weights file"
        return f"base model {name} is a file but not a weights file ({', '.join(WEIGHT_SUFFIXES)})", ""
    if not is_hub_id(name):
        return f"base model {name} is neither a local folder nor a Hub id (owner/name); check the path or the id", ""
    from huggingface_hub import try_to_load_from_cache

    if any(isinstance(try_to_load_from_cache(name, m), str) for m in MARKERS):
        return None, f"{name}: in the local Hugging Face cache"
    if _offline():
        return (f"base model {name} is not in the local Hugging Face cache and the Hub is switched off "
                f"(HF_HUB_OFFLINE); download it first (hf download {name}) or point base_model at a local folder"), ""
    return _ask_hub(name, token)


def _ask_hub(name: str, token: str | None) -> tuple[str | None, str]:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        HfApi().model_info(name, token=token or False, timeout=15)
    except GatedRepoError:
        if token:
            return (f"base model {name} is gated and this token has no access to it; accept its license at "
                    f"https://huggingface.co/{name} with the token's account"), ""
        return (f"base model {name} is gated: accept its license at https://huggingface.co/{name} and set HF_TOKEN "
                "(a Space secret, or `hf auth login`)"), ""
    except RepositoryNotFoundError:
        return (f"base model {name} was not found on the Hub{' with this token' if token else ''}; check the id (a "
                "private model needs HF_TOKEN)"), ""
    except Exception as err:  # network down, proxy, timeout: say so rather than guess
        reason = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
        return (f"cannot reach the Hub to check base model {name} ({reason}); check the network, or download the "
                "model and point base_model at its folder"), ""
    return None, f"{name}: on the Hub ({'with your token' if token else 'public, no token'})"
