"""What a finished diffusion run leaves behind: the LoRA in diffusers/peft keys and in kohya/ComfyUI keys, or the
fully fine-tuned weights, a model card, and an optional upload to the Hub.

Which kohya form, per family (both diffusers' `load_lora_weights` and ComfyUI's LoRA loader read them):
- SDXL / SD1.5: `lora_unet_<diffusers module path with _>` (`lora_unet_down_blocks_0_attentions_0_..._to_q`). This
  is what kohya's sd-scripts write for SD1.5 and what diffusers' own `convert_state_dict_to_kohya` produces; ComfyUI
  maps these names onto its SGM UNet (comfy/lora.py `unet_to_diffusers`), diffusers maps them back with
  `_convert_non_diffusers_lora_to_diffusers`.
- Flux: the BFL/sd-scripts names (`lora_unet_double_blocks_0_img_attn_qkv`, `lora_unet_single_blocks_0_linear1`):
  ComfyUI, Forge and sd-scripts read them natively, diffusers through `_convert_kohya_flux_lora_to_diffusers`.
  BFL fuses q/k/v (and single blocks' q/k/v/mlp) into one Linear, so the separate peft LoRAs are fused into one of
  rank n*r: lora_down stacked, lora_up block-diagonal. diffusers recognises that block structure and splits it back
  exactly. (The alternative `lora_transformer_*` names load in ComfyUI, but diffusers only maps their attention
  layers, so a LoRA on the feed-forward layers would not load there.)
In both, the alpha/rank scale is folded into lora_down and alpha is written equal to the rank, because diffusers'
Flux converter ignores alpha on the final layer; the trained alpha stays in the metadata.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save

from autotrain_gradio.config import config_digest
from autotrain_gradio.tasks.common import hub_base_model, scrub
from autotrain_gradio.tasks.diffusion.config import DiffusionConfig, DiffusionFullConfig, DiffusionLoraConfig
from autotrain_gradio.tasks.diffusion.families import family

log = logging.getLogger(__name__)

DIFFUSERS_WEIGHT_NAME = "pytorch_lora_weights.safetensors"


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """Strip DDP (`.module`) and torch.compile (`._orig_mod`) wrappers: the keys must be the model's own."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            return model
        model = inner


# --- metadata and card ------------------------------------------------------------------------------------------


def lora_metadata(cfg: DiffusionLoraConfig, step: int) -> dict[str, str]:
    """safetensors header entries (strings only): ours, plus kohya's `ss_*` names that LoRA browsers display."""
    meta = {
        "base_model": cfg.base_model,
        "model_type": cfg.model_type,
        "lora_rank": str(cfg.lora_rank),
        "lora_alpha": str(cfg.lora_alpha),
        "use_dora": str(cfg.use_dora).lower(),
        "steps": str(step),
        "trigger_word": cfg.trigger_word,
        "resolution": str(cfg.resolution),
        "config_digest": config_digest(cfg),
        "trainer": "autotrain-gradio",
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(cfg.lora_rank),
        "ss_network_alpha": str(cfg.lora_alpha),
        "ss_base_model_version": family(cfg.model_type).kohya_version,
        "ss_sd_model_name": cfg.base_model,
        "ss_steps": str(step),
        "ss_output_name": cfg.name,
    }
    return {k: scrub(v) for k, v in meta.items()}


def read_metadata(path: str | Path) -> dict[str, str]:
    """The safetensors header metadata of a file."""
    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


