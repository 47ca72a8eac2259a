"""``convergan features``: train the feature extractors that image metrics use."""

from __future__ import annotations

import argparse
import time

from convergan.cli.errors import COUNT, SEED, UsageError
from convergan.cli.outputs import writable_file

DATASETS = ("fashion-mnist",)


def register(commands) -> None:
    parser = commands.add_parser(
        "features",
        help="train feature extractors for image metrics (FID/KID/precision-recall)",
        description="Feature extractors for image metrics. Inception weights cannot be "
        "trained here: put torch-fidelity's weights-inception-2015-12-05-6726825d.pth in the "
        "cache folder or point $CONVERGAN_INCEPTION at it.",
    )
    sub = parser.add_subparsers(dest="features_command", metavar="COMMAND", required=True)
    train = sub.add_parser(
        "train",
        help="train a classifier whose penultimate layer is the feature space",
        description="Train the Fashion-MNIST classifier on the full train split (Adam, "
        "cosine learning rate; a bar of the batches on stderr, a line with the test accuracy "
        "after each epoch; 5 epochs take 4-15 minutes on 2 CPU cores) and save it, "
        "weights-only, to the cache folder or --out. The "
        "cache folder is $CONVERGAN_CACHE if set, else $XDG_CACHE_HOME/convergan, else "
        "~/.cache/convergan; image metrics also cache real-data statistics there.",
    )
    train.add_argument("dataset", choices=DATASETS, help="dataset to train on")
    train.add_argument("--epochs", type=COUNT, default=5, help="epochs (default 5)")
    train.add_argument("--out", default=None, help="output .pt file (default: cache folder)")
    train.add_argument("--data", default=None, help="folder of the IDX files (default: dpkg's)")
    train.add_argument("--seed", type=SEED, default=0, help="random seed (default 0)")
    train.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> int:
    from convergan.data.image_formats import DatasetError, DatasetNotFoundError
    from convergan.metrics.features import CLASSIFIER_NAME, train_fashion_mnist_classifier
    from convergan.metrics.images import default_cache_dir

    out = writable_file(args.out or default_cache_dir() / f"{CLASSIFIER_NAME}.pt", "--out")
    start = time.perf_counter()
    try:
        _, accuracy = train_fashion_mnist_classifier(
            args.data, args.epochs, out, seed=args.seed, log=lambda line: print(line, flush=True)
        )
    except (DatasetError, DatasetNotFoundError) as error:
        raise UsageError(str(error)) from None
    except OSError as error:
        raise UsageError(f"cannot write {out}: {error.strerror or error}") from None
    print(f"test accuracy {accuracy:.4f} in {time.perf_counter() - start:.0f} s; saved {out}")
    return 0
