"""Tiny models built in code, for the CPU demo profiles and for tests: no download, seeded, saved to a local
folder and loaded back through the same `from_pretrained` path real models use.

A base model written as `tiny:<kind>` (the kinds come from each task's `tiny` entry in `tasks.TASKS`, built by
its `tiny.py`) resolves to a folder under the tiny cache, built on
first use. Everything else passes through unchanged.
"""

from __future__ import annotations

import importlib
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from autotrain_gradio.tasks import tiny_builders

# Common English words: the tiny tokenizers' vocabularies (WordPiece, unigram) hold them whole, so the toy texts of
# the tests encode as one token a word.
_WORDS = """
the of and to a in is it you that he was for on are with as i his they be at one have this from or had by not word
but what some we can out other were all there when up use your how said an each she which do their time if will way
about many then them write would like so these her long make thing see him two has look more day could go come did
number sound no most people my over know water than call first who may down side been now find any new work part
take get place made live where after back little only round man year came show every good me give our under name
very through just form sentence great think say help low line differ turn cause much mean before move right boy old
too same tell does set three want air well also play small end put home read hand port large spell add even land
here must big high such follow act why ask men change went light kind off need house picture try us again animal
point mother world near build self earth father head stand own page should country found answer school grow study
still learn plant cover food sun four between state keep eye never last let thought city tree cross farm hard start
might story saw far sea draw left late run while press close night real life few north book carry took science eat
room friend began idea fish mountain stop once base hear horse cut sure watch color face wood main open seem
together next white children begin got walk example ease paper group always music those both mark often letter until
mile river car feet care second enough plain girl usual young ready above ever red list though feel talk bird soon
body dog family direct pose leave song measure door product black short numeral class wind question happen complete
ship area half rock order fire south problem piece told knew pass since top whole king space heard best hour better
true during hundred five remember step early hold west ground interest reach fast verb sing listen six table travel
less morning ten simple several vowel toward war lay against pattern slow center love person money serve appear road
map rain rule govern pull cold notice voice unit power town fine certain fly fall lead cry dark machine note wait
plan figure star box noun field rest correct able pound done beauty drive stood contain front teach week final gave
green oh quick develop ocean warm free minute strong special mind behind clear tail produce fact street inch
multiply nothing course stay wheel full force blue object decide surface deep moon island foot system busy test
record boat common gold possible plane stead dry wonder laugh thousand ago ran check game shape equate hot miss
brought heat snow tire bring yes distant fill east paint language among bad terrible awful hate excellent wonderful
amazing movie film review product service price quality happy sad angry poor fantastic boring loved hated recommend
worst
"""
WORDS = _WORDS.split()
TINY_PREFIX = "tiny:"
VERSION = "1"  # bump when a builder changes so stale caches are rebuilt


def cache_root() -> Path:
    return Path(os.environ.get("AUTOTRAIN_TINY_CACHE") or Path.home() / ".cache" / "autotrain-gradio" / "tiny")


@contextmanager
def seeded(seed: int = 0):
    """A deterministic build that leaves the caller's random stream as it was (a trainer may build a tiny model
    after seeding itself)."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def build(kind: str, path: Path) -> None:
    """Run the builder of `tiny:<kind>` into `path` (one tiny model may start from another's: the tiny VLM's
    language side is `tiny:llm`); tasks reach each other's builders only through here."""
    module, _, func = tiny_builders()[kind].partition(":")
    getattr(importlib.import_module(module), func)(path)


def resolve_model(base_model: str) -> str:
    """`tiny:<kind>` -> a local folder (built once, atomically); anything else unchanged."""
    if not base_model.startswith(TINY_PREFIX):
        return base_model
    kind = base_model[len(TINY_PREFIX):]
    builders = tiny_builders()
    if kind not in builders:
        raise ValueError(f"unknown tiny model {base_model!r}; choose one of: "
                         + ", ".join(TINY_PREFIX + k for k in builders))
    target = cache_root() / f"{kind}-v{VERSION}"
    if (target / ".complete").exists():
        return str(target)
    # Several processes (DDP ranks, parallel jobs) may ask at once: one builds under a file lock, the others wait
    # for it and then use its folder. The build goes to a temporary folder renamed into place when complete.
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not (target / ".complete").exists():
            tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(target, ignore_errors=True)  # a folder left by a build that was killed half-way
            tmp.mkdir(parents=True)
            build(kind, tmp)
            (tmp / ".complete").write_text("ok")
            tmp.rename(target)
    return str(target)