def _usage(cfg: DiffusionConfig, files: dict[str, str]) -> str:
    row = family(cfg.model_type)
    pipe_cls = row.pipeline
    base, head = f'"{cfg.base_model}"', ""
    if cfg.base_model.startswith("tiny:"):  # not a Hub id: the tiny models are built in code by this package
        base, head = f'resolve_model("{cfg.base_model}")', "from autotrain_gradio.tasks.tiny import resolve_model\n"
    if cfg.task == "diffusion-full":
        part, model_cls = row.denoiser_folder, row.denoiser
        return (f"{head}from diffusers import {pipe_cls}, {model_cls}\n\n"
                f"{part} = {model_cls}.from_pretrained(\"<this repo or folder>\", subfolder=\"{part}\")\n"
                f"pipe = {pipe_cls}.from_pretrained({base}, {part}={part})\n")
    lines = [f"{head}from diffusers import {pipe_cls}\n", f"pipe = {pipe_cls}.from_pretrained({base})"]
    if "diffusers" in files:
        lines.append("pipe.load_lora_weights(\"<this repo or folder>\")  # pytorch_lora_weights.safetensors")
    if "kohya" in files:
        lines.append(f"# or the kohya/ComfyUI file: pipe.load_lora_weights(\"<folder>/{Path(files['kohya']).name}\")")
    return "\n".join(lines) + "\n"


def write_model_card(cfg: DiffusionConfig, out_dir: Path, step: int, files: dict[str, str]) -> Path:
    """README.md with Hub front matter (base model, tags), what was trained, the trigger word and how to load it."""
    kind = "LoRA" if cfg.task == "diffusion-lora" else "full fine-tune"
    tags = ["text-to-image", "diffusers", "autotrain-gradio", cfg.model_type] + (["lora"] if kind == "LoRA" else [])
    # Only a hub id belongs in the Hub's base_model field; a local folder or tiny:<kind> does not.
    hub_id = hub_base_model(cfg.base_model)
    front = ["---", f"base_model: {cfg.base_model}" if hub_id else "", "library_name: diffusers",
             "license: other", "tags:"] + [f"- {t}" for t in tags]
    if cfg.trigger_word:
        front.append(f"instance_prompt: {json.dumps(cfg.trigger_word)}")
    front.append("---")
    settings = [("base model", cfg.base_model), ("steps", step), ("resolution", cfg.resolution),
                ("batch size", cfg.batch_size), ("learning rate", cfg.learning_rate), ("optimizer", cfg.optimizer),
                ("mixed precision", cfg.mixed_precision), ("seed", cfg.seed), ("config digest", config_digest(cfg))]
    if isinstance(cfg, DiffusionLoraConfig):
        settings[1:1] = [("rank", cfg.lora_rank), ("alpha", cfg.lora_alpha), ("DoRA", cfg.use_dora)]
    trigger = (f"Use the trigger word **{cfg.trigger_word}** in prompts.\n" if cfg.trigger_word
               else "No trigger word was used.\n")
    demo = ([f"**Demo model.** The base, `{cfg.base_model}`, is a tiny model with random weights built in code for "
             "the CPU demo and the tests: this run shows the pipeline works end to end, and its samples are noise by "
             "design. Train a real base model (e.g. the FluxLORA, SDXL-LoRA or SD15-LoRA profile) for real images.",
             ""] if cfg.base_model.startswith("tiny:") else [])
    body = [f"# {cfg.name}", "", f"A {cfg.model_type.upper()} {kind} trained with autotrain-gradio.", "", *demo,
            trigger,
            "## Files", ""] + [f"- `{Path(p).name}` ({fmt})" for fmt, p in files.items()] + ([
            "", f"For ComfyUI put `{Path(files['kohya']).name}` in `models/loras` (Load LoRA node); A1111/Forge: "
            "`models/Lora`."] if "kohya" in files else []) + [
            "", "## Use with diffusers", "", "```python", _usage(cfg, files).rstrip(), "```", "",
            "## Training settings", "", "| setting | value |", "| --- | --- |"]
    body += [f"| {k} | {v} |" for k, v in settings]
    path = out_dir / "README.md"
    path.write_text(scrub("\n".join(line for line in front if line != "") + "\n\n" + "\n".join(body) + "\n"),
                    encoding="utf-8")
    return path


# --- kohya / ComfyUI keys ---------------------------------------------------------------------------------------

