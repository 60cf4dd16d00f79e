"""Keras 3 models (``keras.ops`` / ``keras.layers`` only): CNN classifier and U-net."""

from .cnn import build_classifier
from .unet import MapLoss, build_unet, ssim

__all__ = ["MapLoss", "build_classifier", "build_unet", "ssim"]
