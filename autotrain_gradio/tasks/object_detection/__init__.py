"""Object detection: a DETR-family model (YOLOS, DETR, ...) through AutoModelForObjectDetection on an image folder
with COCO boxes in metadata.jsonl; COCO mAP at evaluation, eval images with their predicted boxes drawn."""
