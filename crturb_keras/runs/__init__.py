"""What happens to a run directory: training (resumable), its typed record, test-split
evaluation, export to portable serving models, and prediction on maps; one configuration
trained over seeds (repeats) and the science report over folds of the runs and seeds.

The modules import Keras (and TensorFlow for ``tf.data``); ``crturb_keras`` re-exports their
public names lazily.
"""
