"""Object detection (in progress, issue "Object detection"): annotation readers (`annotations`) and the
built-in generated set (`shapes`); the task class comes next."""
