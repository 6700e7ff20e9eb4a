"""Filter an RGB photo with two random 9x9 filters: the Theano convolution tutorial on symconv.

A ``conv2d`` layer with random weights and a sigmoid, applied to a photo; the two feature maps
are written beside the original, each stretched to its own min..max as matplotlib's
``imshow`` does in the tutorial. The only change from the tutorial's code is the import:
``import symconv as theano``.

Run ``python examples/filter_photo.py --help`` for the options.
"""
from __future__ import annotations

import argparse
from typing import Any

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


def side_by_side(image: np.ndarray, maps: np.ndarray) -> Any:
    """Original, then each feature map in grey (stretched to its min..max), in one row."""
    from PIL import Image
    height, width, _ = image.shape
    pad = 4
    canvas = Image.new("RGB", (3 * width + 2 * pad, height), "white")
    canvas.paste(Image.fromarray((image * 255).astype(np.uint8)), (0, 0))
    for k, fmap in enumerate(maps, 1):
        span = max(float(fmap.max() - fmap.min()), 1e-12)
        scaled = (fmap - fmap.min()) / span * 255
        grey = Image.fromarray(scaled.astype(np.uint8)).convert("RGB")
        canvas.paste(grey, (k * (width + pad) + 4, 4))
    return canvas


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
        from PIL import Image
    except ImportError:
        raise SystemExit("this example needs Pillow: pip install 'symconv[examples]'") from None
    path = args.image or str(datasets.sample_image_path())
    image = np.asarray(Image.open(path).convert("RGB"), dtype="float64") / 256.
    maps = filter_image(image, args.seed)
    side_by_side(image, maps).save(args.out)
    print(f"filtered {path} ({image.shape[1]}x{image.shape[0]}) with two random 9x9 filters; "
          f"feature maps {maps.shape[2]}x{maps.shape[1]}, written beside it to {args.out}")
    return maps


if __name__ == "__main__":
    main()
