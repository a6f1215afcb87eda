"""Codes the feature kernels take for their string options.

A module without Numba, so that the transformers read the codes (to check
and declare their parameters) without importing the kernels, which are
imported on first use.
"""

__all__ = ["METHOD_CODES", "SPACE_CODES"]

#: ``local_binary_pattern``'s ``method``: the ``method`` argument of
#: ``_lbp_kernels.lbp_codes`` and ``lbp_histograms``.
METHOD_CODES = {"default": 0, "ror": 1, "uniform": 2, "nri_uniform": 3, "var": 4}

#: How the (scaled) input channels become the histogram's channels: the
#: ``space`` argument of ``_color_kernels.histogram_float``.
SPACE_CODES = {"identity": 0, "hsv": 1, "lab": 2, "gray": 3}
