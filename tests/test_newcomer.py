"""Issue 16, "the newcomer's path": images train out of the box, long work shows progress,
help texts say what the commands take."""

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from convergan.cli.main import main
from convergan.data.image_formats import find_fashion_mnist

IMAGES_GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guides" / "images.md"
needs_fashion_mnist = pytest.mark.skipif(
    find_fashion_mnist() is None, reason="dataset-fashion-mnist is not installed"
)


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main([str(a) for a in argv]))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@needs_fashion_mnist
def test_fashion_mnist_trains_without_a_classifier_with_one_warning(tmp_path, capsys, monkeypatch):
    cache = tmp_path / "cache"  # a machine that never trained a classifier
    monkeypatch.setenv("CONVERGAN_CACHE", str(cache))
    out_dir = tmp_path / "run"
    argv = ["train", "fashion-mnist/dcgan-r1", "train.steps=2", "model.width=8", "--quiet"]
    code, out, err = run(capsys, *argv, "train.sample_every=0", f"out_dir={out_dir}")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning")]
    assert len(warnings) == 1, err
    assert "fid" in warnings[0] and "convergan features train fashion-mnist" in warnings[0]
    assert f"run directory: {out_dir}" in out
    assert (out_dir / "checkpoints" / "step-00000002.pt").is_file()


@needs_fashion_mnist
def test_features_train_shows_epochs_progress_and_accuracy(tmp_path, capsys, monkeypatch):
    import convergan.data.image_formats as formats
    from convergan.metrics.features import FashionMNISTClassifier

    load = formats.load_fashion_mnist
    sizes = {"train": 640, "test": 300}  # a slice: the full split takes minutes

    def small(path, split):
        images, labels = load(path, split)
        return images[: sizes[split]], labels[: sizes[split]]

    monkeypatch.setattr(formats, "load_fashion_mnist", small)
    out = tmp_path / "classifier.pt"
    code, stdout, stderr = run(capsys, "features", "train", "fashion-mnist", "--epochs", "2",
                               "--out", out)  # fmt: skip
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert lines[0] == "training on 640 images, testing on 300, 2 epochs"
    epochs = [re.fullmatch(r"epoch (\d)/2: loss [\d.]+, test accuracy ([\d.]+) \(\d+ s\)", line)
              for line in lines[1:3]]  # fmt: skip
    assert [int(m.group(1)) for m in epochs] == [1, 2]
    assert "epoch 1/2" in stderr and "epoch 2/2" in stderr and "10/10" in stderr  # 640/128
    # The last accuracy printed is the saved model's, recomputed here on the same images.
    model = FashionMNISTClassifier()
    model.load_state_dict(torch.load(out, weights_only=True)["state_dict"])
    images, labels = small(None, "test")
    with torch.no_grad():
        predicted = model(images.float() / 127.5 - 1).argmax(1)
    accuracy = (predicted == labels.long()).float().mean().item()
    assert float(epochs[1].group(2)) == pytest.approx(accuracy, abs=1e-4)


# -- help texts ----------------------------------------------------------------------------


def help_of(capsys, *command) -> str:
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0
    return out


def test_report_help_prints_a_plain_percent_sign(capsys):
    text = help_of(capsys, "report")
    assert "95% Student-t" in text and "%%" not in text


def test_sweep_status_help_is_its_own(capsys):
    status, sweep = help_of(capsys, "sweep", "status"), help_of(capsys, "sweep")
    assert status.startswith("usage: convergan sweep status") and "--launcher" not in status
    assert sweep.startswith("usage: convergan sweep") and "--launcher" in sweep


def test_study_and_path_angle_options_say_what_they_take(capsys):
    from convergan.registry import METHODS, PROBLEMS_2D

    text = " ".join(help_of(capsys, "study", "toy2d").split())
    for name in [*PROBLEMS_2D.names(), *METHODS.names()]:
        assert name in text, name
    text = " ".join(help_of(capsys, "path-angle").split())
    assert "--from S1 training step of the checkpoint at α = 0" in text
    assert "--to S2 training step of the checkpoint at α = 1" in text