# Flux: diffusers module path (regex) -> BFL name. Members of a fused BFL layer map to the same name with their
# position in the fused weight; the order is BFL's (q, k, v[, mlp]).
_FLUX_BLOCK = [
    (r"transformer_blocks\.(\d+)\.attn\.to_(q|k|v)$", "double_blocks_{0}_img_attn_qkv", ("q", "k", "v")),
    (r"transformer_blocks\.(\d+)\.attn\.add_(q|k|v)_proj$", "double_blocks_{0}_txt_attn_qkv", ("q", "k", "v")),
    (r"transformer_blocks\.(\d+)\.attn\.to_out\.0$", "double_blocks_{0}_img_attn_proj", None),
    (r"transformer_blocks\.(\d+)\.attn\.to_add_out$", "double_blocks_{0}_txt_attn_proj", None),
    (r"transformer_blocks\.(\d+)\.ff\.net\.0\.proj$", "double_blocks_{0}_img_mlp_0", None),
    (r"transformer_blocks\.(\d+)\.ff\.net\.2$", "double_blocks_{0}_img_mlp_2", None),
    (r"transformer_blocks\.(\d+)\.ff_context\.net\.0\.proj$", "double_blocks_{0}_txt_mlp_0", None),
    (r"transformer_blocks\.(\d+)\.ff_context\.net\.2$", "double_blocks_{0}_txt_mlp_2", None),
    (r"transformer_blocks\.(\d+)\.norm1\.linear$", "double_blocks_{0}_img_mod_lin", None),
    (r"transformer_blocks\.(\d+)\.norm1_context\.linear$", "double_blocks_{0}_txt_mod_lin", None),
    (r"single_transformer_blocks\.(\d+)\.(?:attn\.to_(q|k|v)|proj_(mlp))$", "single_blocks_{0}_linear1",
     ("q", "k", "v", "mlp")),
    (r"single_transformer_blocks\.(\d+)\.proj_out$", "single_blocks_{0}_linear2", None),
    (r"single_transformer_blocks\.(\d+)\.norm\.linear$", "single_blocks_{0}_modulation_lin", None),
]
_FLUX_GLOBAL = {
    "x_embedder": "img_in", "context_embedder": "txt_in", "proj_out": "final_layer_linear",
    "norm_out.linear": "final_layer_adaLN_modulation_1",
    "time_text_embed.timestep_embedder.linear_1": "time_in_in_layer",
    "time_text_embed.timestep_embedder.linear_2": "time_in_out_layer",
    "time_text_embed.guidance_embedder.linear_1": "guidance_in_in_layer",
    "time_text_embed.guidance_embedder.linear_2": "guidance_in_out_layer",
    "time_text_embed.text_embedder.linear_1": "vector_in_in_layer",
    "time_text_embed.text_embedder.linear_2": "vector_in_out_layer",
}


def _flux_name(module: str) -> tuple[str, int | None, int]:
    """(BFL name, position in the fused layer or None, number of fused members) for a diffusers module path."""
    if module in _FLUX_GLOBAL:
        return _FLUX_GLOBAL[module], None, 1
    for pattern, name, members in _FLUX_BLOCK:
        m = re.match(pattern, module)
        if m:  # re.match anchors at the start, so 'transformer_blocks' never matches 'single_transformer_blocks'
            if members is None:
                return name.format(m.group(1)), None, 1
            member = next(g for g in m.groups()[1:] if g)
            return name.format(m.group(1)), members.index(member), len(members)
    raise ValueError(f"no kohya/ComfyUI name for Flux module {module!r}; train with lora_target_modules that exist "
                     "in the BFL layout or export only the 'diffusers' format")


def _swap_scale_shift(weight: torch.Tensor) -> torch.Tensor:
    # diffusers' AdaLayerNormContinuous orders the modulation (scale, shift); BFL's final layer (shift, scale).
    first, second = weight.chunk(2, dim=0)
    return torch.cat([second, first], dim=0)


