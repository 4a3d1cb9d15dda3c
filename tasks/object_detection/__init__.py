"""Object detection (in progress, issue "Object detection"). Landed so far: annotation readers
(`annotations`: VOC, COCO, YOLO, CSV), the built-in generated set (`shapes`), the streaming pipeline
with box-moving augmentation (`pipeline`), and center-point targets, loss and decoding (`centers`). The
task class, the detector models and the benchmarks come next."""