def test_registered_names_show_lazy_regularization(capsys):
    assert "lazy regularization: scheme.lazy_every=K" in help_of(capsys, "train")
    assert "lazy regularization: --lazy K" in help_of(capsys, "dirac", "analyze")


def test_dirac_analyze_shows_every_scheme_field_and_the_period(capsys):
    argv = ["dirac", "analyze", "--method", "r1", "--scheme", "altgd", "--d-steps", "3"]
    code, out, _ = run(capsys, *argv, "--lazy", "2", "--lr", "0.1")
    assert code == 0
    scheme = out.splitlines()[1]
    assert "g_steps=1, d_steps=3" in scheme and "every=2" in scheme
    assert scheme.endswith("period=2")  # the gain changes every other round: a 2-step cycle


def test_features_help_and_readme_name_the_inception_file_the_code_reads(capsys):
    from convergan.metrics.features import INCEPTION_FILE

    assert INCEPTION_FILE in " ".join(help_of(capsys, "features").split())
    assert INCEPTION_FILE in IMAGES_GUIDE.read_text()
    assert "pt_inception" not in help_of(capsys, "features")


# -- long work shows progress and an estimate -------------------------------------------------


@pytest.mark.slow  # `dirac table` of every method
def test_dirac_table_shows_a_bar_of_its_rows(capsys):
    from convergan.analysis.table import dirac_table
    from convergan.registry import METHODS

    rows = dirac_table(schemes=("simgd",), progress=True)
    err = capsys.readouterr().err
    total = len(METHODS.names())
    assert len(rows) == total and f"dirac table:   0%|          | 0/{total}" in err


