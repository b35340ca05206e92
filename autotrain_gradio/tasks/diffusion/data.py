"""Image + caption pairs, aspect-ratio buckets, the on-disk latent / text-embedding cache, and the batch order.

Every image keeps its aspect ratio: it goes to the bucket whose area is about resolution^2 with sides that are
multiples of bucket_step, is resized to cover it and centre-cropped by at most a few pixels (never to a square).
A batch holds one bucket only. The batch order of an epoch is a pure function of (seed, epoch), caption dropout
included, so resuming at step N only needs N.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from safetensors.torch import load_file, save_file

from autotrain_gradio.tasks.diffusion.config import DiffusionConfig
from autotrain_gradio.tasks.images import load_bucketed


@dataclass(frozen=True)
class Item:
    """One training image: where it is, its caption (trigger word included), and how it is fitted to its bucket."""

    image: Path
    caption: str
    content_sha: str
    original: tuple[int, int]  # (width, height) of the file
    bucket: tuple[int, int]  # (width, height) trained at
    crop: tuple[int, int]  # (top, left) cut after resizing; SDXL is conditioned on it


def bucket_for(width: int, height: int, resolution: int, step: int) -> tuple[int, int]:
    """(width, height) with area about resolution^2, the image's aspect ratio, both sides multiples of `step`."""
    aspect = width / height
    bw = max(step, round(resolution * math.sqrt(aspect) / step) * step)
    bh = max(step, round(resolution / math.sqrt(aspect) / step) * step)
    return bw, bh


def fit_to_bucket(image: Image.Image, bucket: tuple[int, int]) -> tuple[Image.Image, tuple[int, int]]:
    """Resize to cover the bucket, centre-crop the overhang. Returns the image and the (top, left) of the crop."""
    bw, bh = bucket
    scale = max(bw / image.width, bh / image.height)
    rw, rh = max(bw, round(image.width * scale)), max(bh, round(image.height * scale))
    image = image.resize((rw, rh), Image.Resampling.BICUBIC)
    top, left = (rh - bh) // 2, (rw - bw) // 2
    return image.crop((left, top, left + bw, top + bh)), (top, left)


def pixels(item: Item) -> torch.Tensor:
    """The item's image fitted to its bucket as a (3, H, W) float tensor in [-1, 1]."""
    with Image.open(item.image) as im:
        image = ImageOps.exif_transpose(im).convert("RGB")
    image, _ = fit_to_bucket(image, item.bucket)
    array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def with_trigger(caption: str, trigger: str) -> str:
    caption = caption.strip()
    if not trigger or caption.startswith(trigger):
        return caption
    return f"{trigger}, {caption}" if caption else trigger


