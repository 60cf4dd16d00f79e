"""Optional dependencies: which ``pip`` extra installs each, and the one-line error when missing.

The core install reads, simulates and prepares data; TensorFlow (training, ``tf.data``, the
SavedModel), tf-keras-vis (saliency), keras-tuner (search) and yt (other codes' outputs) come
with extras, so that the package installs next to other astronomy software without pulling
them all in. ``pipelines._cli.run`` turns a missing one into one line naming its extra.
"""

from __future__ import annotations

#: Top-level module -> (extra that installs it, what needs it).
EXTRAS: dict[str, tuple[str, str]] = {
    "tensorflow": ("cpu", "training, tf.data pipelines and SavedModel export (TensorFlow; the "
                          "'gpu' extra installs the CUDA build)"),
    "tf_keras_vis": ("interpret", "saliency maps (tf-keras-vis)"),
    "keras_tuner": ("tune", "hyperparameter search (keras-tuner)"),
    "yt": ("yt", "reading other codes' outputs (yt)"),
    "torch": ("torch", "the PyTorch backend and reference benchmarks"),
}


def missing_message(module: str) -> str | None:
    """The message for a missing optional module (by its top-level name), or None if the module
    is not one of :data:`EXTRAS`."""
    root = module.split(".")[0]
    if root not in EXTRAS:
        return None
    extra, purpose = EXTRAS[root]
    return (f"{purpose} needs the Python module {root!r}, which is not installed; install it "
            f"with pip install 'crturb-keras[{extra}]' (in a checkout: pip install -e "
            f"'.[{extra}]')")
