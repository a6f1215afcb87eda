"""Train the network behind :class:`~mlearn.features.DeepEmbedding`.

Estimators that fit a PyTorch backbone and then embed with it, as
transformers:

- :class:`DeepMetricLearner` — supervised metric losses (contrastive,
  triplet with in-batch mining, margin ranking, NormFace / CosFace / ArcFace,
  softmax), the same definitions as mlearn's linear learners;
- :class:`SimCLR`, :class:`MoCo`, :class:`BYOL` and
  :class:`RotationPrediction` — self-supervised pre-training on unlabelled
  images, with the augmentations of :mod:`mlearn.deep.augment`.

:class:`SmallConvNet` is a small CNN for images from 8×8 to 64×64 pixels, and
:func:`projection_head` builds the MLP heads the self-supervised methods put
on top of a backbone.

Importing this package imports torch (``pip install "mlearn-metric[torch]"``);
``import mlearn`` does not.
"""

# Each submodule imports torch through ``_torch.import_torch``, whose error
# names the extra to install.
from . import augment
from ._models import SmallConvNet, projection_head
from .metric import DeepMetricLearner
from .self_supervised import BYOL, MoCo, RotationPrediction, SimCLR

__all__ = [
    "BYOL",
    "DeepMetricLearner",
    "MoCo",
    "RotationPrediction",
    "SimCLR",
    "SmallConvNet",
    "augment",
    "projection_head",
]
