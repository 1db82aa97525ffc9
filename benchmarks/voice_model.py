"""Checks of the bundled voice model: where it runs (voice activity) and how confident it is (calibration).

    .venv/bin/python benchmarks/voice_model.py [--seeds 0 1 2] [--docs docs]

Writes the section between the ``voice_model.py`` markers of ``docs/audio.md`` (added
at the end if absent; ``benchmarks/emodb_loso.py`` keeps it when it rewrites the page)
and the ``"voice_model"`` entry of ``docs/audio.json``. Needs the shared data folder
(``$AFFECTKIT_SHARED``, default ``../shared``): EmoDB and the sample videos.

1. Voice activity detection (Silero VAD, :mod:`affectkit.audio.vad`), with the rule
   ``analyze --audio`` uses (a window is speech when it holds at least
   ``MIN_SPEECH_S`` of 32 ms chunks with probability >= ``SPEECH_THRESHOLD``):

   * every EmoDB utterance (all speech; 2.0 s each, so one voice window each);
   * the sample videos' sound tracks, none of which holds speech (see
     :mod:`affectkit.testing.av_clip`): the voice windows ``VoiceTrack`` finds speech in,
     and what the model said on them before this check existed (VAD off);
   * generated signals (10 s each, fixed seeds): digital silence, white and pink
     noise, a 440 Hz tone, and a voice-like harmonic buzz (150 Hz with vibrato,
     amplitude-modulated at a syllable rate);
   * a track of EmoDB utterances separated by 4 s of the videos' music bed, and the
     same utterances mixed over that music: speech must be found around the
     utterances and nowhere in the music-only gaps;
   * when ``torch.jit`` can still load it, agreement of the speech decisions with the
     ``silero-vad`` package's own TorchScript model.

2. Calibration (temperature scaling, Guo et al. 2017) of the bundled model's recipe (MLP
   of Vielzeuf et al. 2018 on raw librosa functionals): leave-one-speaker-out
   out-of-fold logits per seed (:func:`affectkit.audio.experiment.loso_logits`), the
   NLL-fitted temperature, ECE (15 equal-width bins) and NLL before and after, and the
   ECE when each speaker's predictions use a temperature fitted without that speaker.
   The first seed is the bundled model's; its temperature is compared with the card's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from affectkit.audio.calibration import ECE_BINNING, calibration_bins, calibration_record, softmax
from affectkit.audio.corpora import load_emodb
from affectkit.audio.experiment import loso_logits
from affectkit.audio.features import extract_features
from affectkit.audio.io import load_audio
from affectkit.audio.vad import CHUNK_S, MIN_SPEECH_S, SPEECH_THRESHOLD, VAD_RATE, speech_probability, window_speech
from affectkit.audio.voice import VoiceTrack, bundled_voice_model
from affectkit.io.write import atomic_path
from affectkit.paths import shared_dir

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "<!-- benchmarks/voice_model.py: begin -->"
END = "<!-- benchmarks/voice_model.py: end -->"
CLIPS = ("single_face.mp4", "no_face.mp4", "face_noface.mov", "noface_face.mov", "WolfgangLanger_Pexels.mp4")
WIN_S, HOP_S = 2.0, 0.5  # the bundled model's window and VoiceTrack's default hop


def _windows(prob: np.ndarray, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Window centres on VoiceTrack's grid (16 kHz track) and the speech seconds inside each."""
    from affectkit.audio.features import window_centres

    centres = window_centres(1 + n_samples // 160, WIN_S, HOP_S)
    return centres, window_speech(prob, centres, min(WIN_S, n_samples / VAD_RATE))


def generated_signals(seconds: float = 10.0, sr: int = VAD_RATE) -> dict[str, np.ndarray]:
    """Non-speech test signals, ``(N,)`` float32 at ``sr``; fixed seeds."""
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(0)
    white = rng.normal(0, 0.1, len(t))
    spec = np.fft.rfft(rng.normal(0, 1, len(t)))
    spec[1:] /= np.sqrt(np.arange(1, len(spec)))  # 1/f power
    pink = np.fft.irfft(spec, len(t))
    pink *= 0.1 / pink.std()
    f0 = 150 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))  # 5 Hz vibrato, +-3 %
    phase = 2 * np.pi * np.cumsum(f0) / sr
    buzz = sum(np.sin(k * phase) / k for k in range(1, 20)) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2)
    buzz *= 0.1 / buzz.std()
    return {
        "digital silence": np.zeros(len(t)),
        "white noise (-20 dBFS RMS)": white,
        "pink noise (-20 dBFS RMS)": pink,
        "440 Hz tone (-12 dBFS peak)": 0.25 * np.sin(2 * np.pi * 440 * t),
        "harmonic buzz, 150 Hz + vibrato, 4 Hz AM (-20 dBFS RMS)": buzz,
    }


