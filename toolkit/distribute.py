"""Training on several devices or machines through TensorFlow's own `tf.distribute`.

A task's `distribution=` names a strategy; `fit` builds the data, the model, the
optimizer and the callbacks under its scope, and Keras splits each global batch
across the replicas and shards the data by the strategy's own rules. Nothing
here schedules work itself.

`batch_size` is per replica: a run on N replicas reads `batch_size * N` examples
per step (the global batch, recorded in `metrics.json` under "distribution").
"""

import contextlib
import json
import os

from toolkit.errors import ToolkitError

CHOICES = ("mirrored", "multi_worker", "tpu")


def make_strategy(distribution):
    """`distribution` (None, a name in `CHOICES` or a `tf.distribute.Strategy`) -> a strategy, or None.

    "mirrored": every local GPU, or, with none, every logical CPU device (one, unless the
    CPU was split with `tf.config.set_logical_device_configuration`).
    "multi_worker": `MultiWorkerMirroredStrategy`, the cluster read from `TF_CONFIG`.
    "tpu": `TPUStrategy` on the TPU `TPUClusterResolver` finds.

    Examples:
        >>> make_strategy(None) is None
        True
        >>> make_strategy("mirrored").num_replicas_in_sync >= 1
        True
    """
    import tensorflow as tf

    if distribution is None or isinstance(distribution, tf.distribute.Strategy):
        return distribution
    if distribution not in _MADE:
        _MADE[distribution] = _new_strategy(distribution)
    return _MADE[distribution]


# One strategy per name for the whole process: two strategies' collective ops share TensorFlow's
# instance keys and abort each other ("Shape mismatch in the collective instance"), and the
# multi-worker strategy may only be made once.
_MADE = {}


def _new_strategy(distribution):
    import tensorflow as tf

    if distribution == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return _for_keras_fit(tf.distribute.MirroredStrategy)([device.name for device in devices])
    if distribution == "multi_worker":
        check_tf_config()
        return _for_keras_fit(tf.distribute.MultiWorkerMirroredStrategy)()
    if distribution == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, RuntimeError, tf.errors.OpError) as error:
            raise ToolkitError(
                f"distribution='tpu' found no TPU ({error}).",
                expected="a machine or notebook with a TPU attached",
                fix="run where a TPU is attached, or use distribution='mirrored' (GPUs) or None",
            ) from None
        return tf.distribute.TPUStrategy(resolver)
    raise ToolkitError(
        f"distribution={distribution!r} is not valid.",
        expected=f"None, one of {CHOICES}, or a tf.distribute.Strategy",
        fix="pass one of those",
    )


def _for_keras_fit(strategy_class):
    """`strategy_class` with a `reduce` that Keras 3's `fit` and `evaluate` can use.

    Before training or scoring under a strategy, Keras reads one (x, y) batch and averages it over
    the replicas with `strategy.reduce("MEAN", batch, axis=None)`, only to learn its shapes and
    dtypes. That fails on text (strings cannot be averaged), on a first batch that splits unevenly
    over the replicas (a 5-example validation set on two), and on the multi-worker strategy, which
    reduces single values only (keras-team/keras#20585, open). A structure reduced with no axis
    gets the first replica's values instead: the shapes and dtypes that call is after. The
    multi-worker strategy also fails when Keras averages each step's scalar loss and metrics with
    `axis=0`, which a scalar does not have; a scalar is averaged across replicas, as meant.
    """
    import tensorflow as tf

    class Strategy(strategy_class):
        def reduce(self, reduce_op, value, axis):
            if axis is None and isinstance(value, (tuple, list, dict)):
                return tf.nest.map_structure(lambda v: self.experimental_local_results(v)[0], value)
            parent = super()

            def one(v):
                rank = self.experimental_local_results(v)[0].shape.rank
                return parent.reduce(reduce_op, v, None if rank == 0 else axis)

            return tf.nest.map_structure(one, value)

    Strategy.__name__ = Strategy.__qualname__ = strategy_class.__name__
    return Strategy


