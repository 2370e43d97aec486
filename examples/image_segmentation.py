"""Image segmentation with a Gaussian mixture over pixel colours.

Segments a photo (scikit-learn's china.jpg) with the number of segments chosen by BIC, shows
each segment in its mean colour, the segments over the photo and the assignment uncertainty,
then segments a greyscale microscopy-like image (scikit-image's coins) with colour and
position features. Saves image_segmentation.png.

Run from the repository root: ``PYTHONPATH=src python examples/image_segmentation.py``.
"""
from _helpers import parse_args, plt
from skimage import data
from sklearn.datasets import load_sample_image

from gaussmix.image import segment
from gaussmix.plotting import plot_criteria, plot_segmentation, plot_uncertainty

args = parse_args(__doc__.splitlines()[0])
step = 4 if args.quick else 1

photo = load_sample_image("china.jpg")[::step, ::step]
# K in 2..8 chosen by BIC, colours compared in CIELAB (closer to perceived differences)
seg = segment(photo, range(2, 9), colorspace="lab", random_state=0)
print(f"china.jpg {photo.shape[1]}x{photo.shape[0]}: BIC chose K={seg.n_components}")

coins = data.coins()[::step, ::step]
coin_seg = segment(coins, 2, features=("color", "position"), random_state=0)

fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
axes[0, 0].imshow(photo)
axes[0, 0].set_title("china.jpg")
axes[0, 1].imshow(seg.recolored)
axes[0, 1].set_title(f"K={seg.n_components} by BIC, segments in their mean colour")
plot_criteria(seg, criterion=("bic", "icl"), ax=axes[0, 2])
axes[0, 2].set_title("BIC and ICL of K (on the fitted pixels)")
plot_segmentation(photo, seg, ax=axes[1, 0])
axes[1, 0].set_title("segments over the photo")
plot_uncertainty(seg, ax=axes[1, 1])
axes[1, 1].set_title("assignment uncertainty (1 - max posterior)")
plot_segmentation(coins, coin_seg, ax=axes[1, 2], alpha=0.35)
axes[1, 2].set_title("coins: intensity + position, K=2")
for ax in (axes[0, 0], axes[0, 1]):
    ax.set_axis_off()
fig.tight_layout()
path = args.output / "image_segmentation.png"
fig.savefig(path, dpi=90)
plt.close(fig)
print(f"saved {path}")
