"""`affectkit train faces|temporal|voice`: each subcommand's options are its experiment's config keys."""

import dataclasses
import inspect

import yaml
from typer.testing import CliRunner

from affectkit import cli
from affectkit.audio.experiment import run_audio_experiment
from affectkit.temporal.trainer import RUN_OPTIONS, TemporalConfig
from affectkit.training.experiment import ExperimentConfig
from affectkit.training.finetune import FinetuneConfig

# Options about the run itself, not the experiment's configuration.
RUN_ONLY = {"out", "config", "quiet"}


def _options(command) -> set[str]:
    return set(inspect.signature(command).parameters) - RUN_ONLY


def _fields(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def test_faces_options_are_experiment_or_finetune_fields():
    # --pretrain-epochs/--pretrain-steps fold into each --pretrain stage's options.
    assert _options(cli.train_faces) - {"pretrain_epochs", "pretrain_steps"} <= _fields(ExperimentConfig) | _fields(FinetuneConfig)


def test_temporal_options_are_temporal_config_fields():
    assert _options(cli.train_temporal) <= _fields(TemporalConfig) | set(RUN_OPTIONS)


def test_voice_options_are_the_voice_experiment_keys():
    assert _options(cli.train_voice) == set(cli.VOICE_OPTIONS)
    params = set(inspect.signature(run_audio_experiment).parameters)
    # data -> audioset, test_data -> test; the rest by name.
    assert set(cli.VOICE_OPTIONS) - {"data", "test_data"} <= params


def test_wrong_subcommand_and_unknown_keys_are_one_line_errors(tmp_path):
    runner = CliRunner()
    r = runner.invoke(cli.app, ["train", "temporal", "--data", f"fer2013:{tmp_path}", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "fer2013 is face data; train it with 'affectkit train faces'" in r.output
    r = runner.invoke(cli.app, ["train", "voice", "--data", f"seqcsv:{tmp_path / 'x.csv'}", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "train it with 'affectkit train temporal'" in r.output
    config = tmp_path / "v.yaml"
    config.write_text(yaml.safe_dump({"data": f"emodb:{tmp_path}", "modle": "mlp"}))
    r = runner.invoke(cli.app, ["train", "voice", "--config", str(config), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "unknown voice option 'modle'" in r.output and "Traceback" not in r.output
    r = runner.invoke(cli.app, ["train", "faces", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "--data KIND:PATH is required" in r.output
    assert not (tmp_path / "o").exists()
