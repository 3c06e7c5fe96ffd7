"""Training a prior (generator + discriminator) on an image folder: ``ganprior train``."""

from .data import ImageSet, build_image_set, holdout_files, list_images, parse_labels, split_holdout
from .trainer import TrainConfig, Trainer, calibrated_copy, export_prior, read_run_config

__all__ = ["ImageSet", "TrainConfig", "Trainer", "build_image_set", "calibrated_copy", "export_prior",
           "holdout_files", "list_images", "parse_labels", "read_run_config", "split_holdout"]
