"""Issue 24, "smaller things a user sees": what commands print reads as meant."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from convergan.cli.main import main
from convergan.config import load_config
from convergan.config.shipped import CONFIGS, description, shipped
from convergan.wording import count

ROOT = Path(__file__).resolve().parents[1]


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main([str(a) for a in argv]))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_train_alone_shows_the_usage_and_the_config_names(capsys):
    code, out, err = run(capsys, "train")
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.startswith("usage: convergan train")
    for name in ("toy2d/circle", "dirac", "fashion-mnist/dcgan-r1"):
        assert re.search(rf"[ ,]{re.escape(name)}[,( ]", err), name


def test_every_description_is_a_whole_sentence():
    """The first comment line was cut mid-sentence where a sentence ran over two lines."""
    from convergan.config.shipped import SWEEPS

    for kind in (CONFIGS, SWEEPS):
        for name, path in shipped(kind).items():
            text = description(path)
            assert text.endswith((".", ")", "!")), (name, text)
            assert text.count("(") == text.count(")"), (name, text)
            assert len(text) <= 160, (name, text)  # a line in a listing, not a paragraph


def test_sentence_ends_are_not_taken_from_abbreviations(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("# A (Mescheder et al., 2018), e.g. this,\n# runs on. Second sentence.\nx: 1\n")
    assert description(path) == "A (Mescheder et al., 2018), e.g. this, runs on."


def test_every_trainable_shipped_config_names_its_own_run_directory():
    """``train dirac`` wrote to the schema's runs/default, and without a progress bar."""
    for name in shipped(CONFIGS):
        if name.endswith("/base"):
            continue
        config = load_config(name)
        assert config.out_dir == f"runs/{name}", name
        assert config.train.progress is not False, name


@pytest.mark.parametrize(
    "n, text", [(0, "0 samples"), (1, "1 sample"), (2, "2 samples"), (2000, "2,000 samples")]
)
def test_counts_agree_with_their_nouns(n, text):
    assert count(n, "sample") == text


def test_make_install_says_what_it_installs():
    if shutil.which("make") is None:
        pytest.skip("no make")
    recipe = subprocess.run(
        ["make", "-n", "-B", "install", "VENV=/nonexistent/venv"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    installs = [i for i, line in enumerate(recipe) if "pip install" in line]
    assert installs and not any(" -q" in recipe[i] for i in installs)
    for i in installs:  # each install is announced, by what it installs
        before = " ".join(recipe[max(0, i - 2) : i])
        assert "echo" in before and "make install:" in before, recipe[i]


def test_an_overflowing_dirac_table_is_one_line_after_its_bar(capsys):
    code, out, err = run(capsys, "dirac", "table", "--lr", "1e308")
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip()]
    assert code == 2 and "Traceback" not in err
    assert lines[-1].startswith("convergan: error: --lr 1e+308: the update Jacobian")


def test_a_fashion_mnist_grid_is_drawn_large_enough_to_see(tmp_path):
    """8 x 8 images of 28 px with 2 px padding are 242 px wide: enlarged by a whole factor."""
    import numpy as np
    import torch
    from PIL import Image

    from convergan.plots.views import image_grid

    images = torch.linspace(-1, 1, 64 * 28 * 28).reshape(64, 1, 28, 28)
    path = image_grid(tmp_path / "grid.png", None, images, None, "samples")
    with Image.open(path) as picture:
        pixels = np.asarray(picture)
    width = 8 * (28 + 2) + 2
    assert pixels.shape == (2 * width, 2 * width)  # ceil(480 / 242) = 2
    # nearest neighbour: every grid pixel is a 2 x 2 block of the picture
    assert (pixels[::2, ::2] == pixels[1::2, 1::2]).all()
    top_left = round((float(images[0, 0, 0, 0]) + 1) * 127.5)
    assert pixels[4, 4] == top_left  # padding 2, scale 2: the first image's first pixel