def scan(cfg: DiffusionConfig, side_multiple: int = 8) -> list[Item]:
    """Every image in cfg.data_dir (sorted) with its caption file, read by the same reader validate used; raises
    DataError if there are none.
    `side_multiple` is what the model needs bucket sides to divide by (VAE factor x Flux packing)."""
    step = math.lcm(cfg.bucket_step, side_multiple)
    items = []
    for path, caption_file in load_bucketed(cfg.data_dir, cfg, check=False).train:  # the reader validate used
        caption = caption_file.read_text(encoding="utf-8") if caption_file is not None else ""
        data = path.read_bytes()
        with Image.open(path) as im:
            width, height = ImageOps.exif_transpose(im).size
        bucket = bucket_for(width, height, cfg.resolution, step)
        scale = max(bucket[0] / width, bucket[1] / height)
        crop = ((max(bucket[1], round(height * scale)) - bucket[1]) // 2,
                (max(bucket[0], round(width * scale)) - bucket[0]) // 2)
        items.append(Item(path, with_trigger(caption, cfg.trigger_word), hashlib.sha256(data).hexdigest(),
                          (width, height), bucket, crop))
    return items


# --- the cache: one safetensors file per image latent and per distinct caption --------------------------------


class Cache:
    """Latents keyed by image content + model + resolution + bucket; text embeddings by caption + model + length +
    the dtype the text encoders ran in (a bf16 run must not feed an fp32 run its rounded embeddings, or back)."""

    # Entries read once stay in RAM up to this budget, so epoch 2 onward reads no file (what a step costs on a
    # small model is then the model alone). Real Flux entries are ~0.5 MB (latent) + ~4 MB (T5 at 512 tokens).
    RAM_BUDGET = int(os.environ.get("AUTOTRAIN_CACHE_RAM_MB", "2048")) * 1024 * 1024

    def __init__(self, cfg: DiffusionConfig, root: Path, text_dtype: str = "float32"):
        self.root, self.cfg, self.text_dtype = Path(root), cfg, text_dtype
        self._ram: dict[Path, dict[str, torch.Tensor]] = {}
        self._ram_bytes = 0

    def _key(self, *parts: object) -> str:
        blob = "|".join(str(p) for p in (self.cfg.base_model, self.cfg.model_type, *parts))
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def latent_path(self, item: Item) -> Path:
        key = self._key("latent", item.content_sha, self.cfg.resolution, item.bucket)
        return self.root / "latents" / f"{key}.safetensors"

    def text_path(self, caption: str) -> Path:
        key = self._key("text", self.cfg.max_sequence_length, self.text_dtype, caption)
        return self.root / "text" / f"{key}.safetensors"

    @staticmethod
    def write(path: Path, tensors: dict[str, torch.Tensor]) -> None:
        """Atomic: a killed run never leaves a half-written cache entry that a later run would trust."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))
        tmp.replace(path)

    def read(self, path: Path) -> dict[str, torch.Tensor]:
        """A cache entry, from RAM when it was read before (entries never change: the key is their content)."""
        if path in self._ram:
            return self._ram[path]
        tensors = load_file(str(path))
        size = sum(t.numel() * t.element_size() for t in tensors.values())
        if self._ram_bytes + size <= self.RAM_BUDGET:
            self._ram[path] = tensors
            self._ram_bytes += size
        return tensors


def captions_to_encode(items: list[Item], caption_dropout: float) -> list[str]:
    """Distinct captions in order, plus the empty caption that dropout trains on."""
    captions = list(dict.fromkeys(item.caption for item in items))
    if caption_dropout > 0 and "" not in captions:
        captions.append("")
    return captions


# --- the dataset and the batch order ------------------------------------------------------------------------


class DiffusionDataset(torch.utils.data.Dataset):
    """Indexed by (item index, drop caption). Yields cached latents/embeddings where they exist, else the pixels
    and caption text for the loop to encode (when latents are not cached or the text encoders are trained)."""

    def __init__(self, items: list[Item], cache: Cache, cached_latents: bool, cached_text: bool):
        self.items, self.cache = items, cache
        self.cached_latents, self.cached_text = cached_latents, cached_text

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: tuple[int, bool]) -> dict:
        index, drop = key
        item = self.items[index]
        caption = "" if drop else item.caption
        sample: dict = {"original_size": item.original[::-1], "crop": item.crop, "target_size": item.bucket[::-1]}
        if self.cached_latents:
            sample["latents"] = self.cache.read(self.cache.latent_path(item))["latents"]
        else:
            sample["pixels"] = pixels(item)
        if self.cached_text:
            sample.update(self.cache.read(self.cache.text_path(caption)))
        else:
            sample["caption"] = caption
        return sample


def collate(samples: list[dict]) -> dict:
    """Stack tensors (one bucket per batch, so shapes agree); keep captions and sizes as lists."""
    out = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        out[key] = torch.stack(values) if isinstance(values[0], torch.Tensor) else values
    return out


def epoch_batches(items: list[Item], cfg: DiffusionConfig, epoch: int, rank: int = 0,
                  world: int = 1) -> list[list[tuple[int, bool]]]:
    """This rank's batches for one epoch: each image `repeats` times, grouped by bucket, shuffled with a generator
    seeded by (seed, epoch); ranks take every world-th batch and all get the same count so DDP stays in step."""
    rng = random.Random(cfg.seed * 100_003 + epoch)
    indices = [i for i in range(len(items)) for _ in range(cfg.repeats)]
    rng.shuffle(indices)
    by_bucket: dict[tuple[int, int], list[int]] = {}
    for i in indices:
        by_bucket.setdefault(items[i].bucket, []).append(i)
    batches = []
    for members in by_bucket.values():
        for start in range(0, len(members), cfg.batch_size):
            batches.append([(i, rng.random() < cfg.caption_dropout) for i in members[start:start + cfg.batch_size]])
    rng.shuffle(batches)
    per_rank = len(batches) // world
    if per_rank == 0:
        raise ValueError(f"{len(batches)} batches per epoch cannot be shared by {world} processes: "
                         "add images, raise repeats or lower batch_size")
    return batches[rank::world][:per_rank]


def micro_batches(items: list[Item], cfg: DiffusionConfig, dataset: DiffusionDataset, start: int,
                  micro_per_epoch: int, rank: int, world: int) -> Iterator[tuple[int, dict]]:
    """(epoch, batch) from micro-batch number `start` on, across epochs; the order depends on the seed only."""
    epoch, offset = divmod(start, micro_per_epoch)
    while True:
        order = epoch_batches(items, cfg, epoch, rank, world)[offset:]
        loader = torch.utils.data.DataLoader(dataset, batch_sampler=order, collate_fn=collate,
                                             num_workers=cfg.dataloader_workers,
                                             generator=torch.Generator())  # leaves the global RNG alone
        for batch in loader:
            yield epoch, batch
        epoch, offset = epoch + 1, 0