def flux_to_kohya(peft_sd: dict[str, torch.Tensor], scale: float) -> dict[str, torch.Tensor]:
    """peft LoRA keys of a FluxTransformer2DModel -> sd-scripts/BFL keys with the scale folded in and alpha == rank.

    Fused layers (qkv, single-block linear1) get rank n*r: lora_down is the members' downs stacked, lora_up is
    block-diagonal, so each member's update lands in its rows only. A member that was not trained contributes
    zeros. Every member must have the same rank (peft gives one rank per adapter)."""
    groups: dict[str, dict[int | None, tuple[torch.Tensor, torch.Tensor]]] = {}
    sizes: dict[str, int] = {}
    for key, down in peft_sd.items():
        if not key.endswith(".lora_A.weight"):
            continue
        module = key[: -len(".lora_A.weight")]
        up = peft_sd[f"{module}.lora_B.weight"]
        name, pos, count = _flux_name(module)
        if module == "norm_out.linear":
            up = _swap_scale_shift(up)
        groups.setdefault(name, {})[pos] = (down * scale, up)
        sizes[name] = count
    outside = sorted(n for n in groups if not n.startswith(("double_blocks", "single_blocks")))
    if outside:
        # diffusers' Flux kohya converter writes these layers without the 'transformer.' prefix, so its loader
        # drops them silently; ComfyUI applies them. They are kept: this file is for ComfyUI-style consumers.
        log.warning("kohya file: diffusers' loader ignores the LoRA on %s (ComfyUI applies it); in diffusers load "
                    "pytorch_lora_weights.safetensors instead", ", ".join(outside))
    out: dict[str, torch.Tensor] = {}
    for name, members in groups.items():
        if None in members:
            down, up = members[None]
        else:
            down, up = _fuse(members, sizes[name])
        out[f"lora_unet_{name}.lora_down.weight"] = down.contiguous()
        out[f"lora_unet_{name}.lora_up.weight"] = up.contiguous()
        out[f"lora_unet_{name}.alpha"] = torch.tensor(float(down.shape[0]))
    return out


def _fuse(members: dict[int, tuple[torch.Tensor, torch.Tensor]], count: int) -> tuple[torch.Tensor, torch.Tensor]:
    any_down, _ = next(iter(members.values()))
    rank, in_features = any_down.shape
    downs, ups = [], []
    for i in range(count):
        if i in members:
            down, up = members[i]
        else:  # an untrained member contributes zeros; q/k/v are as wide as the input, Flux's mlp 4x that
            down = torch.zeros(rank, in_features, dtype=any_down.dtype)
            up = torch.zeros(in_features * (4 if i == 3 else 1), rank, dtype=any_down.dtype)
        downs.append(down)
        ups.append(up)
    return torch.cat(downs, dim=0), torch.block_diag(*ups)


def sd_to_kohya(peft_sd: dict[str, torch.Tensor], scale: float) -> dict[str, torch.Tensor]:
    """peft LoRA keys of a UNet -> `lora_unet_*` keys with diffusers' own converter; scale folded into lora_down."""
    from diffusers.utils import convert_state_dict_to_kohya

    folded = {f"unet.{k}": (v * scale if ".lora_A." in k else v) for k, v in peft_sd.items()}
    out = convert_state_dict_to_kohya(folded)
    # The converter writes alpha as an int64 tensor; kohya and ComfyUI files carry a float scalar.
    return {k: (v.float() if k.endswith(".alpha") else v.contiguous()) for k, v in out.items()}


# --- writers ----------------------------------------------------------------------------------------------------


def _adapter(denoiser: torch.nn.Module) -> str:
    names = list(getattr(denoiser, "peft_config", {}) or {})
    if not names:
        raise ValueError("the denoiser has no LoRA adapter (add one with denoiser.add_adapter(LoraConfig(...)))")
    return "default" if "default" in names else names[0]


