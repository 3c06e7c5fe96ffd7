"""BigGAN (Brock et al. 2019) as trained by BigGAN-PyTorch and used by Deep Generative Prior (DGP).

Modules, each importing only those before it: ``files`` (reading checkpoints), ``layers``
(spectral norm, self-attention), ``generator`` and ``discriminator`` (their parts and
architectures), ``conditioning`` (class embeddings), ``prior`` (``BigGANPrior``), ``renaming``
(checkpoint keys to ours), ``architecture`` (inferred from tensor shapes) and ``loading``
(``load_biggan``). ``priors.biggan_deep`` reuses the shared ones.
"""

from .architecture import infer_discriminator_architecture, infer_generator_architecture, is_biggan_state_dict
from .discriminator import BigGANDiscriminator, DiscriminatorArchitecture, DiscriminatorStage, ResidualDownBlock
from .files import read_json, read_state_dict
from .generator import (BigGANArchitecture, ClassConditionalBatchNorm, GeneratorStage, OutputHead, ResidualUpBlock,
                        Stem, StoredStatsBatchNorm)
from .layers import SelfAttention, SNConv2d, SNEmbedding, SNLinear, SpectralNormed
from .loading import load_biggan, load_biggan_discriminator
from .prior import BigGANPrior

__all__ = ["BigGANArchitecture", "BigGANDiscriminator", "BigGANPrior", "ClassConditionalBatchNorm",
           "DiscriminatorArchitecture", "DiscriminatorStage", "GeneratorStage", "OutputHead", "ResidualDownBlock",
           "ResidualUpBlock", "SNConv2d", "SNEmbedding", "SNLinear", "SelfAttention", "SpectralNormed", "Stem",
           "StoredStatsBatchNorm", "infer_discriminator_architecture", "infer_generator_architecture",
           "is_biggan_state_dict", "load_biggan", "load_biggan_discriminator", "read_json", "read_state_dict"]