def vad_checks(data, media: Path) -> dict:
    paths = [p for p, lab in zip(data.names, data.labels) if lab >= 0]
    t0 = time.time()
    per = []
    waves = {}
    for p in paths:
        w = load_audio(p, VAD_RATE)
        prob = speech_probability(w)
        speech_s = float(window_speech(prob, [len(w) / VAD_RATE / 2], min(WIN_S, len(w) / VAD_RATE))[0])
        per.append({"file": Path(p).name, "speech_s": speech_s, "max_prob": float(prob.max())})
        waves[Path(p).name] = w
    s = np.array([r["speech_s"] for r in per])
    emodb = {"n": len(per), "speech_windows": int((s >= MIN_SPEECH_S).sum()),
             "speech_window_fraction": float((s >= MIN_SPEECH_S).mean()),
             "speech_s_percentiles": {q: float(np.percentile(s, q)) for q in (0, 1, 5, 50, 95)},
             "not_speech": [r for r in per if r["speech_s"] < MIN_SPEECH_S], "seconds": round(time.time() - t0, 1)}

    clips = []
    for name in CLIPS:
        path = media / name
        if not path.is_file():
            continue
        track = VoiceTrack(path)
        row = {"clip": name, "status": track.status, "note": track.note, "duration_s": round(track.duration_s, 2),
               "windows": int(len(track.times)), "speech_windows": int(track.speech.sum())}
        if track.status not in ("no audio track", "silent"):
            w = load_audio(path, VAD_RATE, allow_silent=True)
            prob = speech_probability(w)
            row.update(speech_chunk_fraction=float((prob >= SPEECH_THRESHOLD).mean()), max_prob=float(prob.max()),
                       rms_dbfs=float(20 * np.log10(np.sqrt(np.mean(w.astype(np.float64) ** 2)) + 1e-12)))
            off = VoiceTrack(path, vad=False)  # what the model says on this sound when nothing stops it
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # the surprise column is NaN throughout
                mean = np.nanmean(off.proba, axis=0)
            from affectkit.expressions import EXPRESSIONS

            j = int(np.nanargmax(mean))
            row["without_vad"] = {"top_class": EXPRESSIONS[j], "mean_prob": float(mean[j]),
                                  "min_prob": float(np.nanmin(off.proba[:, j])), "temperature": off.temperature}
        clips.append(row)

    generated = []
    for name, w in generated_signals().items():
        prob = speech_probability(w.astype(np.float32))
        _, sw = _windows(prob, len(w))
        generated.append({"signal": name, "windows": int(len(sw)), "speech_windows": int((sw >= MIN_SPEECH_S).sum()),
                          "speech_chunk_fraction": float((prob >= SPEECH_THRESHOLD).mean()),
                          "max_prob": float(prob.max())})

    mixed = mixed_tracks(waves, media)
    ref = reference_agreement(waves, media)
    return {"emodb": emodb, "clips": clips, "generated": generated, "mixed": mixed, "reference": ref}


def mixed_tracks(waves: dict[str, np.ndarray], media: Path) -> list[dict]:
    """EmoDB utterances between / over the sample videos' music bed."""
    music_path = media / "no_face.mp4"
    if not music_path.is_file():
        return []
    music = load_audio(music_path, VAD_RATE, allow_silent=True)
    names = sorted(waves)[::27][:20]  # 20 utterances spread over speakers and emotions
    gap = np.tile(music, 2)[: 4 * VAD_RATE]  # 4 s of music
    out = []
    for how in ("music between utterances", "utterances mixed over music"):
        parts, spans, t = [], [], 0.0
        for i, n in enumerate(names):
            u = waves[n][: 2 * VAD_RATE]
            if how == "utterances mixed over music":
                bed = np.tile(music, 2)[: len(u)]
                u = u + bed
            parts += [u, gap]
            spans.append((t, t + len(u) / VAD_RATE))
            t += (len(u) + len(gap)) / VAD_RATE
        track = np.clip(np.concatenate(parts), -1, 1).astype(np.float32)
        prob = speech_probability(track)
        centres, sw = _windows(prob, len(track))
        speech = sw >= MIN_SPEECH_S
        # windows wholly inside a music-only gap, and windows centred in an utterance
        in_gap = np.array([all(c - WIN_S / 2 >= b or c + WIN_S / 2 <= a for a, b in spans) for c in centres])
        on_utt = np.array([any(a + 0.5 <= c <= b - 0.5 for a, b in spans) for c in centres])
        out.append({"track": how, "utterances": len(names), "windows": int(len(centres)),
                    "gap_windows": int(in_gap.sum()), "gap_windows_speech": int(speech[in_gap].sum()),
                    "utterance_windows": int(on_utt.sum()), "utterance_windows_speech": int(speech[on_utt].sum())})
    return out


