"""Object detection on the shared Trainer path: images resized to a square by the model's own image processor
(boxes follow), Hungarian-matched set loss inside the model, COCO mAP (pycocotools) at evaluation, and the first
validation images drawn with their predicted boxes as `sample` events for the Jobs tab."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np
import torch
from transformers import AutoImageProcessor, AutoModelForObjectDetection

from autotrain_gradio.tasks.common import RunContext
from autotrain_gradio.tasks.hf_trainer import ModelCard, fit, head_kwargs
from autotrain_gradio.tasks.object_detection.config import ObjectDetectionConfig
from autotrain_gradio.tasks.object_detection.data import Detection, load
from autotrain_gradio.tasks.tiny import resolve_model


def _image(path) -> Any:
    from PIL import Image

    with Image.open(path) as img:
        return img.convert("RGB")


class DetectionDataset:
    """Detections as {"pixel_values", "labels"}: the processor resizes the image and turns the COCO boxes into the
    model's normalised (cx, cy, w, h) targets. A set whose tensors fit in `keep_bytes` is kept once processed (no
    augmentation: every epoch sees the same tensors); a larger one is processed on every read."""

    def __init__(self, items: list[Detection], processor: Any, size: int, keep_bytes: int = 512 * 2**20):
        self.items, self.processor, self.size = items, processor, {"height": size, "width": size}
        fits = len(items) * 3 * size * size * 4 <= keep_bytes
        self.kept: dict[int, dict[str, Any]] | None = {} if fits else None

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if self.kept is not None and index in self.kept:
            return self.kept[index]
        d = self.items[index]
        objects = [{"bbox": box, "category_id": c, "area": box[2] * box[3], "iscrowd": 0}
                   for box, c in zip(d.boxes, d.categories, strict=True)]
        enc = self.processor(images=_image(d.path), annotations={"image_id": index, "annotations": objects},
                             size=self.size, return_tensors="pt")
        item = {"pixel_values": enc["pixel_values"][0], "labels": enc["labels"][0]}
        if self.kept is not None:
            self.kept[index] = item
        return item


def collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    return {"pixel_values": torch.stack([b["pixel_values"] for b in batch]), "labels": [b["labels"] for b in batch]}


def _corners(boxes: np.ndarray, width: float, height: float) -> np.ndarray:
    """Normalised (cx, cy, w, h) -> COCO pixels (x, y, w, h)."""
    cx, cy, w, h = boxes[:, 0] * width, boxes[:, 1] * height, boxes[:, 2] * width, boxes[:, 3] * height
    return np.stack([cx - w / 2, cy - h / 2, w, h], axis=1)


def coco_map(ground: list[tuple[np.ndarray, np.ndarray]], found: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
             num_labels: int) -> dict[str, float]:
    """COCO's bbox mAP (IoU .50:.95), mAP@.50 and mAP@.75 with pycocotools: ground = (boxes, labels) and found =
    (boxes, scores, labels) per image, boxes as COCO pixels."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images = [{"id": i, "width": 1, "height": 1} for i in range(len(ground))]
    truth, guesses = [], []
    for i, ((boxes, labels), (found_boxes, scores, found_labels)) in enumerate(zip(ground, found, strict=True)):
        for box, label in zip(boxes, labels, strict=True):
            truth.append({"id": len(truth) + 1, "image_id": i, "category_id": int(label), "iscrowd": 0,
                          "bbox": [float(v) for v in box], "area": float(box[2] * box[3])})
        for box, score, label in zip(found_boxes, scores, found_labels, strict=True):
            guesses.append({"image_id": i, "category_id": int(label), "bbox": [float(v) for v in box],
                            "score": float(score)})
    if not truth or not guesses:
        return {"map": 0.0, "map_50": 0.0, "map_75": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its tables
        gt = COCO()
        gt.dataset = {"images": images, "annotations": truth, "categories": [{"id": c} for c in range(num_labels)]}
        gt.createIndex()
        run = COCOeval(gt, gt.loadRes(guesses), "bbox")
        run.evaluate()
        run.accumulate()
        run.summarize()
    return {name: max(0.0, float(run.stats[k])) for k, name in enumerate(("map", "map_50", "map_75"))}


def _predicted(logits: np.ndarray, boxes: np.ndarray, width: float, height: float, keep: int = 100):
    """The model's queries as (COCO boxes, scores, labels), best first; the last logit is 'no object'."""
    probs = torch.tensor(logits).softmax(-1)[:, :-1]
    scores, labels = probs.max(-1)
    order = scores.argsort(descending=True)[:keep].numpy()
    return _corners(boxes[order], width, height), scores.numpy()[order], labels.numpy()[order]


def detection_metrics(valid: list[Detection], num_labels: int):
    """compute_metrics over un-concatenated batches (eval_do_concat_batches=False): per batch the model's outputs
    (loss terms, logits, pred_boxes, ...) and the label dicts."""

    def compute(pred: Any) -> dict[str, float]:
        ground, found, index = [], [], 0
        for outputs, targets in zip(pred.predictions, pred.label_ids, strict=True):
            logits, boxes = outputs[1], outputs[2]
            for k, target in enumerate(targets):
                d = valid[index]
                index += 1
                ground.append((np.asarray(d.boxes).reshape(-1, 4), np.asarray(target["class_labels"])))
                found.append(_predicted(np.asarray(logits[k]), np.asarray(boxes[k]), d.width, d.height))
        return coco_map(ground, found, num_labels)

    return compute


def draw_samples(model_dir: str, items: list[Detection], labels: list[str], size: int, ctx: RunContext,
                 step: int, threshold: float = 0.5) -> None:
    """The first validation images with the saved model's boxes (score >= threshold) drawn, as a sample event."""
    from PIL import ImageDraw

    model = AutoModelForObjectDetection.from_pretrained(model_dir).eval()
    processor = AutoImageProcessor.from_pretrained(model_dir)
    ctx.paths.samples_dir.mkdir(parents=True, exist_ok=True)
    paths, captions = [], []
    for n, d in enumerate(items):
        image = _image(d.path)
        with torch.no_grad():
            out = model(**processor(images=image, size={"height": size, "width": size}, return_tensors="pt"))
        boxes, scores, ids = _predicted(out.logits[0].numpy(), out.pred_boxes[0].numpy(), d.width, d.height)
        draw = ImageDraw.Draw(image)
        shown = [(b, s, i) for b, s, i in zip(boxes, scores, ids, strict=True) if s >= threshold]
        for (x, y, w, h), score, label in shown:
            draw.rectangle([x, y, x + w, y + h], outline=(255, 40, 40), width=2)
            draw.text((x + 2, y + 1), f"{labels[label]} {score:.2f}", fill=(255, 40, 40))
        target = ctx.paths.samples_dir / f"detections-step{step}-{n}.png"
        image.save(target)
        paths.append(target)
        captions.append(f"{d.path.name}: " + (", ".join(f"{labels[i]} {s:.2f}" for _, s, i in shown) or "no box"))
    if paths:
        ctx.events.sample(step=step, paths=paths, prompts=captions)


def train(cfg: ObjectDetectionConfig, ctx: RunContext) -> dict[str, Any]:
    """Fine-tune a detector on the prepared folder; returns fit's outputs."""
    data = load(cfg.data_dir, cfg)
    ctx.log(data.summary())
    source = resolve_model(cfg.base_model)
    processor = AutoImageProcessor.from_pretrained(source)

    def load_model(path: str):
        return AutoModelForObjectDetection.from_pretrained(path, **head_kwargs(data.labels))

    usage = """import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModelForObjectDetection

model = AutoModelForObjectDetection.from_pretrained("path/to/model")
processor = AutoImageProcessor.from_pretrained("path/to/model")
image = Image.open("image.jpg").convert("RGB")
with torch.no_grad():
    out = model(**processor(images=image, return_tensors="pt"))
found = processor.post_process_object_detection(out, threshold=0.5, target_sizes=[image.size[::-1]])[0]
print([(model.config.id2label[int(i)], box.tolist()) for i, box in zip(found["labels"], found["boxes"])])"""
    card = ModelCard("object-detection", f"Trained on {len(data.train)} images ({len(data.valid)} held out); "
                     f"categories: {', '.join(data.labels)}.", usage)
    outputs = fit(cfg, ctx, load_model=load_model, model_source=source,
                  train_dataset=DetectionDataset(data.train, processor, cfg.image_square_size),
                  eval_dataset=DetectionDataset(data.valid, processor, cfg.image_square_size), card=card,
                  compute_metrics=detection_metrics(data.valid, len(data.labels)), processing_class=processor,
                  data_collator=collate, extra_args={"eval_do_concat_batches": False})
    if "model" in outputs and ctx.is_main and cfg.sample_images:
        draw_samples(outputs["model"], data.valid[:cfg.sample_images], data.labels, cfg.image_square_size, ctx,
                     step=int(ctx.extra.get("step", 0)))
    return outputs
