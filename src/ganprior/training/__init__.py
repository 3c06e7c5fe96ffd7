"""Training on an image folder: a prior (generator + discriminator, ``ganprior train``) or an
encoder for a frozen prior (``ganprior train-encoder``)."""

from .data import ImageSet, build_image_set, holdout_files, list_images, parse_labels, split_holdout
from .encoder_trainer import EncoderTrainConfig, EncoderTrainer, read_encoder_run_config
from .trainer import TrainConfig, Trainer, calibrated_copy, export_prior, read_run_config

__all__ = ["EncoderTrainConfig", "EncoderTrainer", "ImageSet", "TrainConfig", "Trainer", "build_image_set",
           "calibrated_copy", "export_prior", "holdout_files", "list_images", "parse_labels", "read_encoder_run_config",
           "read_run_config", "split_holdout"]