def save_file(tensors: dict[str, torch.Tensor], path: str, metadata: dict[str, str] | None = None) -> None:
    """safetensors' save_file, with the header's metadata in sorted order: safetensors writes it in a per-process
    random order, so the same weights would give different bytes in two processes (one trained in a notebook,
    one in a subprocess)."""
    blob = bytearray(save(tensors, metadata=metadata))
    size = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + size])
    if "__metadata__" in header:
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    if len(text) <= size:  # the same entries, reordered: the same length (safetensors pads with spaces)
        blob[8:8 + size] = text.ljust(size)
    Path(path).write_bytes(bytes(blob))


def _stable(config: dict) -> dict:
    """peft's config with its sets (target_modules) as sorted lists: a set's order changes from process to process."""
    return {k: sorted(v) if isinstance(v, set) else v for k, v in config.items()}


def _add_metadata(path: Path, extra: dict[str, str]) -> None:
    """Rewrite a safetensors file with `extra` added to its header, keeping what diffusers put there."""
    from safetensors.torch import load_file

    meta = read_metadata(path)
    tensors = load_file(str(path))
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={**meta, **extra})
    os.replace(tmp, path)


def save_lora(cfg: DiffusionLoraConfig, denoiser: torch.nn.Module, out_dir: Path, step: int) -> dict[str, str]:
    """Write the final LoRA of a denoiser that has a peft adapter (`denoiser.add_adapter(LoraConfig)`).

    'diffusers' -> out_dir/pytorch_lora_weights.safetensors (`pipe.load_lora_weights(out_dir)`); 'kohya' ->
    out_dir/<cfg.name>.safetensors (ComfyUI, A1111/Forge, and `pipe.load_lora_weights(file)`), per
    cfg.export_formats; both carry lora_metadata() in the header. Also README.md. Returns {format: path, "card": path}.
    """
    import diffusers
    from peft.utils import get_peft_model_state_dict

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    denoiser = _unwrap(denoiser)
    adapter = _adapter(denoiser)
    peft_cfg = denoiser.peft_config[adapter]
    peft_sd = {k: v.detach().to("cpu").contiguous()
               for k, v in get_peft_model_state_dict(denoiser, adapter_name=adapter).items()}
    meta = lora_metadata(cfg, step)
    row = family(cfg.model_type)
    part = row.denoiser_folder
    files: dict[str, str] = {}

    if "diffusers" in cfg.export_formats:
        # The pipeline's own writer, so the adapter config (alpha, DoRA, targets) travels as diffusers expects.
        pipe_cls = getattr(diffusers, row.pipeline)
        pipe_cls.save_lora_weights(out_dir, **{f"{part}_lora_layers": peft_sd,
                                               f"{part}_lora_adapter_metadata": _stable(peft_cfg.to_dict())})
        path = out_dir / DIFFUSERS_WEIGHT_NAME
        _add_metadata(path, meta)
        files["diffusers"] = str(path)

    if "kohya" in cfg.export_formats:
        if peft_cfg.use_dora:
            # DoRA magnitudes have no agreed kohya layout that both diffusers and ComfyUI read the same way.
            log.warning("DoRA adapters are exported in the diffusers format only; skipping the kohya file")
        else:
            scale = float(peft_cfg.lora_alpha) / float(peft_cfg.r)
            kohya = flux_to_kohya(peft_sd, scale) if row.kohya_layout == "bfl" else sd_to_kohya(peft_sd, scale)
            path = out_dir / f"{cfg.name}.safetensors"
            save_file(kohya, str(path), metadata={"format": "pt", **meta})
            files["kohya"] = str(path)

    files["card"] = str(write_model_card(cfg, out_dir, step, {k: v for k, v in files.items()}))
    return files


