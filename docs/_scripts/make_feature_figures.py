"""Pictures for the image-features page: an LBP code image and texture histograms.

``main(outdir)`` writes ``features_lbp_codes.png`` and
``features_histograms.png``. It needs scikit-image (the textures) and
matplotlib.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mlearn.features import ColorHistogram, LocalBinaryPattern, local_binary_pattern  # noqa: E402


def _textures():
    from skimage import data

    return {"brick": data.brick()[:160, :160], "grass": data.grass()[:160, :160]}


def lbp_code_figure():
    brick = _textures()["brick"]
    codes = local_binary_pattern(brick, P=8, R=1, method="uniform")
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.6))
    axes[0].imshow(brick, cmap="gray")
    axes[0].set_title("brick (scikit-image)")
    shown = axes[1].imshow(codes, cmap="viridis", vmin=0, vmax=9)
    axes[1].set_title("LBP codes, P=8, R=1, 'uniform'")
    for ax in axes:
        ax.set_axis_off()
    fig.colorbar(
        shown,
        ax=axes[1],
        ticks=range(10),
        fraction=0.046,
        label="code (9: non-uniform)",
    )
    return fig


def histogram_figure():
    textures = _textures()
    images = list(textures.values())
    lbp = LocalBinaryPattern(P=8, R=1, method="uniform").fit(images)
    grey = ColorHistogram(bins=16, color_space="gray").fit(images)
    lbp_h = lbp.transform(images)
    grey_h = grey.transform(images)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    width = 0.4
    for k, name in enumerate(textures):
        axes[0].bar(np.arange(10) + (k - 0.5) * width, lbp_h[k], width, label=name)
        axes[1].bar(np.arange(16) + (k - 0.5) * width, grey_h[k], width, label=name)
    axes[0].set_title("LocalBinaryPattern(P=8, R=1)")
    axes[0].set_xlabel("uniform LBP code")
    axes[1].set_title("ColorHistogram(bins=16, 'gray')")
    axes[1].set_xlabel("grey-level bin")
    for ax in axes:
        ax.set_ylabel("fraction of pixels")
        ax.legend()
    return fig


def main(outdir):
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    for name, draw in {
        "features_lbp_codes.png": lbp_code_figure,
        "features_histograms.png": histogram_figure,
    }.items():
        fig = draw()
        fig.tight_layout()
        fig.savefig(outdir / name, dpi=100)
        plt.close(fig)


if __name__ == "__main__":
    main(Path(__file__).resolve().parents[1] / "user_guide" / "images")
