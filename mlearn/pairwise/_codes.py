"""Named constants the kernels share (Numba, the array-namespace backend and
its CUDA source): which direct metric a kernel computes, and how the result
of a matrix product is finished into distances.

A leaf module, so that the registry, the operands and every backend import
it without importing one another.
"""

# Direct metrics: the kernels' ``code`` argument.
SQEUCLIDEAN = 0
EUCLIDEAN = 1
MANHATTAN = 2
CHEBYSHEV = 3
MINKOWSKI = 4
HAMMING = 5
CHI2 = 6
KL = 7
JENSEN_SHANNON = 8

DIRECT_CODES = {
    "SQEUCLIDEAN": SQEUCLIDEAN,
    "EUCLIDEAN": EUCLIDEAN,
    "MANHATTAN": MANHATTAN,
    "CHEBYSHEV": CHEBYSHEV,
    "MINKOWSKI": MINKOWSKI,
    "HAMMING": HAMMING,
    "CHI2": CHI2,
    "KL": KL,
    "JENSEN_SHANNON": JENSEN_SHANNON,
}

# Finish of a product ``G = A @ B.T``: the kernels' ``mode`` argument.
SQUARED = 0  # ‖a‖² + ‖b‖² - 2 a·b, the squared distance
ROOT = 1  # its square root
COSINE = 2  # rows are unit vectors: 1 - cos, as half the squared distance
CLIP = 3  # rows are unit vectors: cos, clipped to [-1, 1]
RAW = 4  # the product itself (bilinear)
