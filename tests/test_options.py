"""Options defined once: ``AnalyzeOptions`` for the main job (its defaults, checks and the
command line's defaults), and config loaders that refuse unknown keys."""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
from dataclasses import asdict
from enum import Enum

import pytest
from typer.testing import CliRunner

from affectkit import cli
from affectkit.errors import OptionError
from affectkit.pipeline import AnalyzeOptions, Analyzer, analyze, analyze_to_file

FIELDS = [f.name for f in dataclasses.fields(AnalyzeOptions)]
NOT_ON_CLI = {"batch_frames"}  # a Python-only tuning knob
runner = CliRunner()


def _cli_defaults() -> dict:
    """``affectkit analyze``'s option defaults, as the dataclass spells them."""
    out = {}
    for name, p in inspect.signature(cli.analyze).parameters.items():
        value = p.default.default  # typer's OptionInfo / ArgumentInfo
        out[name] = value.value if isinstance(value, Enum) else value
    return out


def test_cli_defaults_are_the_dataclass_defaults():
    cli_defaults, defaults = _cli_defaults(), AnalyzeOptions()
    for name in FIELDS:
        if name in NOT_ON_CLI:
            assert name not in cli_defaults
        elif name == "audio":  # --audio (a switch) and --audio-model (which model) make the one field
            assert (cli_defaults["audio"], cli_defaults["audio_model"], defaults.audio) == (False, None, None)
        else:
            assert name in cli_defaults, f"AnalyzeOptions.{name} has no --{name.replace('_', '-')} option"
            assert cli_defaults[name] == getattr(defaults, name), f"--{name.replace('_', '-')} default differs"


def test_cli_choices_are_the_allowed_values():
    from affectkit.faces.align import CROP_POLICIES
    from affectkit.faces.detect import DETECTORS
    from affectkit.models.recognizer import TTA_MODES

    for enum, allowed, option in ((cli.Detector, DETECTORS, "detector"), (cli.Crop, CROP_POLICIES, "crop"),
                                  (cli.TTA, TTA_MODES, "tta")):
        assert sorted(e.value for e in enum) == sorted(allowed)
        for value in allowed:
            assert getattr(AnalyzeOptions(**{option: value}), option) == value
        with pytest.raises(OptionError):
            AnalyzeOptions(**{option: "nope"})


def test_functions_take_the_options_from_the_dataclass_only():
    """No function re-declares an option (and so its default): they take AnalyzeOptions' fields as **changes."""
    for fn in (analyze, analyze_to_file, Analyzer.__init__):
        params = inspect.signature(fn).parameters
        assert not set(FIELDS) & set(params), fn.__name__
        assert "options" in params and any(p.kind is p.VAR_KEYWORD for p in params.values())
    for fn in (analyze, analyze_to_file):  # and their docstrings describe every option
        for name in FIELDS:
            assert f"\n    {name} : " in fn.__doc__, (fn.__name__, name)


BAD = [
    (dict(every=0), "every", "every must be >= 1, got 0"),
    (dict(crop="oval"), "crop", "crop must be one of ('ng2015', 'landmark_box', 'box'), got 'oval'"),
    (dict(detector="dlib"), "detector", "detector must be one of ('mtcnn', 'haar'), got 'dlib'"),
    (dict(max_gap=-1.0), "max_gap", "max_gap must be a finite number of seconds >= 0, got -1.0"),
    (dict(smooth=math.inf), "smooth", "smooth must be a finite number of seconds >= 0, got inf"),
    (dict(impute=math.nan), "impute", "impute must be a finite number of seconds >= 0, got nan"),
    (dict(smooth=0.5, track=False), "track", "smooth and impute work per track; they need track=True"),
    (dict(max_pixels=0), "max_pixels", "max_pixels must be a positive number of pixels, got 0"),
    (dict(max_pixels=math.inf), "max_pixels", "max_pixels must be a positive number of pixels, got inf"),
    (dict(min_face_size=0), "min_face_size", "min_face_size must be a positive number of pixels, got 0"),
    (dict(batch_frames=0), "batch_frames", "batch_frames must be >= 1, got 0"),
    (dict(tta="mirror"), "tta", "tta must be one of ('none', 'flip', 'multi'), got 'mirror'"),
]


