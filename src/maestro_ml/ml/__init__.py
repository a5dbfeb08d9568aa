"""The pure machine-learning layer: estimators, datasets, training, metrics and model files.

Nothing here touches a database or HTTP; it only reads and writes local files. The job
worker runs ``python -m maestro_ml.ml.training_process`` and serving loads models with
``maestro_ml.ml.model_io.load_model``.
"""
