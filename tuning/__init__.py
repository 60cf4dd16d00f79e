"""keras-tuner hyperparameter search over the package's model builders (see pipelines.tune).

``space`` holds search spaces as data, ``hypermodels`` wraps the package's own builders in
keras-tuner HyperModels, ``search`` makes tuners, runs them (locally or chief/worker) and writes
the results.
"""