@pytest.mark.parametrize("kwargs, option, message", BAD, ids=[b[1] + "-" + str(list(b[0].values())[0]) for b in BAD])
def test_bad_values_are_one_line_errors_naming_the_option(kwargs, option, message):
    with pytest.raises(OptionError) as err:
        AnalyzeOptions(**kwargs)
    assert str(err.value) == message and err.value.option == option
    assert isinstance(err.value, ValueError)  # what callers caught before AnalyzeOptions existed
    with pytest.raises(OptionError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        dataclasses.replace(AnalyzeOptions(), **kwargs)  # a changed copy is checked too


def test_values_are_normalised_and_frozen():
    o = AnalyzeOptions(tta=False, max_pixels=2.5e6)
    assert o.tta == "none" and AnalyzeOptions(tta=True).tta == "flip"
    assert o.max_pixels == 2_500_000 and isinstance(o.max_pixels, int)
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.every = 2
    assert AnalyzeOptions.of(o) is o
    assert AnalyzeOptions.of(o, every=3) == dataclasses.replace(o, every=3)
    with pytest.raises(TypeError, match="evry"):
        AnalyzeOptions.of(evry=3)
    with pytest.raises(TypeError, match="AnalyzeOptions"):
        AnalyzeOptions.of({"every": 3})


def test_functions_check_options_before_reading_anything(tmp_path):
    missing = tmp_path / "missing.mp4"
    out = tmp_path / "t.csv"
    with pytest.raises(OptionError, match="every"):  # not the missing input: options are checked first
        analyze(missing, every=0)
    with pytest.raises(OptionError, match="smooth and impute"):
        analyze_to_file(missing, out, AnalyzeOptions(), smooth=1.0, track=False)
    with pytest.raises(TypeError, match="evry"):
        analyze(missing, evry=2)
    with pytest.raises(OptionError, match="on_error"):
        analyze(missing, on_error="skip")
    assert list(tmp_path.iterdir()) == []


def test_analyzer_takes_options_and_changes():
    a = Analyzer(AnalyzeOptions(every=3, smooth=0.5), faces_cropped=True)
    assert a.options == AnalyzeOptions(every=3, smooth=0.5, faces_cropped=True)
    assert (a.every, a.detector, a.batch_frames, a.smooth) == (3, None, 256, 0.5)
    assert "valence_smooth" in a.columns
    assert a.crop == a.recognizer.card.get("crop_policy", "ng2015")  # None: the card's framing


def test_cli_reports_an_option_error_on_one_line(tmp_path):
    image = tmp_path / "i.png"
    image.write_bytes(b"")
    r = runner.invoke(cli.app, ["analyze", str(image), "-o", str(tmp_path / "t.csv"), "--max-gap", "inf"])
    assert r.exit_code == 2
    lines = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert lines == ["error: max_gap must be a finite number of seconds >= 0, got inf"], r.output


# ----------------------------------------------------------------------------- config loaders


def test_temporal_config_refuses_unknown_keys():
    from affectkit.temporal.trainer import RUN_OPTIONS, TemporalConfig

    cfg = TemporalConfig(model="gru", hidden=8)
    assert TemporalConfig.from_dict(asdict(cfg)) == cfg
    # the experiment's own keys may sit beside the config (run_from_options reads them)
    assert TemporalConfig.from_dict({**asdict(cfg), **{k: "x" for k in RUN_OPTIONS}}) == cfg
    with pytest.raises(OptionError) as err:
        TemporalConfig.from_dict({"model": "gru", "hiden": 8})
    assert str(err.value) == "unknown temporal option 'hiden'; did you mean 'hidden'?" and err.value.option == "hiden"
    with pytest.raises(OptionError, match="unknown temporal option 'data'"):
        TemporalConfig.from_dict({"model": "gru", "data": "x"}, ignore=())
    with pytest.raises(OptionError, match=r"'zzz'; known: .*hidden"):
        TemporalConfig.from_dict({"zzz": 1})


def test_temporal_card_with_an_unknown_config_key(tmp_path):
    from affectkit.errors import WeightsError
    from affectkit.models.card import card_path
    from affectkit.temporal.trainer import TemporalConfig, TemporalNet, _model_kwargs, export_temporal, load_temporal

    cfg = TemporalConfig(model="gru", hidden=8)
    kwargs = _model_kwargs(cfg, 8, 2)
    card = {"kind": "temporal", "config": asdict(cfg), "classes": ["anger", "neutral"], "input_dim": 8,
            "num_outputs": 2, "model_kwargs": kwargs, "sampling": {"rate": 2.0, "count": None, "face_size": 64}}
    path = export_temporal(TemporalNet("gru", kwargs, "classes", 8), tmp_path / "t.safetensors", card)
    load_temporal(path)
    saved = json.loads(card_path(path).read_text())
    saved["config"]["pooling_size"] = 3
    card_path(path).write_text(json.dumps(saved))
    with pytest.raises(WeightsError) as err:
        load_temporal(path)
    assert "unknown temporal option 'pooling_size'" in str(err.value) and "\n" not in str(err.value)


def test_finetune_config_refuses_unknown_keys():
    from affectkit.training.finetune import FinetuneConfig

    assert FinetuneConfig.from_dict({"epochs": 2}).epochs == 2
    with pytest.raises(OptionError) as err:
        FinetuneConfig.from_dict({"epochs": 2, "lr_rate": 0.1})
    assert err.value.option == "lr_rate" and str(err.value).startswith("unknown training option 'lr_rate'")


def test_cli_temporal_config_with_an_unknown_key(tmp_path):
    """A mistyped key in a temporal YAML config stops ``affectkit train`` with one line naming it."""
    config = tmp_path / "c.yaml"
    config.write_text("model: gru\ndata: seqcsv:nowhere\nhiden: 8\n")
    r = runner.invoke(cli.app, ["train", "temporal", "--config", str(config), "--out", str(tmp_path / "out"), "-q"])
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "'hiden'" in lines[0] and "'hidden'" in lines[0], r.output
    assert not (tmp_path / "out").exists()
