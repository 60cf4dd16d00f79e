"""keras-tuner hyperparameter search over the package's model builders (see pipelines.tune)."""
