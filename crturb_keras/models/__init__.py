"""Keras 3 models (``keras.ops`` / ``keras.layers`` only): CNN classifier, U-net, DDIM, VAE."""

from .autoencoder import VariationalAutoencoder, build_autoencoder
from .cnn import build_classifier
from .diffusion import DiffusionModel, build_denoiser, cosine_rates
from .inference import predict_batches
from .unet import MapLoss, build_unet, ssim

__all__ = ["DiffusionModel", "MapLoss", "VariationalAutoencoder", "build_autoencoder",
           "build_classifier", "build_denoiser", "build_unet", "cosine_rates", "predict_batches",
           "ssim"]
