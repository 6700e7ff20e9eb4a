"""Filter an RGB photo with two random 9x9 filters: the Theano convolution tutorial on symconv.

A ``conv2d`` layer with random weights and a sigmoid, applied to a photo; the two feature maps
are drawn beside the original with matplotlib's ``imshow``, as in the tutorial, on one grey
scale with a colour bar. The only change from the tutorial's code is the import:
``import symconv as theano``.

Run ``python examples/filter_photo.py --help`` for the options.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import symconv as theano
import symconv.tensor as T
from symconv.tensor.nnet import conv2d


def filter_image(image: np.ndarray, seed: int = 23455) -> np.ndarray:
    """The two sigmoid feature maps of an (height, width, 3) image in [0, 1]."""
    rng = np.random.RandomState(seed)
    input = T.tensor4(name="input")
    w_shp = (2, 3, 9, 9)
    w_bound = np.sqrt(3 * 9 * 9)
    W = theano.shared(np.asarray(rng.uniform(low=-1.0 / w_bound, high=1.0 / w_bound,
                                             size=w_shp), dtype=input.dtype), name="W")
    b_shp = (2,)
    b = theano.shared(np.asarray(rng.uniform(low=-.5, high=.5, size=b_shp), dtype=input.dtype),
                      name="b")
    conv_out = conv2d(input, W)
    output = T.nnet.sigmoid(conv_out + b.dimshuffle("x", 0, "x", "x"))
    f = theano.function([input], output)
    height, width, _ = image.shape
    img_ = image.transpose(2, 0, 1).reshape(1, 3, height, width).astype(input.dtype)
    return f(img_)[0]


def side_by_side(path: str, image: np.ndarray, maps: np.ndarray, title: str) -> None:
    """The photo, then each feature map as a labelled ``imshow`` panel on one grey scale
    with a colour bar, written to ``path``."""
    import matplotlib
    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt
    height, width, _ = image.shape
    fig, axes = plt.subplots(1, 1 + len(maps), figsize=(4.2 * (1 + len(maps)), 3.6),
                             constrained_layout=True)
    axes[0].imshow(image)
    axes[0].set_title(f"input photo ({width}x{height} RGB)")
    lo, hi = float(maps.min()), float(maps.max())
    for k, (ax, fmap) in enumerate(zip(axes[1:], maps)):
        shown = ax.imshow(fmap, cmap="gray", vmin=lo, vmax=hi)
        ax.set_title(f"feature map {k} ({fmap.shape[1]}x{fmap.shape[0]})")
    for ax in axes:
        ax.set_xlabel("x (pixels)")
    axes[0].set_ylabel("y (pixels)")
    fig.colorbar(shown, ax=axes[1:], shrink=0.9, label="sigmoid(conv + b)")
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> np.ndarray:
    from symconv import datasets
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", metavar="FILE",
                        help="photo to filter (default: the small cat photo shipped in symconv)")
    parser.add_argument("--out", default="filtered.png", metavar="PNG",
                        help="where to write original + two feature maps (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=23455, help="seed of the random filters")
    args = parser.parse_args(argv)
    try:
        import matplotlib  # noqa: F401
        from PIL import Image
    except ImportError:
        raise SystemExit("this example needs matplotlib and Pillow: "
                         "pip install 'symconv[examples]'") from None
    folder = Path(args.out).expanduser().resolve().parent
    if not folder.is_dir():
        raise SystemExit(f"--out {args.out}: folder {folder} does not exist")
    path = args.image or str(datasets.sample_image_path())
    image = np.asarray(Image.open(path).convert("RGB"), dtype="float64") / 256.
    maps = filter_image(image, args.seed)
    side_by_side(args.out, image, maps, "Two random 9x9 filters + sigmoid, applied by "
                 "symconv's conv2d")
    print(f"filtered {path} ({image.shape[1]}x{image.shape[0]}) with two random 9x9 filters; "
          f"feature maps {maps.shape[2]}x{maps.shape[1]}, written beside it to {args.out}")
    return maps


if __name__ == "__main__":
    main()
