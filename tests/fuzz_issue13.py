"""Run the numbered cases of issue #13 through the real ``affectkit`` command and print
what each gives, as the Markdown table of docs/reliability.md.

    .venv/bin/python tests/fuzz_issue13.py [--out FOLDER] [--json FILE]

Each case is one ``affectkit`` process (the installed script, as a user runs it), on
media this script makes in a temporary folder (the 180- and 144-megapixel JPEGs too),
so it needs neither the shared data nor a network. Messages are copied from the
process's stderr, with the temporary folder shown as ``$TMP``; peak RSS is what
``/usr/bin/time -f %M`` prints. It takes a few minutes (each process imports torch).
Not a pytest module: it reports, it does not assert.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generated import truncate, write_gif, write_image, write_video, write_video_with_sound  # noqa: E402

EXE = str(Path(sys.executable).with_name("affectkit"))
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "400"}  # wide: a traceback's last line unwrapped


@dataclass
class Case:
    number: str
    what: str
    command: str
    code: int
    gives: str


def _shown(text: str, tmp: Path) -> str:
    """``text`` on one printable line, the temporary folder as $TMP, long runs of one
    character as ``x{251}``."""
    import re

    from affectkit.errors import printable

    text = printable(text.replace(str(tmp), "$TMP"))
    return re.sub(r"(\w)\1{19,}", lambda m: f"{m.group(1)}{{{len(m.group(0))}}}", text)


def run(args: list, tmp: Path, *, prefix: list | None = None, env: dict | None = None, timeout: int = 600):
    """Run ``affectkit ARGS`` (behind ``prefix``); returns (exit code, stdout, stderr)."""
    proc = subprocess.run([*(prefix or []), EXE, *map(str, args)], capture_output=True, env=env or ENV,
                          timeout=timeout, cwd=tmp)
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def table_rows(path: Path) -> str:
    import pandas as pd

    if not path.exists():
        return "no table"
    if path.read_bytes() == b"old\n":
        return "table unchanged"
    df = pd.read_csv(path)
    return f"{len(df)} rows ({', '.join(f'{Path(s).name}: {n}' for s, n in df.groupby('source', sort=False).size().items())})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="keep the generated files here (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="also write the cases as JSON")
    opts = parser.parse_args()
    tmp = Path(opts.out or tempfile.mkdtemp(prefix="issue13-")).resolve()
    tmp.mkdir(parents=True, exist_ok=True)
    tmp.chmod(0o755)
    cases: list[Case] = []
    q = ["-q"]

    def add(number, what, args, code, out, err, gives=None):
        msg = gives if gives is not None else " / ".join(lines(err) or lines(out) or ["(nothing printed)"])
        cases.append(Case(number, what, _shown("affectkit " + " ".join(map(str, args)), tmp), code, _shown(msg, tmp)))
        print(f"[{number}] {what}: exit {code}: {_shown(msg, tmp)[:300]}", file=sys.stderr)

    def analyze(number, what, inputs, *extra, out="out.csv", old=True, gives=None):
        o = tmp / out
        if old and o.parent.is_dir() and not o.is_dir():
            o.write_text("old\n")
        args = ["analyze", *inputs, "-o", out, *extra, *q]
        code, so, se = run(args, tmp)
        add(number, what, args, code, so, se, gives(o, so, se) if gives else None)
        return code, so, se

    ok = write_image(tmp / "ok.png", (64, 48))
    # (1) truncated videos, index at the start and at the end
    for container, suffix in (("mp4", ".mp4"), ("mp4-index-at-end", ".mp4"), ("mov", ".mov"),
                              ("mov-index-at-end", ".mov"), ("mkv", ".mkv")):
        full = write_video(tmp / f"full-{container}{suffix}", n_frames=50, container=container)
        cut = truncate(full, tmp / f"cut-{container}{suffix}", 0.5)
        analyze("1", f"{container} cut at half, with a good image", [cut.name, ok.name], "--faces-cropped",
                gives=lambda o, so, se: " / ".join(lines(se)) + f"; {table_rows(o)}")
    # (2) outputs checked before any work
    video = write_video(tmp / "v.mp4", n_frames=6)
    analyze("2", "--plot p.xyz", [video.name], "--plot", "p.xyz")
    analyze("2", "--plot nodir/p.png", [video.name], "--plot", "nodir/p.png")
    analyze("2", "--annotate a.mp4 with two inputs", [video.name, ok.name], "--annotate", "a.mp4")
    # (3) voice columns on sound without speech
    for sound in ("silence", "tone", "noise"):
        clip = write_video_with_sound(tmp / f"{sound}.mp4", seconds=3, sound=sound)

        def voice(o, so, se):
            import pandas as pd

            if not o.exists() or o.read_bytes() == b"old\n":
                return " / ".join(lines(se)) or "no table"
            df = pd.read_csv(o)
            filled = int(df[[c for c in df.columns if c.startswith("voice_")]].notna().any(axis=1).sum())
            return (" / ".join(lines(se)) or "(nothing printed)") + f"; {len(df)} rows, {filled} with voice values"

        analyze("3", f"--audio on a video whose sound is {sound}", [clip.name], "--audio", "--faces-cropped",
                gives=voice)
    # (4) frames smaller than --min-face-size
    for size in ((1, 1), (39, 39), (1, 500)):
        small = write_image(tmp / f"small-{size[0]}x{size[1]}.png", size)
        analyze("4", f"{size[0]}x{size[1]} image", [small.name],
                gives=lambda o, so, se: " / ".join(lines(se)) + f"; {table_rows(o)}")
    tiny = write_video(tmp / "tiny-32x32.mp4", n_frames=12, size=(32, 32))
    analyze("4", "32x32 video, 12 frames", [tiny.name],
            gives=lambda o, so, se: " / ".join(lines(se)) + f"; {table_rows(o)}")
    # (5) very large images
    from PIL import Image

    for name, size in (("180mp.jpg", (15000, 12000)), ("144mp.jpg", (12000, 12000))):
        im = Image.new("RGB", size, (120, 110, 100))
        im.paste((200, 180, 160), (size[0] // 3, size[1] // 3, size[0] // 2, size[1] // 2))
        im.save(tmp / name, quality=85)
        del im
    analyze("5", "180-MP JPEG, default --max-pixels", ["180mp.jpg"])
    analyze("5", "144-MP JPEG, default --max-pixels", ["144mp.jpg"])
    for name, extra in (("144mp.jpg", ["--max-pixels", "2e8"]), ("ok.png", [])):
        args = ["analyze", name, "-o", "rss.csv", *extra, "-q"]
        code, so, se = run(args, tmp, prefix=["/usr/bin/time", "-f", "%M"])
        err = lines(se)
        rss_kib = int(err[-1]) if err and err[-1].isdigit() else None
        notes = " / ".join(err[:-1])
        add("5", f"{name} {' '.join(extra) or '(default options)'}: peak RSS", args, code, so, se,
            (notes + "; " if notes else "") + f"{table_rows(tmp / 'rss.csv')}; peak RSS {rss_kib / 1024:.0f} MiB"
            if rss_kib else se)
    # (6) non-UTF-8 byte and newline in file names
    for raw in (b"x\xffy.png", b"bad\nname.png"):
        path = Path(os.fsdecode(bytes(tmp) + b"/" + raw))
        write_image(path, (64, 48))
        shown = os.fsdecode(raw)
        analyze("6", f"file {raw!r} (exists)", [shown], "--faces-cropped",
                gives=lambda o, so, se: (" / ".join(lines(se)) or "(nothing printed)")
                + "; source column: " + " ".join(__import__("pandas").read_csv(o)["source"].tolist()))
        analyze("6", f"file missing-{raw!r} (missing)", ["missing-" + shown])
    # (7) model files
    faces = _faces_folder(tmp)
    _model_cases(tmp, add)
    # (8) outputs that cannot be written
    ro = tmp / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    for p in tmp.iterdir():
        if p.is_file():
            p.chmod(0o644)
    home = tmp / "home"
    home.mkdir()
    home.chmod(0o777)
    args = ["analyze", "ok.png", "-o", "ro/t.csv", "-q"]
    if os.geteuid() == 0:
        code, so, se = run(args, tmp, prefix=["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
                           env={**ENV, "HOME": str(home), "MPLCONFIGDIR": str(home)})
        add("8", "-o in a read-only folder (run as user nobody)", args, code, so, se)
    else:
        code, so, se = run(args, tmp)
        add("8", "-o in a read-only folder", args, code, so, se)
    (tmp / "existing_dir.csv").mkdir()
    analyze("8", "-o existing_dir.csv (a folder)", ["ok.png"], out="existing_dir.csv")
    args = ["features", "--backbone", "mobilenet_v2", "--data", f"folder:{faces.name}", "-o", "missing/f.npz",
            "--input-size", "32", "-q"]
    code, so, se = run(args, tmp)
    add("8", "features -o in a missing folder", args, code, so, se)
    # smaller ones
    _signals(tmp, add)
    args = ["features", "--backbone", "mobilenet_v2", "--data", f"folder:{faces.name}", "-o", "f.npz",
            "--input-size", "-3", "-q"]
    code, so, se = run(args, tmp)
    add("-", "features --input-size -3", args, code, so, se)
    analyze("-", "--audio-model without --audio", ["ok.png"], "--audio-model", "default")
    gif = write_gif(tmp / "anim.gif", n_frames=5, duration_ms=80)
    analyze("-", "animated GIF, 5 frames of 80 ms", [gif.name], "--faces-cropped",
            gives=lambda o, so, se: (" / ".join(lines(se)) or "(nothing printed)") + f"; {table_rows(o)}, time_s "
            + ", ".join(f"{t:g}" for t in __import__("pandas").read_csv(o)["time_s"]))
    clip = write_video_with_sound(tmp / "tone.mp4", seconds=3, sound="tone")
    analyze("-", "--audio-model missing.safetensors", [clip.name], "--audio", "--audio-model", "missing.safetensors")
    _failed_train(tmp, faces, add)
    _found_by_fuzzing(tmp, add)

    print("| # | case | command | exit | what it gives |")
    print("|---|---|---|---|---|")
    for c in cases:
        cells = [c.number, c.what, f"`{c.command}`", str(c.code), c.gives]
        print("| " + " | ".join(x.replace("|", "\\|").replace("\n", " ") for x in cells) + " |")
    if opts.json:
        opts.json.write_text(json.dumps([asdict(c) for c in cases], indent=1) + "\n")
    if not opts.out:
        for p in (tmp / "ro",):
            p.chmod(0o755)
        shutil.rmtree(tmp, ignore_errors=True)


def _junk(n: int) -> bytes:
    """``n`` random bytes, the same on every run (so are the messages they cause)."""
    return np.random.default_rng(n).bytes(n)


def _shown_error(se: str) -> str:
    """The lines a user sees: a traceback is shown as its first and last lines."""
    import re

    err = lines(se)
    if any("Traceback" in line for line in err):
        last = [line for line in err if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|error)\b", line)]
        return f"a traceback of {len(err)} lines: {last[-1] if last else err[-1]}"
    return " / ".join(err) or "(nothing printed)"


def _found_by_fuzzing(tmp: Path, add) -> None:
    """The smallest failing cases of tests/test_fuzz.py (test_cases_found_by_fuzzing), run
    as a user would."""
    from affectkit.paths import shared_dir
    from generated import bitflip, make_image, write_frames

    def case(what, args):
        code, so, se = run(args, tmp)
        gives = _shown_error(se)
        if args[0] == "clip" and code == 0:
            import pandas as pd

            df = pd.read_csv(tmp / "clips.csv")
            probs = [c for c in df.columns if c not in ("source", "duration_s", "steps", "steps_with_face",
                                                         "expression")]
            gives += f"; clips.csv has probability columns {', '.join(probs)} summing to {df[probs].sum(axis=1)[0]:.3f}"
        add("F", what, args, code, so, se, gives)

    case("--max-pixels inf", ["analyze", "ok.png", "-o", "out.csv", "--max-pixels", "inf", "-q"])
    faces = ["--backbone", "mobilenet_v2", "--data", "folder:faces", "--split", "test", "-o", "f.npz", "-q"]
    case("features --input-size 1000000", ["features", *faces, "--input-size", "1000000"])
    case("features --input-size 536870912", ["features", *faces, "--input-size", "536870912"])
    case("features --face-size 99999999999999999999", ["features", *faces, "--face-size", "99999999999999999999"])
    for name, mode, fmt, n, keep in (("tiff2.tiff", "LA", "tiff", 2, 0.5), ("tiff3.tiff", "RGB", "tiff", 3, 0.5),
                                     ("gif75.gif", "L", "gif", 2, 0.75), ("gif87.gif", "L", "gif", 2, 0.875)):
        src = write_frames(tmp / f"src-{name}", [make_image(mode, (1, 1), "noise", i, 40 * i) for i in range(n)], fmt, 0)
        truncate(src, tmp / name, keep)
        case(f"{n}-frame {fmt.upper()} cut at {keep:.1%}, with a good image", ["analyze", name, "ok.png", "-o",
                                                                                 "out.csv", "--faces-cropped", "-q"])
    write_frames(tmp / "nan.tiff", [make_image("F", (1, 5), "extremes", 1)], "tiff")
    case("float TIFF holding NaN", ["analyze", "nan.tiff", "-o", "out.csv", "--faces-cropped", "-q"])
    src = write_video(tmp / "src-flip.mp4", 19, (2, 42), 60, "mp4", 10040)
    bitflip(src, tmp / "flipped.mp4", [524287])
    case("MP4 with one bit of its metadata flipped, with a good image",
         ["analyze", "flipped.mp4", "ok.png", "-o", "out.csv", "--faces-cropped", "-q"])
    long = "x" * 251 + ".csv"
    case("-o NAME of 255 bytes", ["analyze", "ok.png", "-o", long, "-q"])
    face_clip = shared_dir() / "media" / "single_face.mp4"
    if face_clip.is_file():
        for what, model in _temporal_models(tmp):
            case(what, ["clip", face_clip, "--model", model, "-o", "clips.csv", "-q"])


def _temporal_models(tmp: Path) -> list:
    import torch

    from affectkit.temporal.trainer import TemporalConfig, TemporalNet, _model_kwargs, export_temporal

    torch.manual_seed(0)
    cfg = TemporalConfig(model="gru", hidden=8, embedding="emotion")
    out = []
    for name, dim, classes in (("temporal8", 8, ["anger", "happiness", "neutral"]),
                               ("two-classes", 1280, ["happiness", "neutral"])):
        kwargs = _model_kwargs(cfg, dim, 3)
        card = {"kind": "temporal", "config": asdict(cfg), "classes": classes, "input_dim": dim, "num_outputs": 3,
                "model_kwargs": kwargs, "sampling": {"rate": 2.0, "count": None, "face_size": 64}}
        path = export_temporal(TemporalNet("gru", kwargs, "classes", dim), tmp / "models" / f"{name}.safetensors",
                               card)
        what = ("clip --model: a temporal card whose input_dim (8) does not fit its embedding (emotion, 1280)"
                if dim == 8 else "clip --model: a temporal card with 2 class names for 3 outputs")
        out.append((what, path))
    return out


def _faces_folder(tmp: Path) -> Path:
    root = tmp / "faces"
    for split in ("train", "test"):
        for cls in ("happy", "sad"):
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for i in range(4):
                write_image(root / split / cls / f"{i}.png", (48, 48), seed=i)
    return root


def _model_cases(tmp: Path, add) -> None:
    """Family 3's kinds of broken model file, through analyze, evaluate, clip and train."""
    import torch
    from safetensors.torch import save_file

    from affectkit.audio.voice import bundled_voice_model
    from affectkit.models.card import card_path
    from affectkit.models.recognizer import bundled_path

    good = bundled_path("default")
    card = json.loads(card_path(good).read_text())
    folder = tmp / "models"
    folder.mkdir()

    def model(name, weights: bytes | None = None, card_obj=None, card_text=None) -> Path:
        w = folder / f"{name}.safetensors"
        w.write_bytes(good.read_bytes() if weights is None else weights)
        text = card_text if card_text is not None else json.dumps(card if card_obj is None else card_obj)
        card_path(w).write_text(text)
        return w

    buf = folder / "state.pt"
    torch.save({"a": torch.zeros(2)}, buf)
    edited = lambda **kw: {**card, **kw}  # noqa: E731
    no_arch = {k: v for k, v in card.items() if k != "architecture"}
    cases = [
        ("random bytes named .safetensors (face card)", model("random", _junk(4000))),
        ("pickle named .safetensors", model("pickle", buf.read_bytes())),
        ("card JSON that is a list", model("list", card_text="[1, 2]")),
        ("card missing 'architecture'", model("noarch", card_obj=no_arch)),
        ("card with network_size \"abc\"", model("badsize", card_obj=edited(
            architecture={**card["architecture"], "network_size": "abc"}))),
        ("card with an unknown backbone", model("nope", card_obj=edited(
            architecture={**card["architecture"], "backbone": "nope"}))),
        ("the bundled voice model", bundled_voice_model()),
    ]
    for what, path in cases:
        args = ["analyze", "ok.png", "--model", path, "-o", "out.csv", "-q"]
        code, so, se = run(args, tmp)
        add("7", f"analyze --model: {what}", args, code, so, se)
    for what, path in cases[:2] + cases[2:3] + cases[-1:]:
        args = ["evaluate", "--model", path, "--data", "folder:faces", "--split", "test", "-o", "report", "-q"]
        code, so, se = run(args, tmp)
        add("7", f"evaluate --model: {what}", args, code, so, se)
    for what, path in (cases[0], ("a face model", good), cases[-1]):
        args = ["clip", "v.mp4", "--model", path, "-o", "clips.csv", "-q"]
        code, so, se = run(args, tmp)
        add("7", f"clip --model: {what}", args, code, so, se)
    (folder / "random.pth").write_bytes(_junk(3000))
    torch.save(torch.nn.Linear(2, 2), folder / "module.pth")
    save_file({"x": torch.zeros(2)}, str(folder / "other.safetensors"))
    for name in ("random.pth", "module.pth", "other.safetensors"):
        args = ["train", "faces", "--out", "run", "--data", "folder:faces", "--val-split", "none", "--strategy", "features",
                "--input-size", "32", "--weights", f"models/{name}", "-q"]
        code, so, se = run(args, tmp)
        add("7", f"train --weights: {name}", args, code, so, se)