def save_full(cfg: DiffusionFullConfig, denoiser: torch.nn.Module, text_encoders: list | None, out_dir: Path,
              step: int) -> dict[str, str]:
    """Full fine-tune: out_dir/transformer or out_dir/unet (save_pretrained, safetensors), the trained text encoders
    as out_dir/text_encoder[_2], and README.md. Each folder loads with `<Class>.from_pretrained(out_dir, subfolder=)`.
    Returns {part: path, "card": path}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    part = family(cfg.model_type).denoiser_folder
    files: dict[str, str] = {}
    _unwrap(denoiser).save_pretrained(out_dir / part, safe_serialization=True)
    files[part] = str(out_dir / part)
    for i, encoder in enumerate(text_encoders or []):
        if encoder is None:
            continue
        name = "text_encoder" if i == 0 else f"text_encoder_{i + 1}"
        _unwrap(encoder).save_pretrained(out_dir / name, safe_serialization=True)
        files[name] = str(out_dir / name)
    (out_dir / "training_info.json").write_text(json.dumps(
        {"base_model": cfg.base_model, "model_type": cfg.model_type, "steps": step, "trigger_word": cfg.trigger_word,
         "config_digest": config_digest(cfg)}, indent=2), encoding="utf-8")
    files["card"] = str(write_model_card(cfg, out_dir, step, {k: v for k, v in files.items() if k != "card"}))
    return files


# --- converting a diffusers-format LoRA file afterwards (`autotrain tools convert_to_kohya`) ----------------------


def _scale(meta: dict[str, str], rank: int) -> float:
    """alpha / rank of a diffusers LoRA file: from our header entries, else diffusers' adapter metadata, else 1."""
    if "lora_alpha" in meta and "lora_rank" in meta:
        return float(meta["lora_alpha"]) / float(meta["lora_rank"])
    adapter = json.loads(meta.get("lora_adapter_metadata", "{}") or "{}")
    alpha = next((v for k, v in adapter.items() if k.split(".")[-1] == "lora_alpha"), None)
    r = next((v for k, v in adapter.items() if k.split(".")[-1] == "r"), None)
    if alpha is not None and r:
        return float(alpha) / float(r)
    log.warning("no LoRA alpha in the file's header (rank %s): taking alpha = rank, scale 1", rank)
    return 1.0


def convert_to_kohya(source: str | Path, output: str | Path | None = None) -> Path:
    """A diffusers-format LoRA (pytorch_lora_weights.safetensors, or the folder holding it) -> the kohya/ComfyUI
    file `save_lora` writes at training time: Flux (`transformer.` keys) in BFL's names, SDXL / SD1.5 (`unet.` keys)
    through diffusers' converter; the scale folded in; the header's entries kept. Returns the written path."""
    from safetensors.torch import load_file

    source = Path(source)
    if source.is_dir():
        source = source / DIFFUSERS_WEIGHT_NAME
    if not source.is_file():
        raise ValueError(f"{source}: no such LoRA file; give a pytorch_lora_weights.safetensors or its folder")
    tensors = load_file(str(source))
    prefixes = {key.split(".", 1)[0] for key in tensors}
    if not prefixes <= {"transformer", "unet"} or len(prefixes) != 1:
        raise ValueError(f"{source}: expected the diffusers LoRA keys of one denoiser ('transformer.' for Flux, "
                         f"'unet.' for SDXL / SD1.5), found prefixes {sorted(prefixes)}; text encoder LoRAs are not "
                         "converted")
    prefix = prefixes.pop()
    peft_sd = {key.split(".", 1)[1]: value for key, value in tensors.items()}
    rank = next((v.shape[0] for k, v in peft_sd.items() if ".lora_A." in k), 0)
    meta = read_metadata(source)
    scale = _scale(meta, rank)
    kohya = flux_to_kohya(peft_sd, scale) if prefix == "transformer" else sd_to_kohya(peft_sd, scale)
    output = Path(output) if output else source.with_name(f"{source.parent.name}_kohya.safetensors")
    if output.is_dir():
        output = output / f"{source.parent.name}.safetensors"
    output.parent.mkdir(parents=True, exist_ok=True)
    keep = {k: v for k, v in meta.items() if k != "lora_adapter_metadata"}
    save_file(kohya, str(output), metadata={"format": "pt", **keep})
    return output