def reference_agreement(waves: dict[str, np.ndarray], media: Path) -> dict | None:
    """Chunk decisions of affectkit's network (packaged safetensors weights) vs silero-vad's TorchScript model."""
    import torch

    from affectkit.audio.vad import CHUNK, silero_package_file

    jit_path = silero_package_file("silero_vad.jit")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            jit = torch.jit.load(str(jit_path), map_location="cpu").eval()
    except Exception as exc:  # torch.jit is deprecated and may be gone: the comparison is optional
        print(f"reference TorchScript model not compared: {exc}", file=sys.stderr)
        return None
    tracks = list(waves.values()) + [load_audio(media / c, VAD_RATE, allow_silent=True)
                                     for c in CLIPS[:4] if (media / c).is_file()]
    ours, theirs = [], []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            for w in tracks:
                jit.reset_states()
                x = torch.from_numpy(np.pad(w, (0, (-len(w)) % CHUNK)))
                theirs.append(np.array([float(jit(x[i: i + CHUNK], VAD_RATE)) for i in range(0, len(x), CHUNK)]))
                ours.append(speech_probability(w))
    finally:
        torch.set_num_threads(threads)
    a, b = np.concatenate(ours) >= SPEECH_THRESHOLD, np.concatenate(theirs) >= SPEECH_THRESHOLD
    return {"file": jit_path.name, "tracks": len(tracks), "chunks": int(len(a)),
            "agreement": float((a == b).mean()), "speech_ours": float(a.mean()), "speech_reference": float(b.mean())}