def check_tf_config():
    """The `TF_CONFIG` a multi-worker run needs: a cluster with workers and this process's task in it.

    Examples:
        >>> os.environ["TF_CONFIG"] = '{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 3}}'
        >>> check_tf_config()
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: TF_CONFIG names worker 3, and its cluster has 1 worker(s).
        ...
        >>> del os.environ["TF_CONFIG"]
    """
    text = os.environ.get("TF_CONFIG")
    example = (
        'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}\''
    )
    if not text:
        raise ToolkitError(
            "distribution='multi_worker' needs the cluster in the TF_CONFIG environment variable, which is not set.",
            expected="TF_CONFIG with every worker's host:port and this worker's index",
            fix=f"set it on each machine, e.g. {example} (index 1 on the second)",
        )
    try:
        config = json.loads(text)
        workers = list(config["cluster"]["worker"])
        kind, index = config["task"]["type"], int(config["task"]["index"])
    except (ValueError, KeyError, TypeError) as error:
        raise ToolkitError(
            f"TF_CONFIG is not a cluster description ({type(error).__name__}: {error}).",
            expected='JSON with "cluster": {"worker": [...]} and "task": {"type": "worker", "index": N}',
            fix=f"set it like {example}",
        ) from None
    if kind not in ("worker", "chief") or (kind == "worker" and not 0 <= index < len(workers)):
        raise ToolkitError(
            f"TF_CONFIG names {kind} {index}, and its cluster has {len(workers)} worker(s).",
            expected="this process's task to be one of the cluster's workers",
            fix='set "task": {"type": "worker", "index": I} with I from 0 to the number of workers - 1',
        )


def one_example_per_replica(dataset):
    """`dataset` without the batches too small to give each replica of the strategy in scope an example.

    A last batch of one example on two replicas leaves one replica an empty batch, and Keras 3's
    loss of an empty batch is NaN, which ends the run. At most replicas - 1 examples of an epoch
    are left out; nothing changes without a strategy (or with one replica).

    Examples:
        >>> import tensorflow as tf
        >>> int(one_example_per_replica(tf.data.Dataset.range(5).batch(2)).cardinality())  # no strategy: unchanged
        3
    """
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas <= 1 or not isinstance(dataset, tf.data.Dataset):
        return dataset
    return dataset.filter(lambda *batch: tf.shape(tf.nest.flatten(batch)[0])[0] >= replicas)


def predict_on_batch(model, x):
    """`model.predict_on_batch(x)`, also for a model built under a strategy.

    Keras' `predict_on_batch` hands the whole batch to every replica and concatenates their
    answers (two replicas: each prediction twice); such a model is called directly instead.
    """
    if getattr(model, "_distribute_strategy", None) is None:
        return model.predict_on_batch(x)
    import keras

    return keras.ops.convert_to_numpy(model(x, training=False))


def scope(strategy):
    """The strategy's scope, or no scope for None."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def is_chief(strategy):
    """True for the one process that writes the run folder: every single-process run, and worker 0
    (or the chief) of a multi-worker one.

    Examples:
        >>> is_chief(None)
        True
    """
    resolver = getattr(getattr(strategy, "extended", None), "_cluster_resolver", None)
    if strategy is None or resolver is None or not getattr(resolver, "task_type", None):
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0)


def describe(strategy, batch_size):
    """What `metrics.json` records about how a run was spread.

    Examples:
        >>> describe(None, 32)
        {'strategy': None, 'replicas': 1, 'batch_size_per_replica': 32, 'global_batch_size': 32}
    """
    replicas = strategy.num_replicas_in_sync if strategy is not None else 1
    return {
        "strategy": type(strategy).__name__ if strategy is not None else None,
        "replicas": replicas,
        "batch_size_per_replica": batch_size,
        "global_batch_size": batch_size * replicas,
    }


def worker_run_name(strategy, run_name):
    """The run name this process trains under: `run_name`, or, for a multi-worker run's other workers
    (which train in step with the chief and must not write its files), a folder of their own inside the
    chief's, `<run_name>/workers/worker-N`, kept until the run ends so a restarted worker resumes from
    its own backup.

    Examples:
        >>> worker_run_name(None, "first")
        'first'
    """
    if is_chief(strategy):
        return run_name
    if run_name is None:
        raise ToolkitError(
            "A multi-worker run needs run_name: every worker must find the same run folder, and the "
            "default name is each worker's own start time.",
            expected="the same run_name= (--run-name) on every worker",
            fix="pass run_name='...' on each worker",
        )
    return f"{run_name}/workers/worker-{strategy.cluster_resolver.task_id}"