def test_spectrum_progress_plans_the_krylov_basis_and_counts_restarts():
    import numpy as np

    from convergan.analysis.eigensolver import leading_eigenvalues

    matrix = torch.from_numpy(np.random.default_rng(1).standard_normal((300, 300)))
    calls = []
    k = 4
    spectrum = leading_eigenvalues(lambda u: matrix @ u, 300, k, "LR", solver="arpack",
                                   progress=lambda *args: calls.append(args))  # fmt: skip
    ncv = 40  # convergan's Krylov dimension: max(40, 5k), at most n
    counts = [c[0] for c in calls]
    assert counts == list(range(1, len(calls) + 1))
    for count, planned, restarts in calls[: spectrum.matvecs]:
        # the first basis takes ncv products, each implicit restart ncv - k more
        expected = 0 if count <= ncv else -(-(count - ncv) // (ncv - k))
        assert (planned, restarts) == (ncv + expected * (ncv - k), expected)
    assert calls[spectrum.matvecs - 1][2] >= 1  # this matrix needs restarts


def test_krylov_schur_progress_plans_to_the_end_of_its_basis_and_counts_restarts():
    import numpy as np

    from convergan.analysis.eigensolver import leading_eigenvalues

    matrix = torch.from_numpy(np.random.default_rng(1).standard_normal((300, 300)))
    calls = []
    basis, k = 30, 4
    spectrum = leading_eigenvalues(lambda u: matrix @ u, 300, k, "LR", ncv=basis,
                                   progress=lambda *args: calls.append(args))  # fmt: skip
    assert [c[0] for c in calls] == list(range(1, len(calls) + 1))
    calls = calls[: spectrum.matvecs]  # then the residuals' products
    assert calls[0][1] == basis  # the first basis takes `basis` products
    for (count, planned, restarts), (_, before, restarted) in zip(calls[1:], calls):
        # the plan runs to the end of the current basis; a restart keeps half of it (a
        # conjugate pair may keep one more), so it comes only when the plan was reached
        assert count <= planned <= max(basis, count + basis - basis // 2)
        assert restarts == restarted + (before == count - 1)
    assert calls[-1][2] >= 1  # this matrix needs restarts


def test_the_sweep_bar_counts_running_cells_by_their_logged_steps(tmp_path):
    from types import SimpleNamespace

    from convergan.studies.workers import running_share

    def cell(name, steps, logged):
        run_dir = tmp_path / name
        run_dir.mkdir()
        lines = [f'{{"step": {s}, "loss": 0.5}}' for s in range(0, logged + 1, 10)]
        (run_dir / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 9')  # torn
        config = SimpleNamespace(train=SimpleNamespace(steps=steps))
        return SimpleNamespace(cell=SimpleNamespace(name=name), run_dir=run_dir, config=config)

    claims = tmp_path / "claims"
    todo = [cell("a", 200, 50), cell("b", 100, 90), cell("c", 100, 0), cell("d", 100, 100)]
    for name in ("a", "b", "d"):
        (claims / name).mkdir(parents=True)  # c is not claimed yet: pending, counts 0
    assert running_share(todo, {"d"}, claims) == pytest.approx(50 / 200 + 90 / 100)
    # a cell whose log reached its last step still counts below 1 until its record is final
    assert running_share(todo, set(), claims) == pytest.approx(50 / 200 + 90 / 100 + 0.99)


def test_report_shows_bars_for_runs_and_figures(tmp_path, capsys):
    from test_report_stats import fake_sweep

    from convergan.studies.report import write_report
    from convergan.studies.results import read_sweep

    sweep = fake_sweep(tmp_path / "sweep")
    runs = len(read_sweep(sweep).runs)
    capsys.readouterr()
    write_report(sweep, tmp_path / "report", progress=True)
    err = capsys.readouterr().err
    assert f"report: reading runs:   0%|          | 0/{runs}" in err
    assert "report: figures:   0%" in err


# -- docs and report claims ---------------------------------------------------------------


def test_the_report_header_shows_the_axes_as_run(tmp_path):
    from test_report_stats import fake_sweep

    from convergan.studies.report import write_report

    # narrowed: two presets with 3 and 2 seeds, gammas 10 and 0.1 (not the spec's five)
    finals = {"r1": [0.5, 0.7, 0.9], "r2": [0.1, 0.2]}
    sweep = fake_sweep(tmp_path / "sweep", finals, gammas={"r1": 10.0, "r2": 0.1})
    report = write_report(sweep, tmp_path / "report")
    note = (
        "As run: method ∈ {r1, r2} (2) × method.gamma ∈ {10, 0.1} (2) × seed ∈ {0, 1, 2} (3)"
        " = 5 runs."
    )
    assert note in (report.out / "report.md").read_text()
    assert note in (report.out / "report.html").read_text()


# -- figures a reader does not squint at -----------------------------------------------------


def tick_texts(ax, which="y") -> list[str]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(ax.figure).draw()
    axis = ax.yaxis if which == "y" else ax.xaxis
    low, high = sorted(ax.get_ylim() if which == "y" else ax.get_xlim())
    ticks = [*axis.get_major_ticks(), *axis.get_minor_ticks()]
    shown = [t for t in ticks if t.label1.get_visible() and low <= t.get_loc() <= high]
    return [t.label1.get_text() for t in shown if t.label1.get_text()]


def test_a_narrow_log_axis_is_labelled_in_plain_numbers(tmp_path, monkeypatch):
    from matplotlib.figure import Figure
    from test_report_stats import fake_sweep

    import convergan.studies.figures as figures
    from convergan.studies.aggregate import summarize
    from convergan.studies.results import read_sweep

    drawn = []

    def figure(width, height):
        drawn.append(Figure(figsize=(width, height), layout="constrained"))
        return drawn[-1]

    monkeypatch.setattr(figures, "_figure", figure)
    # W1 from 2 * final to final: 1.96 .. 1.99 and 0.98 .. 0.995, a factor of 2 in all
    sweep = read_sweep(fake_sweep(tmp_path / "sweep", {"gan": [0.98, 0.99], "r1": [0.995]}))
    assert figures.learning_curves(
        summarize(sweep, ["eval/w1"]), "eval/w1", tmp_path / "c.png", "t"
    )
    labels = tick_texts(drawn[0].axes[0])
    assert drawn[0].axes[0].get_yscale() == "log" and len(labels) >= 2
    for label in labels:
        assert 0.8 < float(label) < 2.2, labels  # plain numbers, no 10^k

    wide = Figure().add_subplot()
    wide.plot([1, 2], [1e-3, 1.0])
    wide.set_yscale("log")
    from convergan.ticks import plain_log_ticks

    plain_log_ticks(wide)
    assert any("10" in t for t in tick_texts(wide))  # over decades: powers of ten, unchanged


def test_the_sample_grid_of_a_report_is_large_enough_to_read(tmp_path):
    import imageio.v3 as iio
    from test_report_stats import fake_sweep

    from convergan.studies import figures
    from convergan.studies.aggregate import summarize
    from convergan.studies.results import read_sweep

    sweep = read_sweep(fake_sweep(tmp_path / "sweep", {"gan": [0.5] * 3, "r1": [0.1] * 3}))
    path = tmp_path / "grid.png"
    assert figures.sample_grid(summarize(sweep, ["eval/w1"]), path, "demo")
    height, width = iio.imread(path).shape[:2]
    assert width >= 3 * 300 and height >= 2 * 300  # 300 px a panel at least


def test_generated_points_stand_out_on_a_saturated_contour_and_axes_are_named():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from convergan.plots.samples_2d import plot_samples

    class Saturated(torch.nn.Module):  # an unregularized D far from equilibrium
        def forward(self, x):
            return torch.full((len(x), 1), 50.0)

    real = torch.full((10, 2), 3.0)
    fake = torch.tensor([[0.0, 0.0], [1.0, -1.0], [-1.5, 0.5]])  # isolated points
    ax = plot_samples(real, fake, Saturated(), bounds=(-4, 4, -4, 4))
    canvas = FigureCanvasAgg(ax.figure)
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())[..., :3] / 255.0

    def pixel(x, y):
        column, row = ax.transData.transform((x, y))
        return pixels[pixels.shape[0] - round(row), round(column)]

    background = pixel(-2.5, 2.5)
    for point in fake.tolist():  # each generated point stands out (0.28 with the old style)
        assert np.linalg.norm(pixel(*point) - background) > 0.45
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x₁", "x₂")


def test_path_angle_names_the_checkpoints_at_alpha_zero_and_one(tmp_path, monkeypatch):
    import convergan.plots.spectrum as plots

    saved = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: saved.append(fig) or path)
    alphas = [-0.1, 0.0, 0.5, 1.0, 1.1]
    stats = {"from": 2000, "to": 4000, "alphas": alphas}
    for key in ("cosine", "cosine_generator", "cosine_discriminator", "field_norm",
                "generator_loss", "discriminator_loss"):  # fmt: skip
        stats[key] = [0.1 * i for i in range(len(alphas))]
    plots.plot_path_angle(stats, tmp_path / "p.png")
    for ax in saved[0].axes:
        texts = {t.get_text(): t.xy[0] for t in ax.texts}
        assert texts == {"x₀ step 2000": 0.0, "x₁ step 4000": 1.0}


def test_figure_3_has_one_legend_below_the_panels(tmp_path, monkeypatch):
    import convergan.plots.dirac as plots
    from convergan.schemes import SimGD

    saved = []
    monkeypatch.setattr(plots, "_save", lambda figure, path: saved.append(figure) or path)
    plots.figure3_grid(SimGD(lr=0.1), tmp_path / "f.png", steps=20)
    figure = saved[0]
    assert all(ax.get_legend() is None for ax in figure.axes)
    assert len(figure.legends) == 1
    renderer = figure.canvas.get_renderer() if hasattr(figure.canvas, "get_renderer") else None
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    legend = figure.legends[0].get_window_extent(renderer)
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert "start" in labels and "equilibrium" in labels
    for ax in figure.axes:
        if ax.get_visible():
            assert legend.y1 <= ax.get_window_extent(renderer).y0 + 1  # below every panel
