"""The image classifier's pictures for its report: the mistakes it was surest of."""

import numpy as np

from toolkit import distribute, figures


def confident_mistakes(model, dataset, classes, count=16, most=2000):
    """Thumbnails of the `count` mistakes the model was surest of, among up to `most` examples."""
    found, seen = [], 0
    for images, labels in dataset:
        probabilities = distribute.predict_on_batch(model, images)
        for image, label, p in zip(images.numpy(), labels.numpy(), probabilities):
            if int(np.argmax(p)) != int(label):
                found.append((float(np.max(p)), image, int(label), int(np.argmax(p))))
        seen += len(labels)
        if seen >= most:
            break
    if not found:
        return []
    found.sort(key=lambda item: -item[0])
    top = found[:count]
    thumbnails = [np.clip(image, 0, 255).astype(np.uint8) for _, image, _, _ in top]
    titles = [f"{classes[t]} -> {classes[p]} ({c:.2f})" for c, _, t, p in top]
    return [("Most confident mistakes (test): true -> predicted (probability)", figures.image_grid(thumbnails, titles))]
