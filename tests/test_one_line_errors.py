"""Issue 16, "tracebacks where one line is promised": each bad input ends in one line on
stderr and exit code 2, checked through the command line in-process."""

import errno
import io
import pathlib
import shutil
import sys
import time

import pytest
from cli_helpers import TINY, one_line, run

from convergan.cli.main import main


def train_argv(out_dir, *extra):
    return ["train", "toy2d/circle", "train.steps=4", "train.checkpoint_every=2", *TINY,
            f"out_dir={out_dir}", "--quiet", *extra]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("one-line") / "run"
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main(train_argv(run_dir, "train.keep_last=5")))
    assert exit_info.value.code == 0
    return run_dir


def copy_run(tiny_run, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(tiny_run, target)
    return target


def test_corrupt_checkpoints_are_one_line_in_spectrum_and_path_angle(tiny_run, tmp_path, capsys):
    run_dir = copy_run(tiny_run, tmp_path)
    for path in (run_dir / "checkpoints").glob("*.pt"):
        path.write_bytes(b"not a checkpoint")
    assert "corrupt" in one_line(capsys, "spectrum", run_dir, "--samples", "16", "--quiet")
    line = one_line(capsys, "path-angle", run_dir, "--from", "2", "--to", "4", "--quiet")
    assert "corrupt" in line or "checkpoint" in line


def test_a_checkpoint_of_another_architecture_is_one_line_everywhere(tiny_run, tmp_path, capsys):
    run_dir = copy_run(tiny_run, tmp_path)
    config = run_dir / "config.yaml"
    config.write_text(config.read_text().replace("width: 8", "width: 12"))
    commands = [
        ["resume", run_dir, "train.steps=6", "--quiet"],
        ["spectrum", run_dir, "--samples", "16", "--quiet"],
        ["sample", run_dir, "--n", "4", "--out", tmp_path / "s.npy"],
        ["eval", run_dir],
        ["path-angle", run_dir, "--from", "2", "--to", "4", "--samples", "16", "--quiet"],
    ]
    for argv in commands:
        assert "another architecture" in one_line(capsys, *argv), argv


def test_disk_full_during_a_checkpoint_write_says_nothing_was_lost(tmp_path, capsys, monkeypatch):
    import convergan.checkpoint

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    run_dir = tmp_path / "run"
    monkeypatch.setattr(convergan.checkpoint.torch, "save", full)
    line = one_line(capsys, *train_argv(run_dir))
    assert "No space left on device" in line and "intact" in line
    assert not list((run_dir / "checkpoints").glob("*")), "a partial file was left behind"


class FullDiskFile(io.TextIOWrapper):
    """A file on a full disk: what is written cannot be flushed."""

    pending = False

    def write(self, text):
        self.pending = True
        return super().write(text)

    def flush(self):
        if self.pending:
            raise OSError(errno.ENOSPC, "No space left on device")
        super().flush()


def test_disk_full_at_start_names_the_lock_file_and_loses_nothing(tmp_path, capsys, monkeypatch):
    opened = pathlib.Path.open

    def open_lock(self, mode="r", *args, **kwargs):
        if self.name != ".lock":
            return opened(self, mode, *args, **kwargs)
        return FullDiskFile(opened(self, mode.replace("+", "") + "b+"), encoding="utf-8")

    monkeypatch.setattr(pathlib.Path, "open", open_lock)
    line = one_line(capsys, *train_argv(tmp_path / "run"))
    assert "lock file" in line and "No space left" in line and "nothing was" in line
    monkeypatch.undo()  # the lock was let go: the same directory trains now
    code, _, err = run(capsys, *train_argv(tmp_path / "run"))
    assert code == 0, err


def test_a_binary_sweep_spec_is_one_line(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(bytes(range(128, 256)) * 3)
    for argv in (["sweep", spec, "--out", tmp_path / "out", "--dry-run"], ["train", spec]):
        line = one_line(capsys, *argv)
        assert str(spec) in line and "utf-8" in line


def test_a_model_too_large_for_memory_is_refused_before_building(tmp_path, capsys):
    started = time.monotonic()
    line = one_line(capsys, *train_argv(tmp_path / "run", "model.width=100000000"))
    assert time.monotonic() - started < 20
    assert line.startswith("convergan: error: model: mlp with width 100000000")
    # depth 1, 2D data, latent 16: G has 16w+w + 2w+2, D has 2w+w + w+1 parameters.
    w = 100_000_000
    assert f"{16 * w + w + 2 * w + 2 + 2 * w + w + w + 1:,} parameters" in line


def test_a_batch_too_large_for_memory_is_refused_before_drawing(tmp_path, capsys, monkeypatch):
    """``data.batch_size=1e12`` ended in the allocator's traceback at the first step."""
    from convergan.config import load_config

    # A machine of 1 MB, so that a regression trains a small batch rather than filling memory.
    monkeypatch.setattr("convergan.training.memory.available_memory", lambda: 2**20)
    line = one_line(capsys, *train_argv(tmp_path / "run", "data.batch_size=100000"))
    latent = load_config("toy2d/circle").model.latent_dim
    # per sample: a real and a generated 2D point, a latent, one activation of width 8; float32
    need = 10**5 * (2 + 2 + latent + 8) * 4 / 2**20
    assert line == (
        f"convergan: error: data.batch_size: a batch of 100,000 samples needs at least "
        f"{need:,.1f} MB of memory, more than the 1.0 MB available; use a smaller data.batch_size"
    )
    assert not (tmp_path / "run").exists()
    line = one_line(capsys, *train_argv(tmp_path / "run", "data.batch_size=1e30"))
    assert "a batch of 1e+30 samples" in line and "e+23 GB" in line  # readable, not 31 digits


def test_too_many_samples_are_refused_before_drawing(tiny_run, tmp_path, capsys, monkeypatch):
    import convergan.runs.memory

    monkeypatch.setattr(convergan.runs.memory, "available_memory", lambda: 16 * 2**30)
    started = time.monotonic()
    line = one_line(capsys, "sample", tiny_run, "--n", "1000000000", "--out", tmp_path / "s.npy")
    assert time.monotonic() - started < 20
    need = 10**9 * (2 + 16) * 4 / 2**30  # 2D samples and 16-dimensional latents, float32
    assert f"{need:,.1f} GB" in line and "16.0 GB available" in line
    assert not (tmp_path / "s.npy").exists()


def test_sample_out_that_cannot_be_written_is_one_line(tiny_run, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for name in ("x.png", "x.npy"):
        line = one_line(capsys, "sample", tiny_run, "--n", "4", "--out", blocker / name)
        assert line.startswith("convergan: error: --out: cannot write") and name in line


def test_dirac_figure_out_naming_an_existing_file_is_one_line(tmp_path, capsys):
    existing = tmp_path / "figures"
    existing.write_text("keep me")
    line = one_line(capsys, "dirac", "figure", "--out", existing)
    assert "--out" in line and "is a file" in line
    assert existing.read_text() == "keep me"


# -- wrong or unclear answers ---------------------------------------------------------------


def test_rates_beyond_double_precision_name_what_the_user_passed(capsys):
    argv = ["dirac", "analyze", "--method", "gan", "--scheme", "altgd"]
    line = one_line(capsys, *argv, "--lr-g", "1e-300", "--lr-d", "1e300")
    assert "--lr-g 1e-300" in line and "--lr-d 1e+300" in line and "1e600" in line
    assert "0.0" not in line
    code, out, _ = run(capsys, *argv, "--lr-g", "1e-7", "--lr-d", "1e7")  # 1e14: analysed
    assert code == 0 and "lr_g=1e-07  lr_d=1e+07" in out


def test_the_config_file_may_come_after_overrides_and_options(tmp_path, capsys):
    out_dir = tmp_path / "run"
    argv = ["train", "model.width=6", "--quiet", "toy2d/circle", "train.steps=2", *TINY[1:]]
    code, out, err = run(capsys, *argv, f"out_dir={out_dir}")
    assert code == 0, err
    assert "width: 6," in (out_dir / "config.yaml").read_text()
    line = one_line(capsys, "train", "model.width=6", "train.steps=2")
    assert "no config file given" in line


def test_train_points_method_and_scheme_flags_to_their_overrides(capsys):
    line = one_line(capsys, "train", "toy2d/circle", "--method", "r1", "train.steps=3")
    assert line.endswith("--method: train takes it as an override, method=r1")
    code, out, _ = run(capsys, "train", "--help")
    assert code == 0 and "--method" not in out and "scheme.lazy_every=K" in out


def test_plugins_as_a_string_and_a_plugin_calling_sys_exit(tmp_path, capsys, isolated_registries):
    plugin = tmp_path / "plugin.py"
    plugin.write_text("")
    line = one_line(capsys, *train_argv(tmp_path / "a", f"plugins={plugin}"))
    assert "plugins: expected a list" in line
    exits = tmp_path / "exits.py"
    exits.write_text("import sys\nsys.exit(3)\n")
    line = one_line(capsys, *train_argv(tmp_path / "b", f"plugins=[{exits}]"))
    assert f"plugin {exits} called sys.exit(3) at import" in line


def test_eval_of_an_image_metric_on_a_2d_run_says_it_does_not_apply(tiny_run, capsys):
    line = one_line(capsys, "eval", tiny_run, "--metrics", "fid")
    assert "'fid' does not apply" in line


def test_an_empty_config_file_is_refused(tmp_path, capsys):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    line = one_line(capsys, "train", empty, f"out_dir={tmp_path / 'run'}")
    assert f"{empty} holds no settings" in line
    assert not (tmp_path / "run").exists()
