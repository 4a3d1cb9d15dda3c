"""Object detection (in progress, issue "Object detection"): annotation readers (`annotations`) and the
built-in generated set (`shapes`), the streaming pipeline with box-moving augmentation (`pipeline`); the task
class comes next."""
