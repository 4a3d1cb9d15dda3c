"""Object detection (in progress, issue "Object detection"). Landed so far: annotation readers
(`annotations`: VOC, COCO, YOLO, CSV), the built-in generated set (`shapes`), the streaming pipeline
with box-moving augmentation (`pipeline`), center-point targets, loss and decoding (`centers`), and the
from-scratch detector (`detector`). The task class, KerasHub detectors and the benchmarks come next."""
