"""Buckets, captions, the cache keys, the batch order and checkpoints of the diffusion trainer (no model runs)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch
from PIL import Image

from autotrain_gradio.tasks.diffusion import checkpoint
from autotrain_gradio.tasks.diffusion.config import DiffusionLoraConfig
from autotrain_gradio.tasks.diffusion.data import (
    Cache,
    bucket_for,
    captions_to_encode,
    epoch_batches,
    fit_to_bucket,
    pixels,
    scan,
    with_trigger,
)
from autotrain_gradio.tasks.diffusion.train import make_optimizer, read_prompts


def cfg_for(data_dir: Path, **kw) -> DiffusionLoraConfig:
    base = dict(name="t", base_model="tiny:flux", data_dir=str(data_dir), output_dir=str(data_dir.parent / "out"),
                resolution=64, bucket_step=16)
    return DiffusionLoraConfig(**{**base, **kw})


def images(folder: Path, sizes: dict[str, tuple[int, int]], captions: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, (name, size) in enumerate(sizes.items()):
        Image.new("RGB", size, (i * 40 % 255, 100, 200)).save(folder / f"{name}.png")
        if captions and name in captions:
            (folder / f"{name}.txt").write_text(captions[name])
    return folder


@pytest.mark.parametrize("size", [(64, 64), (128, 64), (64, 128), (300, 200), (1000, 90)])
def test_buckets_keep_aspect_and_area(size):
    bw, bh = bucket_for(*size, resolution=64, step=16)
    assert bw % 16 == 0 and bh % 16 == 0
    if size[0] / size[1] < 4:  # extreme ratios are bounded by the minimum side
        assert abs(bw * bh - 64 * 64) / (64 * 64) < 0.35
        assert abs((bw / bh) / (size[0] / size[1]) - 1) < 0.35


def test_fit_to_bucket_crops_only_the_overhang_not_to_square():
    image = Image.new("RGB", (200, 100))
    out, (top, left) = fit_to_bucket(image, bucket_for(200, 100, 64, 16))
    assert out.size == (96, 48)  # 2:1 kept (area 4608 ~ 64^2), not 64x64
    assert (top, left) == (0, 0)
    out, (top, left) = fit_to_bucket(Image.new("RGB", (210, 100)), (96, 48))
    assert out.size == (96, 48) and top == 0 and left == 2  # resized to 101 x 48: 5 px trimmed, 2 on the left


def test_trigger_word_prepended_once():
    assert with_trigger("a red cat", "sks") == "sks, a red cat"
    assert with_trigger("sks, a red cat", "sks") == "sks, a red cat"
    assert with_trigger("", "sks") == "sks"
    assert with_trigger("  a dog \n", "") == "a dog"


def test_scan_reads_captions_and_buckets(tmp_path):
    data = images(tmp_path / "data", {"a": (64, 64), "b": (128, 64), "c": (64, 32)}, {"a": "one", "b": "two\n"})
    items = scan(cfg_for(data, trigger_word="tok"))
    assert [i.image.name for i in items] == ["a.png", "b.png", "c.png"]
    assert [i.caption for i in items] == ["tok, one", "tok, two", "tok"]
    assert items[0].bucket == (64, 64) and items[1].bucket == (96, 48) and items[1].original == (128, 64)
    x = pixels(items[1])
    assert x.shape == (3, 48, 96) and x.min() >= -1 and x.max() <= 1
    # bucket sides follow what the model needs (Flux: VAE factor 8 x 2x2 packing = 16) on top of bucket_step
    assert all(s % 48 == 0 for s in scan(cfg_for(data, bucket_step=16), side_multiple=48)[1].bucket)


def test_scan_without_images_names_the_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=f"dataset folder is empty: {tmp_path / 'empty'}"):  # the reader's DataError
        scan(cfg_for(tmp_path / "empty"))


def test_cache_keys_follow_content_model_and_resolution(tmp_path):
    data = images(tmp_path / "data", {"a": (64, 64), "b": (64, 64)})
    cfg = cfg_for(data)
    a, b = scan(cfg)
    cache = Cache(cfg, tmp_path / "cache")
    assert cache.latent_path(a) != cache.latent_path(b)  # different pixels
    Image.new("RGB", (64, 64), (1, 2, 3)).save(data / "b.png")
    assert cache.latent_path(scan(cfg)[1]) != cache.latent_path(b)  # content changed -> new key
    assert Cache(cfg_for(data, base_model="tiny:sdxl"), tmp_path).latent_path(a).name != cache.latent_path(a).name
    hi = cfg_for(data, resolution=128)
    assert Cache(hi, tmp_path / "cache").latent_path(scan(hi)[0]) != cache.latent_path(a)
    assert cache.text_path("x") != Cache(cfg_for(data, max_sequence_length=64), tmp_path / "cache").text_path("x")
    # embeddings from bf16 text encoders are not what an fp32 run computes (and back)
    assert cache.text_path("x") != Cache(cfg, tmp_path / "cache", text_dtype="bfloat16").text_path("x")
    path = cache.latent_path(a)
    Cache.write(path, {"latents": torch.ones(4, 2, 2)})
    assert torch.equal(cache.read(path)["latents"], torch.ones(4, 2, 2))
    assert not list(path.parent.glob("*.tmp*"))
    path.unlink()  # a second read comes from RAM: epoch 2 onward opens no file
    assert torch.equal(cache.read(path)["latents"], torch.ones(4, 2, 2))
    assert captions_to_encode(scan(cfg), 0.1) == [""]  # uncaptioned images share the empty caption
    assert captions_to_encode(scan(cfg_for(data, trigger_word="t")), 0.0) == ["t"]
    assert captions_to_encode(scan(cfg_for(data, trigger_word="t")), 0.5) == ["t", ""]


def test_epoch_batches_are_seeded_single_bucket_and_shared_across_ranks(tmp_path):
    sizes = {f"s{i}": (64, 64) for i in range(5)} | {f"w{i}": (128, 64) for i in range(4)}
    data = images(tmp_path / "data", sizes)
    cfg = cfg_for(data, batch_size=2, repeats=3, seed=7, caption_dropout=0.25)
    items = scan(cfg)
    batches = epoch_batches(items, cfg, epoch=0)
    assert batches == epoch_batches(items, cfg, epoch=0)  # pure function of (seed, epoch)
    assert batches != epoch_batches(items, cfg, epoch=1)
    assert all(len({items[i].bucket for i, _ in b}) == 1 for b in batches)
    assert Counter(i for b in batches for i, _ in b) == {i: 3 for i in range(len(items))}  # repeats
    drops = [d for b in batches for _, d in b]
    assert 0 < sum(drops) < len(drops)
    r0, r1 = (epoch_batches(items, cfg, epoch=0, rank=r, world=2) for r in (0, 1))
    assert len(r0) == len(r1) == len(batches) // 2 and not set(map(tuple, r0)) & set(map(tuple, r1))


def test_read_prompts_prefers_the_file(tmp_path):
    cfg = cfg_for(tmp_path, trigger_word="sks", sample_prompts=["{trigger}, a dog", "plain"])
    assert read_prompts(cfg, tmp_path / "missing.txt") == ["sks, a dog", "plain"]
    (tmp_path / "p.txt").write_text("a photo of {trigger}\n\n  second  \n")
    assert read_prompts(cfg, tmp_path / "p.txt") == ["a photo of sks", "second"]


@pytest.mark.parametrize("name, package", [("adamw8bit", "bitsandbytes"), ("prodigy", "prodigyopt")])
def test_optional_optimizer_names_the_install(tmp_path, name, package):
    pytest.importorskip("torch")
    try:
        __import__(package)
        pytest.skip(f"{package} is installed")
    except ImportError:
        pass
    with pytest.raises(ImportError, match=f"pip install {package}"):
        make_optimizer(cfg_for(tmp_path, optimizer=name), [{"params": [torch.nn.Parameter(torch.ones(1))]}])


def test_prodigy_gets_lr_one_and_groups_keep_their_ratio():
    """Prodigy's lr multiplies its own step-size estimate: a profile's 1e-4 would make it barely train."""
    from autotrain_gradio.tasks.optim import prodigy_groups

    w, te = torch.nn.Parameter(torch.ones(1)), torch.nn.Parameter(torch.ones(1))
    groups = prodigy_groups([{"params": [w], "lr": 1e-4}, {"params": [te], "lr": 5e-5}], 1e-4)
    assert [g["lr"] for g in groups] == [1.0, 0.5] and groups[0]["params"] == [w]
    assert prodigy_groups(iter([w]), 1e-4) == [w]  # plain parameters: the optimizer's lr (1.0) applies


def test_checkpoints_are_atomic_pruned_and_restore_rng(tmp_path):
    from accelerate import Accelerator

    acc = Accelerator(cpu=True)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    gen = torch.Generator().manual_seed(1)
    root = tmp_path / "ckpt"
    (root / ".tmp-step-000009").mkdir(parents=True)  # what a kill -9 mid-save leaves
    (root / "step-000008").mkdir()  # no state.json: incomplete, ignored
    for step in (1, 2, 3):
        model(torch.ones(1, 3)).sum().backward()
        opt.step()
        checkpoint.save(acc, root, step, {"denoiser": model}, False, opt, sched, gen, keep=2, meta={})
    assert [p.name for p in checkpoint.complete_checkpoints(root)] == ["step-000002", "step-000003"]
    assert not list(root.glob(".tmp-*"))
    expected_noise, expected_w = torch.randn(3, generator=gen), model.weight.detach().clone()

    torch.nn.init.zeros_(model.weight)
    torch.randn(5, generator=gen)
    step = checkpoint.load(acc, checkpoint.newest(root), {"denoiser": model}, False, opt, sched, gen)
    assert step == 3 and torch.equal(model.weight, expected_w)
    assert torch.equal(torch.randn(3, generator=gen), expected_noise)
