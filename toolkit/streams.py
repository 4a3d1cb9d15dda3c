"""Where a training run is in its data: the pass counter that makes a resumed run read what an
uninterrupted one would have read (the shuffle and augmentation order of every epoch)."""

import warnings

import tensorflow as tf


class DataPosition:
    """Where a training dataset is in its sequence of epochs, so that a resumed run reads what an
    uninterrupted one would have.

    A seeded `shuffle(..., reshuffle_each_iteration=True)` (and a seeded `Dataset.random`) draws a new
    order from a generator each time an iterator over it is made; a new process starts that generator
    again, so a run resumed at epoch k would read epoch 0's order. tf.data cannot save a generator's
    state, and Keras makes more iterators than it reads (one is made and dropped at each epoch's end),
    so counting Keras' iterators would tie the order to Keras internals. Instead the dataset Keras
    gets is `dataset` read through a `flat_map`: each pass that is really read makes exactly one
    iterator over `dataset` and adds one to `passes` (a variable, saved with each backup). On resume,
    `skip_to(saved)` makes the passes this process has not made without reading anything, and the
    next pass reads the order the uninterrupted run read.

    Examples:
        >>> ds = tf.data.Dataset.range(6).shuffle(6, seed=1, reshuffle_each_iteration=True)
        >>> first = DataPosition(ds)
        >>> orders = [[int(v) for v in first.dataset] for _ in range(3)]
        >>> # As a new process would build it:
        >>> resumed = DataPosition(tf.data.Dataset.range(6).shuffle(6, seed=1, reshuffle_each_iteration=True))
        >>> resumed.skip_to(first.passes_done() - 1)
        >>> [int(v) for v in resumed.dataset] == orders[-1], first.passes_done(), resumed.passes_done()
        (True, 3, 3)
        >>> def offset_windows():  # a random draw under a shuffle, as text generation makes one
        ...     offset = tf.data.Dataset.random(seed=2, rerandomize_each_iteration=True).take(1)
        ...     windows = offset.flat_map(lambda r: tf.data.Dataset.range(50).skip(r % 7).batch(5, drop_remainder=True))
        ...     return windows.take(8).shuffle(8, seed=2, reshuffle_each_iteration=True)
        >>> first = DataPosition(offset_windows())
        >>> orders = [[int(v[0]) for v in first.dataset] for _ in range(3)]
        >>> resumed = DataPosition(offset_windows())
        >>> resumed.skip_to(2)
        >>> [int(v[0]) for v in resumed.dataset] == orders[-1]
        True
    """

    def __init__(self, dataset):
        self.inner = dataset
        self.passes = tf.Variable(0, dtype=tf.int64, trainable=False, name="data_passes")
        if not isinstance(dataset, tf.data.Dataset):  # arrays (read in order; shuffle=False) have no position
            self.dataset = dataset
            return

        def one_pass(_):
            self.passes.assign_add(1)
            return dataset

        counted = tf.data.Dataset.range(1).flat_map(one_pass)
        count = int(dataset.cardinality())
        if count >= 0:  # flat_map hides it; Keras' progress bar and step counts need it
            counted = counted.apply(tf.data.experimental.assert_cardinality(count))
        self.dataset = counted

    def passes_done(self):
        return int(self.passes.numpy())

    def skip_to(self, passes):
        """Moves on to just after pass `passes` (as counted by the run being resumed), reading nothing."""
        if int(passes) < self.passes_done():
            warnings.warn(
                f"The training data was already read {self.passes_done()} times, more than the {int(passes)} "
                "this step expects; its order will differ from an uninterrupted run's.",
                stacklevel=2,
            )
            return
        for _ in range(int(passes) - self.passes_done()) if isinstance(self.inner, tf.data.Dataset) else ():
            # A new iterator draws the next order. One element is read, since a shuffle makes its input's
            # iterators only when first asked for an element: a random draw under it (text generation's
            # offset) would otherwise not be made, and the resumed pass would read another one.
            next(iter(self.inner), None)
        self.passes.assign(int(passes))
