"""Does the 0.5 s timeline follow a change of mood? A held-out check on spliced 4Q clips.

DEAM's per-0.5 s ratings are not in the provided data, so the timeline cannot be compared
with human ratings over time. What the 4Q clips do allow: join the first ``part`` seconds
of one held-out clip to the first ``part`` seconds of another from a different quadrant,
score the joined file with ``emobrowser score --json``, and ask whether the timeline moves
the way the two clips' labels say, and how sharply.

For one artist-grouped fold, a model is trained without it (as in ``holdout_audio``).
Every spliced file and every part on its own is then scored in one CLI run. Per splice
and per dimension whose sign differs between the two clips:

* **direction**: does the timeline's mean over the second part minus its mean over the
  first part have the sign of (label B - label A)? Steps within ``margin`` seconds of
  the join are left out. Chance is 0.5. The reference, measured in the same run, is the
  same comparison made with the two parts scored as separate files.
* **part signs**: does the mean timeline over each part have that clip's label sign?
  Reference: the separate files' whole-file scores.
* **step response**: the timeline around the join, rescaled per splice so that the
  first part's mean is 0 and the second's is 1, over the splices whose
  direction is right (median per offset). The offsets (from the join) where it first reaches 0.1 and 0.9
  give the rise time, i.e. how sharply the timeline resolves a change.

    python -m emobrowser.training.timeline_check --data /work/shared/data \\
        --cache /tmp/audcache/4q --fold 0

With ``--windows 1.5,3,6`` the same splices are also scored in this process with other
timeline window lengths (descriptor context as shipped, or as ``--window-context`` says),
to show what the window trades: a sharper step against noisier part means. ``--contexts 10,20,track`` does the same for
the span the timeline's track descriptors (dynamics, tonality) are computed over: that
many seconds around each step, or the whole track (the timeline before version 5).

The data folder is never written to. Prints a JSON summary as the last line. Saved
outputs of several folds are pooled with ``--pool fold0.log fold1.log ...``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np

from emobrowser.features.audio_features import (
    DESCRIPTOR_CONTEXT_SECONDS,
    N_TRACK,
    WINDOW_SECONDS,
    frame_features,
    local_track_vectors,
    timeline_vectors,
    track_vector,
)
from emobrowser.media.audio import load_audio
from emobrowser.media.synth import write_audio
from emobrowser.training.holdout_audio import fold_model, score_with_cli

SR = 22050
DIMS = ("valence", "arousal")


def choose_pairs(held: list[dict], per_pair: int, seed: int = 0) -> list[tuple[dict, dict]]:
    """Up to ``per_pair`` (first, second) clip pairs for every ordered pair of different
    quadrants; no clip is paired with itself, and each pair type draws without
    replacement."""
    rng = np.random.default_rng(seed)
    by_quadrant: dict[str, list[dict]] = {}
    for row in held:
        by_quadrant.setdefault(row["quadrant"], []).append(row)
    pairs = []
    for qa, qb in itertools.permutations(sorted(by_quadrant), 2):
        first = rng.permutation(len(by_quadrant[qa]))[:per_pair]
        second = rng.permutation(len(by_quadrant[qb]))[:per_pair]
        pairs += [(by_quadrant[qa][i], by_quadrant[qb][j]) for i, j in zip(first, second)]
    return pairs


def write_splices(pairs: list[tuple[dict, dict]], clip_dir: Path, out: Path, part: float,
                  log=print) -> tuple[list[tuple[Path, dict, dict]], dict[str, Path]]:
    """Write each pair's joined file and every used part on its own (FLAC, lossless).

    Returns the splices as (path, row A, row B) and the part files by clip name. Clips
    shorter than ``part`` seconds, or that fail to decode, are left out (and logged)."""
    out.mkdir(parents=True, exist_ok=True)
    n = int(round(part * SR))
    parts: dict[str, np.ndarray | None] = {}
    part_files: dict[str, Path] = {}

    def get(row: dict) -> np.ndarray | None:
        name = row["file"]
        if name not in parts:
            try:
                samples = load_audio(clip_dir / name, sr=SR, duration=part + 1.0)
            except Exception as exc:  # noqa: BLE001 - a bad clip is reported and skipped
                log(f"skipping {name}: {exc}")
                samples = None
            if samples is not None and samples.size < n:
                log(f"skipping {name}: shorter than {part} s")
                samples = None
            parts[name] = None if samples is None else samples[:n]
            if parts[name] is not None:
                part_files[name] = write_audio(out / f"part_{Path(name).stem}.flac", parts[name], SR)
        return parts[name]

    splices = []
    for k, (a, b) in enumerate(pairs):
        xa, xb = get(a), get(b)
        if xa is None or xb is None:
            continue
        path = write_audio(out / f"splice_{k:03d}.flac", np.concatenate([xa, xb]), SR)
        splices.append((path, a, b))
    return splices, part_files


def _sign(x: float) -> int:
    return 1 if x > 0 else -1


def splice_measures(segments: list[dict], part: float, margin: float) -> dict:
    """Means of each part's timeline steps (steps within ``margin`` s of the join left
    out), and the timeline around the join as (offset from the join, values)."""
    mids = np.array([(s["start"] + s["end"]) / 2 for s in segments])
    vals = np.array([[s["valence"], s["arousal"]] for s in segments], dtype=float)
    first = mids < part - margin
    second = (mids > part + margin) & (mids < 2 * part)
    return {
        "mean_a": vals[first].mean(axis=0),
        "mean_b": vals[second].mean(axis=0),
        "offsets": mids - part,
        "values": vals,
    }


def step_response(curves: list[tuple[np.ndarray, np.ndarray]], span: float) -> dict:
    """Median of rescaled timelines (offset, z) around the join, at each step offset
    within +-``span`` s; with the offsets where the median first reaches 0.1 and 0.9."""
    sums: dict[float, list[float]] = {}
    for offsets, z in curves:
        for off, value in zip(np.round(np.asarray(offsets) * 4) / 4, z):
            if abs(off) <= span:
                sums.setdefault(float(off), []).append(float(value))
    grid = np.array(sorted(sums))
    mean = np.array([np.median(sums[g]) for g in grid])  # median: a small gap makes a wild z

    def first_reach(level: float) -> float | None:
        hit = np.nonzero(mean >= level)[0]
        return None if hit.size == 0 else float(grid[hit[0]])

    return {
        "n": len(curves),
        "rise_10_s": first_reach(0.1),
        "rise_90_s": first_reach(0.9),
        "curve": [[float(g), round(float(m), 3)] for g, m in zip(grid, mean)],
    }


def summarise(splices: list[tuple[str, dict, dict]], scores: dict[str, dict], part_scores: dict[str, dict],
              part: float, margin: float) -> dict:
    """Direction, part-sign and step-response figures over all splices (see module doc)."""
    direction = {d: {"timeline": [], "separate": []} for d in DIMS}
    part_sign = {d: {"timeline": [], "separate": []} for d in DIMS}
    curves: dict[str, list] = {d: [] for d in DIMS}
    skipped = 0
    for path, a, b in splices:
        res = scores.get(path)
        sep_a, sep_b = part_scores.get(a["file"]), part_scores.get(b["file"])
        if not res or res.get("error") or not res.get("segments") or not sep_a or not sep_b \
                or sep_a.get("error") or sep_b.get("error"):
            skipped += 1
            continue
        m = splice_measures(res["segments"], part, margin)
        for j, d in enumerate(DIMS):
            la, lb = int(float(a[f"{d}_sign"])), int(float(b[f"{d}_sign"]))
            part_sign[d]["timeline"] += [_sign(m["mean_a"][j]) == la, _sign(m["mean_b"][j]) == lb]
            part_sign[d]["separate"] += [_sign(sep_a[d]) == la, _sign(sep_b[d]) == lb]
            if la == lb:
                continue
            want = _sign(lb - la)
            tl_ok = _sign(m["mean_b"][j] - m["mean_a"][j]) == want
            direction[d]["timeline"].append(tl_ok)
            direction[d]["separate"].append(_sign(sep_b[d] - sep_a[d]) == want)
            gap = m["mean_b"][j] - m["mean_a"][j]
            if tl_ok and abs(gap) > 1e-6:
                curves[d].append((m["offsets"], (m["values"][:, j] - m["mean_a"][j]) / gap))

    def acc(flags: list[bool]) -> float | None:
        return None if not flags else round(float(np.mean(flags)), 4)

    out: dict = {"splices": len(splices) - skipped, "skipped": skipped, "part_s": part, "margin_s": margin}
    for d in DIMS:
        resp = step_response(curves[d], span=part / 2)
        out[d] = {
            "pairs": len(direction[d]["timeline"]),
            "direction_acc_timeline": acc(direction[d]["timeline"]),
            "direction_acc_separate": acc(direction[d]["separate"]),
            "part_sign_acc_timeline": acc(part_sign[d]["timeline"]),
            "part_sign_acc_separate": acc(part_sign[d]["separate"]),
            "rise_10_s": resp["rise_10_s"],
            "rise_90_s": resp["rise_90_s"],
            "step_curve": resp["curve"],
        }
    return out


def window_segments(model, samples: np.ndarray, window: float = WINDOW_SECONDS,
                    context: float | None = DESCRIPTOR_CONTEXT_SECONDS) -> list[dict]:
    """The timeline of ``samples`` as ``emobrowser score`` gives it (with the defaults),
    but with the timeline window set to ``window`` seconds and the track descriptors
    (dynamics, tonality, always from the default window's timeline, as the model was
    trained) and the music tagger's embedding computed over the ``context`` seconds
    centred on each step, or over the whole track if ``context`` is None."""
    track = frame_features(samples, SR)
    duration = samples.size / SR
    default, _ = timeline_vectors(track, duration)
    steps, times = timeline_vectors(track, duration, window_seconds=window)
    if context is None:
        desc = np.broadcast_to(track_vector(default), (len(steps), N_TRACK))
    else:
        desc = local_track_vectors(default, context)
    # the music tagger's embedding over the same span (version 8 and later read it)
    from emobrowser.features.music_tagger import embeddings

    _, tagged = embeddings(samples, SR, np.asarray(times, dtype=np.float64).mean(axis=1), context,
                           model.tagger_dir())
    va = model.predict(np.hstack([steps, desc, tagged]))
    return [{"start": float(t0), "end": float(t1), "valence": float(v), "arousal": float(a)}
            for (t0, t1), (v, a) in zip(times, va)]


def window_sweep(models: Path, splices: list[tuple[Path, dict, dict]], part_scores: dict[str, dict],
                 settings: list[tuple[float, float | None]], part: float, margin: float) -> dict:
    """``summarise`` once per (timeline window, descriptor context) setting, scoring in
    this process."""
    from emobrowser.models.audio_model import AudioVAModel

    model = AudioVAModel(models)
    audio = {str(p): load_audio(p, sr=SR) for p, _, _ in splices}
    out = {}
    for window, context in settings:
        scores = {p: {"segments": window_segments(model, x, window, context), "error": None}
                  for p, x in audio.items()}
        s = summarise([(str(p), a, b) for p, a, b in splices], scores, part_scores, part, margin)
        key = f"window {window:g} s, descriptors over " + ("the track" if context is None else f"{context:g} s")
        out[key] = {"splices": s["splices"], **{d: {k: v for k, v in s[d].items() if k != "step_curve"}
                                                 for d in DIMS}}
    return out


def run(data_dir: Path, fold: int, folds: int = 5, seed: int = 0, per_pair: int = 6, part: float = 15.0,
        margin: float = 2.0, cache_dir: Path | None = None,
        settings: list[tuple[float, float | None]] | None = None, log=print) -> dict:
    data_dir = Path(data_dir)
    t0 = time.time()
    with fold_model(data_dir, fold, folds, seed, cache_dir, log=log) as (models, held, tmp):
        t1 = time.time()
        pairs = choose_pairs(held, per_pair, seed)
        splices, part_files = write_splices(pairs, data_dir / "audio4q", tmp / "splices", part, log)
        paths = [p for p, _, _ in splices] + list(part_files.values())
        log(f"scoring {len(splices)} splices and {len(part_files)} parts")
        results = {str(Path(r["path"]).resolve()): r for r in score_with_cli(paths, models, tmp / "home")}
        t2 = time.time()
        by_path = {str(p): results.get(str(p.resolve())) for p in paths}
        part_scores = {name: by_path[str(p)] for name, p in part_files.items()}
        summary = summarise([(str(p), a, b) for p, a, b in splices], by_path, part_scores, part, margin)
        if settings:
            log(f"window sweep: {settings}")
            summary["window_sweep"] = window_sweep(models, splices, part_scores, settings, part, margin)
    summary.update({"fold": fold, "folds": folds, "seed": seed, "train_s": round(t1 - t0, 1),
                    "score_s": round(t2 - t1, 1)})
    return summary


def _pool_block(blocks: list[dict]) -> dict:
    """Accuracies of one dimension pooled over folds, weighted by their counts; rise
    times as the median over folds."""
    out: dict = {"pairs": sum(b["pairs"] for b in blocks)}
    for key in ("direction_acc_timeline", "direction_acc_separate"):
        have = [b for b in blocks if b[key] is not None]
        n = sum(b["pairs"] for b in have)
        out[key] = round(sum(b[key] * b["pairs"] for b in have) / n, 4) if n else None
    for key in ("part_sign_acc_timeline", "part_sign_acc_separate"):
        n = sum(b["parts"] for b in blocks)
        out[key] = round(sum(b[key] * b["parts"] for b in blocks) / n, 4) if n else None
    for key in ("rise_10_s", "rise_90_s"):
        have = [b[key] for b in blocks if b[key] is not None]
        out[key + "_median"] = float(np.median(have)) if have else None
    return out


def pool(summaries: list[dict]) -> dict:
    """Figures of several folds' summaries pooled (the CLI run and every sweep setting)."""
    def blocks(get) -> dict:
        return {d: _pool_block([{**get(s)[d], "parts": 2 * get(s).get("splices", s["splices"])}
                                for s in summaries]) for d in DIMS}

    out = {"folds": [s["fold"] for s in summaries], "splices": sum(s["splices"] for s in summaries),
           "cli": blocks(lambda s: s)}
    keys = [set(s.get("window_sweep", {})) for s in summaries]
    for key in summaries[0].get("window_sweep", {}):
        if all(key in k for k in keys):  # settings every fold was run with
            out[key] = blocks(lambda s, key=key: s["window_sweep"][key])
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, help="folder with deam/ and audio4q/")
    p.add_argument("--fold", type=int, default=0, help="which artist-grouped fold of 4Q to hold out")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per-pair", type=int, default=6, help="splices per ordered pair of quadrants")
    p.add_argument("--part", type=float, default=15.0, help="seconds taken from each clip")
    p.add_argument("--margin", type=float, default=2.0, help="seconds either side of the join left out")
    p.add_argument("--cache", type=Path, default=None, help="feature cache folder for the 4Q clips")
    p.add_argument("--windows", default="", help="also sweep these timeline windows (seconds, comma-"
                   "separated), scored in this process")
    p.add_argument("--window-context", default=None, help="descriptor context of the --windows sweep: "
                   "seconds, or 'track' (default: as shipped)")
    p.add_argument("--contexts", default="", help="also sweep computing the track descriptors over this "
                   "many seconds around each step, or 'track' for the whole track (comma-separated), "
                   "with the default window")
    p.add_argument("--pool", type=Path, nargs="+", default=None, metavar="LOG",
                   help="instead of running, pool the JSON summaries these runs' outputs end with")
    args = p.parse_args(argv)
    if args.pool:
        print(json.dumps(pool([json.loads(f.read_text().strip().splitlines()[-1]) for f in args.pool])))
        return 0
    if args.data is None:
        p.error("--data is required")
    def context(text: str | None) -> float | None:
        if text is None:
            return DESCRIPTOR_CONTEXT_SECONDS
        return None if text.strip() == "track" else float(text)

    settings = [(float(w), context(args.window_context)) for w in args.windows.split(",") if w.strip()]
    settings += [(WINDOW_SECONDS, context(c)) for c in args.contexts.split(",") if c.strip()]
    summary = run(args.data, args.fold, args.folds, args.seed, args.per_pair, args.part, args.margin, args.cache,
                  settings)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