def calibration_checks(data, seeds) -> dict:
    keep = data.labels >= 0
    x = extract_features(data, "librosa")[keep]
    y, g = data.labels[keep], np.asarray(data.subjects)[keep]
    rows = []
    for seed in seeds:
        t = time.time()
        z = loso_logits(x, y, g, seed=seed)
        rec = calibration_record(z, y, g, fitted_on=f"seed {seed}")
        rec["seconds"] = round(time.time() - t, 1)
        rec["seed"] = int(seed)
        rec["bins_before"] = calibration_bins(softmax(z), y)
        rec["bins_after"] = calibration_bins(softmax(z, rec["temperature"]), y)
        rows.append(rec)
        print(f"seed {seed}: T {rec['temperature']:.3f}, ECE {rec['ece_before']:.4f} -> {rec['ece_after']:.4f} "
              f"(held-out speaker {rec['ece_after_held_out']:.4f})", flush=True)
    card = json.loads(bundled_voice_model().with_suffix(".json").read_text())
    return {"seeds": rows, "card_calibration": card.get("calibration"),
            "card_seed": card.get("training", {}).get("seed")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--docs", default=str(ROOT / "docs"), help="where audio.md / audio.json are")
    args = ap.parse_args()
    command = ("python benchmarks/voice_model.py " + " ".join(sys.argv[1:])).strip()
    t0 = time.time()
    data = load_emodb(shared_dir() / "data" / "emodb")
    vad = vad_checks(data, shared_dir() / "media")
    print(f"VAD: EmoDB {vad['emodb']['speech_windows']}/{vad['emodb']['n']} speech; clips "
          + ", ".join(f"{c['clip']} {c['speech_windows']}/{c['windows']}" for c in vad["clips"]), flush=True)
    cal = calibration_checks(data, args.seeds)
    result = {"command": command, "date": dt.date.today().isoformat(), "seconds": round(time.time() - t0, 1),
              "machine": {"machine": platform.machine(), "python": platform.python_version()},
              "vad": {"detector": "Silero VAD (silero-vad package, silero_vad_16k.safetensors)",
                      "speech_threshold": SPEECH_THRESHOLD, "chunk_s": CHUNK_S, "min_speech_s": MIN_SPEECH_S,
                      "window_s": WIN_S, "hop_s": HOP_S, **vad},
              "calibration": cal}
    write_docs(Path(args.docs), result)


def _pct(v: float) -> str:
    return f"{100 * v:.1f}"


def section(r: dict) -> str:
    v, c = r["vad"], r["calibration"]
    e = v["emodb"]
    q = e["speech_s_percentiles"]
    lines = [
        BEGIN, "",
        "## Voice activity and calibration of the bundled voice model", "",
        "Written by a separate command (this section is kept when `benchmarks/emodb_loso.py` rewrites the page):",
        "", f"    {r['command']}", "",
        f"Run on {r['date']} on `{r['machine']['machine']}`, Python {r['machine']['python']}; "
        f"{r['seconds']:.0f} s in all.", "",
        "### Voice activity detection", "",
        f"`analyze --audio` runs the voice model only on voice windows ({v['window_s']:g} s, every {v['hop_s']:g} s) "
        f"that hold speech. Speech is found by Silero VAD (`silero-vad` package, MIT licence; its packaged "
        f"16 kHz weights run in affectkit's own torch module, nothing is downloaded): a {v['chunk_s'] * 1000:.0f} ms "
        f"chunk is speech when its probability is >= {v['speech_threshold']:g}, and a window is speech when it "
        f"holds >= {v['min_speech_s']:g} s of speech chunks. Other windows have empty voice columns, and their "
        "fused columns are the face's.", "",
        f"EmoDB (all {e['n']} utterances are speech; each is 2.0 s, zero-padded, so one window each): "
        f"**{e['speech_windows']} of {e['n']} windows are speech ({_pct(e['speech_window_fraction'])} %)**. "
        f"Seconds of speech found per utterance: minimum {q[0]:.2f}, 1st percentile {q[1]:.2f}, "
        f"5th {q[5]:.2f}, median {q[50]:.2f}, 95th {q[95]:.2f}.",
    ]
    if e["not_speech"]:
        lines[-1] += " Utterances judged not speech: " + ", ".join(
            f"{m['file']} ({m['speech_s']:.2f} s, max prob {m['max_prob']:.2f})" for m in e["not_speech"]) + "."
    lines += ["", "The shared sample videos' sound (none holds speech: a 4 s music bed shared by three clips, "
              "room noise, a digitally silent track). \"Without VAD\" is what the calibrated model says on "
              "the same windows when every window is scored, the behaviour this check replaces:", "",
              "| clip | seconds | RMS dBFS | voice windows | speech windows | speech chunks % | max chunk prob "
              "| status | without VAD: top class, mean (min) prob |", "|---|---|---|---|---|---|---|---|---|"]
    for k in v["clips"]:
        wo = k.get("without_vad")
        wo_s = f"{wo['top_class']} {wo['mean_prob']:.3f} ({wo['min_prob']:.3f})" if wo else "not run"
        heard = "max_prob" in k  # VAD not run on a silent track or one without audio
        rms = f"{k['rms_dbfs']:.1f}" if heard else ""
        chunks = _pct(k["speech_chunk_fraction"]) if heard else ""
        top = f"{k['max_prob']:.2f}" if heard else ""
        lines.append(f"| {k['clip']} | {k['duration_s']} | {rms} | {k['windows']} | {k['speech_windows']} | "
                     f"{chunks} | {top} | {k['status']} | {wo_s} |")
    lines += ["", "Generated signals (10 s at 16 kHz, fixed seeds; the voice-like buzz is a deliberately hard "
              "case):", "", "| signal | windows | speech windows | speech chunks % | max chunk prob |",
              "|---|---|---|---|---|"]
    for g in v["generated"]:
        lines.append(f"| {g['signal']} | {g['windows']} | {g['speech_windows']} | {_pct(g['speech_chunk_fraction'])} "
                     f"| {g['max_prob']:.2f} |")
    if v["mixed"]:
        lines += ["", "Speech and music in one track: 20 EmoDB utterances with 4 s of the music bed between them, "
                  "and the same utterances mixed over the music bed (about 0 dB speech-to-music ratio) with the "
                  "same gaps. Gap windows lie wholly inside a music-only gap; utterance windows are centred at "
                  "least 0.5 s inside an utterance:", "",
                  "| track | windows | gap windows: speech / all | utterance windows: speech / all |",
                  "|---|---|---|---|"]
        for m in v["mixed"]:
            lines.append(f"| {m['track']} | {m['windows']} | {m['gap_windows_speech']} / {m['gap_windows']} | "
                         f"{m['utterance_windows_speech']} / {m['utterance_windows']} |")
    ref = v.get("reference")
    if ref:
        lines += ["", f"The packaged safetensors weights are not the same numbers as silero-vad's default "
                  f"TorchScript model (`{ref['file']}`). On the {ref['tracks']} tracks above (EmoDB and the "
                  f"four clips with sound; {ref['chunks']} chunks) the two make the same speech decision on "
                  f"{_pct(ref['agreement'])} % of the chunks (speech: {_pct(ref['speech_ours'])} % here, "
                  f"{_pct(ref['speech_reference'])} % with the TorchScript model)."]
    rows = c["seeds"]
    first = rows[0]
    lines += ["", "### Calibration (temperature scaling)", "",
              "The voice model's probabilities are temperature-scaled (Guo et al. 2017): the logits are divided "
              "by one temperature T before the softmax, which changes no prediction, only the confidence. T "
              "minimises the negative log-likelihood of the out-of-fold logits of the bundled model's recipe "
              "(MLP of Vielzeuf et al. 2018, raw librosa functionals, all 7 EmoDB classes) under "
              "leave-one-speaker-out: every utterance is scored by a model that never heard its speaker. "
              f"ECE binning: {ECE_BINNING}; ECE = sum over bins of (bin share) x |accuracy - mean top-1 "
              "probability|, computed on the 7-class probabilities (in `analyze` boredom is then dropped and "
              "the rest renormalised). \"ECE after\" uses the T fitted on those same predictions; \"held-out "
              "speaker\" scales each speaker's predictions with a T fitted on the other nine speakers only, "
              "an estimate that does not reuse the labels it scores.", "",
              "| seed | accuracy % | T | ECE before % | ECE after % | ECE after, held-out speaker % "
              "| T range over held-out fits | NLL before | NLL after |", "|---|---|---|---|---|---|---|---|---|"]
    for s in rows:
        lo, hi = s["temperature_per_group"]
        lines.append(f"| {s['seed']} | {_pct(s['accuracy'])} | {s['temperature']:.3f} | {_pct(s['ece_before'])} | "
                     f"{_pct(s['ece_after'])} | {_pct(s['ece_after_held_out'])} | {lo:.3f}-{hi:.3f} | "
                     f"{s['nll_before']:.3f} | {s['nll_after']:.3f} |")
    card = c.get("card_calibration") or {}
    if card:
        same = c.get("card_seed") == first["seed"] and abs(card["temperature"] - first["temperature"]) < 1e-6
        lines += ["", f"The bundled model (`src/affectkit/weights/voice_emodb.json`, seed {c.get('card_seed')}, "
                  f"written by `python scripts/ship_voice_model.py`) carries T = {card['temperature']:.4f} "
                  f"(ECE {_pct(card['ece_before'])} % -> {_pct(card['ece_after'])} %)"
                  + ("; this run's seed-" + str(first["seed"]) + " fit gives the same T." if same else
                     f"; this run's seed-{first['seed']} fit gives T = {first['temperature']:.4f}, which differs: "
                     "re-run the ship script.")]
    else:
        lines += ["", "**The bundled model's card has no calibration entry**: run `python scripts/ship_voice_model.py`."]
    b0, b1 = first["bins_before"], first["bins_after"]
    lines += ["", f"Reliability of seed {first['seed']} (bins with at least one prediction; accuracy and mean "
              "confidence in %):", "", "| bin | n before | accuracy before | confidence before | n after "
              "| accuracy after | confidence after |", "|---|---|---|---|---|---|---|"]
    edges = b0["edges"]
    for i in range(len(edges) - 1):
        if b0["count"][i] == 0 and b1["count"][i] == 0:
            continue
        f = lambda v: "" if v != v else f"{100 * v:.1f}"  # noqa: E731  (NaN: empty bin)
        lines.append(f"| ({edges[i]:.3f}, {edges[i + 1]:.3f}] | {b0['count'][i]} | {f(b0['accuracy'][i])} | "
                     f"{f(b0['confidence'][i])} | {b1['count'][i]} | {f(b1['accuracy'][i])} | "
                     f"{f(b1['confidence'][i])} |")
    lines += ["", "Temperature scaling does not make the model trustworthy outside speech: on the sample "
              "videos' non-speech sound the calibrated model still gives the top-class probabilities in the "
              "\"without VAD\" column above, which is why windows without speech are left empty.", "", END, ""]
    return "\n".join(lines)


def write_docs(docs: Path, result: dict) -> None:
    from affectkit.io.write import write_json_atomic

    docs.mkdir(parents=True, exist_ok=True)
    md, js = docs / "audio.md", docs / "audio.json"
    text = md.read_text() if md.is_file() else "# Voice emotion recognition\n"
    new = section(result)
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + new + text[text.index(END) + len(END):].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + new
    payload = json.loads(js.read_text()) if js.is_file() else {}
    payload["voice_model"] = result
    write_json_atomic(js, payload, indent=1)
    with atomic_path(md) as tmp:
        tmp.write_text(text)
    print(f"wrote the voice-model section of {md} and the voice_model entry of {js}")


if __name__ == "__main__":
    main()
