"""Keeping frozen weights off the GPU until a layer runs: block swapping for the Flux transformer during training
(kohya's `blocks_to_swap`) and layer-by-layer streaming of the text encoders while they encode.

Only frozen parameters move, so the same mechanism is correct for forward, backward and gradient-checkpoint
recomputation, and trained (LoRA) parameters, their gradients and the optimizer state never leave the device:

- each streamed layer's frozen weights have a home copy in CPU memory (pinned on CUDA) that never changes;
- a forward pre-hook loads them onto the device; after the forward the device copy is dropped (the weights are
  frozen, so nothing is copied back), leaving an empty placeholder, so any use of an unloaded weight fails loudly
  instead of computing with something stale. On a CPU-only run "loading" is a no-copy view of the home tensor and
  the placeholder logic is exactly the GPU one, which is what lets the tests prove the schedule on CPU;
- in training, a gradient hook on the layer's outputs loads the weights again before the layer's backward (and any
  checkpoint recomputation inside it), and a hook that fires once the gradients of all its inputs are computed
  drops them afterwards. Autograd keeps frozen weights by reference, so the reloaded weights are the ones it sees.

Moves are synchronous; what matters here is that the peak holds at most two streamed layers.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def flux_blocks_to_swap(transformer: nn.Module, blocks_to_swap: int) -> list[nn.Module]:
    """Which Flux blocks a `blocks_to_swap` of N streams, counted as kohya counts them (so the numbers people use
    with kohya mean the same here): N // 2 double-stream blocks and 2 * (N - N // 2) single-stream blocks, the last
    ones of each stack. A double-stream block is about two single-stream ones in size."""
    double, single = transformer.transformer_blocks, transformer.single_transformer_blocks
    n_double = min(blocks_to_swap // 2, len(double))
    n_single = min(2 * (blocks_to_swap - blocks_to_swap // 2), len(single))
    return list(double[len(double) - n_double:]) + list(single[len(single) - n_single:])


class LayerStreamer:
    """Streams the frozen weights of `layers` to `device` around each use (see the module docstring). `train`
    adds the backward hooks; without it the layers are for inference (text encoders, sampling)."""

    def __init__(self, layers: Iterable[nn.Module], device: torch.device, train: bool = False):
        self.device, self.train = torch.device(device), train
        self.layers = list(layers)
        self.frozen: dict[nn.Module, list[nn.Parameter]] = {}
        self.home: dict[nn.Parameter, torch.Tensor] = {}
        self.loaded: set[nn.Module] = set()
        self.in_backward: set[nn.Module] = set()
        self.handles = []
        pin = self.device.type == "cuda"
        for layer in self.layers:
            params = [p for p in layer.parameters() if not p.requires_grad]
            self.frozen[layer] = params
            for p in params:
                home = p.data.to("cpu")
                if pin:  # page-locked memory copies to the GPU faster; when the OS refuses more, plain copies
                    try:
                        home = home.pin_memory()
                    except RuntimeError:
                        pin = False
                self.home[p] = home
            self.loaded.add(layer)
            self.unload(layer)
            self.handles.append(layer.register_forward_pre_hook(self._before_forward))
            self.handles.append(layer.register_forward_hook(self._after_forward, with_kwargs=True))

    # --- moving ----------------------------------------------------------------------------------------------

    def load(self, layer: nn.Module) -> None:
        if layer in self.loaded:
            return
        for p in self.frozen[layer]:
            p.data = self.home[p].to(self.device, non_blocking=True)
        self.loaded.add(layer)

    def unload(self, layer: nn.Module) -> None:
        if layer not in self.loaded:
            return
        for p in self.frozen[layer]:
            p.data = torch.empty(0, dtype=p.dtype, device=self.device)
        self.loaded.discard(layer)

    def streamed_bytes(self) -> int:
        """Bytes kept off the device (the home copies)."""
        return sum(t.numel() * t.element_size() for t in self.home.values())

    def remove(self) -> None:
        """Put every weight back on the device and drop the hooks."""
        for handle in self.handles:
            handle.remove()
        for layer in self.layers:
            self.load(layer)
        self.handles, self.home = [], {}

    # --- hooks -----------------------------------------------------------------------------------------------

    def _before_forward(self, layer: nn.Module, args) -> None:
        self.load(layer)

    def _after_forward(self, layer: nn.Module, args, kwargs, output) -> None:
        if layer in self.in_backward:  # a checkpoint recomputation inside this layer's backward: keep the weights
            return
        self.unload(layer)
        if not (self.train and torch.is_grad_enabled()):
            return
        outputs = [t for t in _tensors(output) if t.requires_grad]
        inputs = [t for t in _tensors((args, kwargs)) if t.requires_grad]
        if not outputs:
            return

        def before_backward(_grads, layer=layer):
            self.in_backward.add(layer)
            self.load(layer)

        def after_backward(_grads, layer=layer):
            self.in_backward.discard(layer)
            self.unload(layer)

        torch.autograd.graph.register_multi_grad_hook(outputs, before_backward, mode="any")
        if inputs:  # without inputs that need a gradient the weights stay until the next forward drops them
            torch.autograd.graph.register_multi_grad_hook(inputs, after_backward, mode="all")


def _tensors(obj) -> list[torch.Tensor]:
    """Every tensor in a nest of tuples / lists / dicts."""
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, (list, tuple)):
        return [t for item in obj for t in _tensors(item)]
    return []


def encoder_layers(encoder: nn.Module) -> list[nn.Module]:
    """The repeated layers of a CLIP or T5 text encoder (everything else, embeddings and final norms, is small)."""
    for path in ("text_model.encoder.layers", "encoder.block", "encoder.layers"):
        module = encoder
        for part in path.split("."):
            module = getattr(module, part, None)
            if module is None:
                break
        if isinstance(module, nn.ModuleList):
            return list(module)
    raise ValueError(f"no layer list found in {type(encoder).__name__} to stream")


def place_text_encoders(encoders: list[nn.Module], mode: str, device: torch.device) -> list[LayerStreamer]:
    """Put frozen text encoders where `text_encoder_device` says: 'gpu' on `device`; 'cpu' stays in CPU memory
    (the caller encodes there); 'offload' keeps their layers in CPU memory and streams each to `device` for its
    forward (the rest of the encoder, embeddings included, sits on `device`). Returns the streamers (to remove)."""
    if mode == "cpu":
        return []
    streamers = []
    for encoder in encoders:
        if mode == "offload":
            encoder.requires_grad_(False)  # frozen (a trained encoder runs on the GPU): what streams is what is frozen
            layers = encoder_layers(encoder)
            streamers.append(LayerStreamer(layers, device))  # drops the layers' weights from wherever they are
        encoder.to(device)  # offload: only the small non-layer weights (and the empty placeholders) move
    return streamers
