"""Settings are never silently ignored or changed, and every command that starts from "the
latest checkpoint" skips a truncated newest one the same way.

Adversarial cases from the hardening round: a schedule that stays at 0 where 0 is refused,
a preset's hyperparameter that the composition keys replace, a penalty or a name given twice
(refused, naming what to type), a metric
with nothing to compute, ``--ema-only`` without an EMA, a truncated newest checkpoint under
``spectrum`` and ``verdict``."""

import json
import shutil

import pytest
from cli_helpers import TINY, one_line, run

from convergan.cli.main import main
from convergan.config import ConfigError, load_config


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Four steps of the circle, checkpoints at steps 2 and 4, diagnostics every step."""
    run_dir = tmp_path_factory.mktemp("ignored") / "run"
    argv = ["train", "toy2d/circle", "train.steps=4", "train.checkpoint_every=2", *TINY]
    argv += ["eval.diagnostics.every=1", "train.log_every=1", f"out_dir={run_dir}", "--quiet"]
    assert main(argv) == 0
    return run_dir


# ----------------------------------------------------------------------------- schedules


@pytest.mark.parametrize("key", ["optim.g.lr", "optim.d.lr", "ema.half_life_samples"])
def test_a_schedule_that_stays_at_zero_is_refused_like_the_constant(key):
    with pytest.raises(ConfigError) as constant:
        load_config("toy2d/circle", [f"{key}=0"])
    with pytest.raises(ConfigError) as scheduled:
        load_config("toy2d/circle", [f"{key}={{schedule: linear, start: 0, end: 0, steps: 10}}"])
    assert str(constant.value).startswith(key) and str(scheduled.value).startswith(key)
    assert "must be > 0" in str(scheduled.value)
    # Reaching 0 (a warm-up from 0, a decay to 0) is what schedules are for.
    for ends in ("start: 0, end: 0.001", "start: 0.001, end: 0"):
        load_config("toy2d/circle", [f"{key}={{schedule: cosine, {ends}, steps: 10}}"])


# ----------------------------------------------------------------------------- methods


@pytest.mark.parametrize(
    "argv, key",
    [
        (["--method", "r1", "--gamma", "5", "method.penalties=[r2]"], "method.gamma"),
        (["--method", "r2", "--gamma", "0.5", "method.penalties=[{name: r1}]"], "method.gamma"),
        (["--method", "instance-noise", "--sigma", "0.3", "method.noise={sigma: 1}"], "sigma"),
        (["--method", "consensus", "--gamma", "2", "method.consensus=0.5"], "method.gamma"),
    ],
)
def test_a_preset_number_that_the_composition_replaces_is_refused(capsys, argv, key):
    line = one_line(capsys, "dirac", "analyze", *argv, "--lr", "0.1")
    assert key in line and "would be dropped" in line


def test_a_preset_number_that_the_composition_keeps_is_used(capsys):
    code, out, _ = run(
        capsys, "dirac", "analyze", "--method", "instance-noise", "--sigma", "0.5",
        "method.penalties=[r2]", "--lr", "0.1",
    )  # fmt: skip
    assert code == 0 and "noise.sigma=0.5" in out.splitlines()[0]


@pytest.mark.parametrize(
    "penalties, typed",
    [
        ("[r1:1,r1:2]", "method.penalties=[r1:3]"),  # γ's add: R1 is linear in γ
        ("[r1,r2:5,r1]", "method.penalties=[r1:2, r2:5]"),
        (
            "[wgan-gp:2,{name: wgan-gp, gamma: 3, target: 1}]",
            "[{name: wgan-gp, gamma: 5, target: 1}]",
        ),
    ],
)
def test_a_penalty_given_twice_is_refused_naming_what_to_type(capsys, tmp_path, penalties, typed):
    """Summed under one name, two terms would log one ``discriminator/r1`` for two penalties:
    the config, the log and what was trained would disagree."""
    run_dir = tmp_path / "run"
    line = one_line(capsys, "train", "toy2d/circle", f"method.penalties={penalties}", *TINY,
                    "train.steps=1", f"out_dir={run_dir}")  # fmt: skip
    assert line.startswith("convergan: error: method.penalties: ") and "given twice" in line
    assert line.endswith(typed)
    assert not run_dir.exists()
    line = one_line(capsys, "dirac", "analyze", f"method.penalties={penalties}", "--lr", "0.1")
    assert line.endswith(typed)


def test_a_penalty_given_twice_with_different_parameters_asks_for_one(capsys):
    line = one_line(
        capsys, "dirac", "analyze", "method.penalties=[wgan-gp,{name: wgan-gp, target: 2}]"
    )
    assert "wgan-gp is given twice; give it once, with the parameters you mean" in line


def test_a_method_built_in_python_with_a_penalty_twice_is_refused():
    from convergan.methods import Method
    from convergan.methods.penalties import r1

    with pytest.raises(ValueError, match="penalty r1 is given twice"):
        Method(penalties=(r1(1.0), r1(2.0)))


@pytest.mark.parametrize(
    "override, typed",
    [
        ("eval.metrics=[w1,w1]", "eval.metrics=[w1]"),
        ("eval.spectrum.which=[LR,LM,LR]", "eval.spectrum.which=[LR, LM]"),
    ],
)
def test_a_name_listed_twice_is_refused(capsys, tmp_path, override, typed):
    argv = ["train", "toy2d/circle", *TINY, override, "train.steps=1", f"out_dir={tmp_path / 'r'}"]
    line = one_line(capsys, *argv)
    assert line.endswith(f"is listed twice; give each once: {typed}")


def test_a_plugin_listed_twice_is_refused(capsys, tmp_path):
    plugin = tmp_path / "plugin.py"
    plugin.write_text("")
    argv = ["train", "toy2d/circle", f"plugins=[{plugin},{plugin}]", *TINY, "train.steps=1"]
    line = one_line(capsys, *argv, f"out_dir={tmp_path / 'r'}")
    assert line.endswith(f"give each once: plugins=[{plugin}]")


def test_eval_and_study_flags_listing_a_name_twice_are_refused(tiny_run, capsys, tmp_path):
    assert one_line(capsys, "eval", tiny_run, "--metrics", "w1", "w1").endswith("--metrics w1")
    small = ["--steps", "1", "--seeds", "1", "--launcher", "debug", "--out", tmp_path / "s"]
    line = one_line(capsys, "study", "toy2d", "--methods", "r1", "gan", "r1", *small)
    assert line.endswith("give each once: --methods r1 gan")
    line = one_line(capsys, "study", "toy2d", "--problems", "ring8", "ring8", *small)
    assert line.endswith("--problems ring8") and not (tmp_path / "s").exists()


# ----------------------------------------------------------------------------- eval


def test_a_metric_with_nothing_to_compute_is_refused(tiny_run, capsys):
    line = one_line(capsys, "eval", tiny_run, "--metrics", "modes")
    assert "'modes' has nothing to compute on 'circle'" in line and "Gaussian mixture" in line
    with pytest.raises(ConfigError, match="nothing to compute"):
        from convergan.problems import make_problem

        make_problem(load_config("toy2d/circle", ["eval.metrics=[w1, modes]"])).requested_metrics(
            ["w1", "modes"]
        )


def test_ema_only_without_an_ema_is_refused(tiny_run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    config = run_dir / "config.yaml"
    config.write_text(config.read_text().replace("enabled: true", "enabled: false", 1))
    assert "ema.enabled: false" in one_line(capsys, "eval", run_dir, "--ema-only", "--n", "64")
    code, out, _ = run(capsys, "eval", run_dir, "--n", "64", "--metrics", "w1")
    assert code == 0 and "eval/w1" in out  # the raw generator is evaluated


# ----------------------------------------------------------------------------- checkpoints


@pytest.mark.parametrize(
    "command",
    [
        ["spectrum", "--samples", "16", "--k", "2", "--quiet", "--json"],
        ["verdict", "--no-spectrum", "--no-path-angle", "--quiet", "--json"],
    ],
)
def test_a_truncated_newest_checkpoint_is_skipped_like_sample_and_eval(
    tiny_run, tmp_path, capsys, command
):
    """The answer equals that of the same run without its newest checkpoint."""
    truncated, without = tmp_path / "truncated", tmp_path / "without"
    for copy in (truncated, without):
        shutil.copytree(tiny_run, copy)
    newest = truncated / "checkpoints" / "step-00000004.pt"
    newest.write_bytes(newest.read_bytes()[:100])
    (without / "checkpoints" / "step-00000004.pt").unlink()
    name, *flags = command
    with pytest.warns(RuntimeWarning, match="skipping unreadable checkpoint"):
        code, out, err = run(capsys, name, truncated, *flags)
    assert code == 0, err
    expected_code, expected, _ = run(capsys, name, without, *flags)
    assert expected_code == 0
    got, want = json.loads(out.splitlines()[-1]), json.loads(expected.splitlines()[-1])
    assert got["step"] == want["step"] == 2
    assert without_timings(got) == without_timings(want)


def without_timings(record):
    """The record without what differs between two identical computations (wall-clock
    seconds) or between the two copies (their folder)."""
    if isinstance(record, dict):
        return {
            k: without_timings(v)
            for k, v in record.items()
            if "seconds" not in k and k not in ("run", "run_dir")
        }
    if isinstance(record, list):
        return [without_timings(v) for v in record]
    return record


def test_a_preset_number_and_a_composition_on_one_command_line_are_refused():
    """The same rule for a config: the command line (one layer) sets γ and the penalties
    that replace the one γ weighs. A composition over a config file's preset is left alone:
    the file's γ belongs to the file's method, which the composition replaces on purpose."""
    with pytest.raises(ConfigError, match="method.gamma: would be dropped"):
        load_config("toy2d/circle", ["method.gamma=5", "method.penalties=[r2]"])
    composed = load_config("fashion-mnist/dcgan-r1", ["method={loss: rpgan, penalties: [r2]}"])
    assert [p.name for p in composed.method.penalties] == ["r2"]