def _signals(tmp: Path, add) -> None:
    """SIGINT/SIGTERM: one line, old table kept; SIGKILL: temporaries removed by the next run."""
    long = write_video(tmp / "long.mp4", n_frames=3000, size=(320, 240))
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        (tmp / "sig.csv").write_text("old\n")
        args = ["analyze", long.name, "-o", "sig.csv", "-q"]
        proc = subprocess.Popen([EXE, *args], cwd=tmp, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(15)  # past start-up, inside the analysis
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        left = sorted(p.name for p in tmp.iterdir() if ".affectkit-" in p.name)
        kept = (tmp / "sig.csv").read_text() == "old\n"
        gives = " / ".join(lines(err.decode("utf-8", "replace"))) or "(nothing printed)"
        gives += f"; sig.csv {'unchanged' if kept else 'CHANGED'}; temporary files left: {len(left)}"
        add("-", f"{sig.name} 15 s into a run", args, proc.returncode, "", "", gives)
        if sig == signal.SIGKILL:
            args = ["analyze", "ok.png", "-o", "sig.csv", "-q"]
            code, so, se = run(args, tmp)
            after = [p.name for p in tmp.iterdir() if ".affectkit-" in p.name]
            add("-", "the next run into the same folder, after the SIGKILL", args, code, so, se,
                f"{' / '.join(lines(se)) or '(nothing printed)'}; temporary files left: {len(left)} before, "
                f"{len(after)} after")


def _failed_train(tmp: Path, faces: Path, add) -> None:
    """A failed train run leaves no experiment.json, and keeps an earlier one."""
    (tmp / "models").mkdir(exist_ok=True)
    bad = tmp / "models" / "junk.pth"
    bad.write_bytes(_junk(2000))
    for name, earlier in (("fresh", False), ("earlier", True)):
        out = tmp / f"train-{name}"
        if earlier:
            out.mkdir()
            (out / "experiment.json").write_text('{"from": "a good run"}')
        args = ["train", "faces", "--out", out.name, "--data", f"folder:{faces.name}", "--val-split", "none", "--strategy",
                "features", "--input-size", "32", "--weights", "models/junk.pth", "-q"]
        code, so, se = run(args, tmp)
        exp = out / "experiment.json"
        state = ("no experiment.json" if not exp.exists() else
                 "experiment.json unchanged" if exp.read_text() == '{"from": "a good run"}' else "experiment.json CHANGED")
        add("-", f"failed train run into a {'folder with an earlier run' if earlier else 'new folder'}", args, code,
            so, se, " / ".join(lines(se)) + f"; {state}")


if __name__ == "__main__":
    main()
