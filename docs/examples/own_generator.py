"""Bring your own generator and forward model: deblur with any nn.Module GAN as the prior.

Run: python docs/examples/own_generator.py  (CPU, a few seconds)
"""
import deepinv
import torch

import ganprior

torch.manual_seed(0)
# any generator z -> image; this toy one maps a 16-d code to a 3x16x16 image in [-1, 1]
G = torch.nn.Sequential(torch.nn.Linear(16, 3 * 16 * 16), torch.nn.Tanh(), torch.nn.Unflatten(1, (3, 16, 16)))
prior = ganprior.GeneratorPrior(G, latent_shape=(16,), output_range=(-1, 1))  # frozen on wrapping

with torch.no_grad():
    x = prior.to_unit(G(torch.randn(1, 16)))  # ground truth in [0, 1], an image G can make
physics = deepinv.physics.BlurFFT(img_size=(3, 16, 16),
                                  filter=deepinv.physics.functional.blur.gaussian_blur(sigma=(1.5, 1.5)))
y = physics(x)
x_hat = ganprior.models.SingleCode(prior, steps=200)(y, physics)  # a deepinv Reconstructor


def psnr(a, b):
    return float(10 * torch.log10(1 / (a - b).pow(2).mean()))


print(f"blurred {psnr(y, x):.1f} dB -> restored {psnr(x_hat, x):.1f} dB")
