"""Object detection (in progress, issue "Object detection"): the annotation readers in `annotations`."""
