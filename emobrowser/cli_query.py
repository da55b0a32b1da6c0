"""`emobrowser query`: items nearest to a point, a mood, a region, an example or a text,
as lines or JSON, and optionally an M3U8 playlist of them."""

from __future__ import annotations

import json
import sys

from emobrowser.core.errors import InputError


def add_parser(sub, add_db) -> None:
    """Add the query command to the subcommand parsers ``sub``; ``add_db(p)`` adds --db."""
    p = sub.add_parser("query", help="items nearest to a point, a mood, a region or an example")
    add_db(p)
    p.add_argument("--valence", type=float, help="valence in [-1, 1]")
    p.add_argument("--arousal", type=float, help="arousal in [-1, 1]")
    p.add_argument("--mood", help='mood words, e.g. "calm" or "happy but calm"')
    p.add_argument("--like", metavar="PATH", help="items whose emotion matches this file's")
    p.add_argument("--at", type=float, default=None, metavar="SECONDS",
                   help="with --like on audio/video: use the moment at this time instead of the whole file")
    p.add_argument("--region", metavar="SPEC", help="rect:V0,A0,V1,A1 or circle:V,A,R")
    p.add_argument("--text", metavar="STRING",
                   help="only items whose file name, title, artist or album contains STRING (case and accents "
                        "ignored); alone, every match, nearest to neutral first")
    p.add_argument("-k", type=int, default=None,
                   help="number of results (default 20; with --text alone, every match)")
    p.add_argument("--modality", default=None, help="comma-separated: image,audio,video")
    p.add_argument("--balance", type=float, default=None, help="balance factor F >= 1")
    p.add_argument("--max-distance", type=float, default=None, metavar="D",
                   help="drop results farther than D (default: the relevance limit, max(0.5, nearest + 0.25)); "
                        "inf = no limit")
    p.add_argument("--folder", default=None, help="only items under this folder")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--m3u8", metavar="PATH", default=None,
                   help="also save the music and videos of the results as an M3U8 playlist (as the app's export)")


def cmd_query(args) -> int:
    from emobrowser.cli import existing_db_path, json_line, num, one_line, open_store  # here: cli imports this
    from emobrowser.index.library import QueryError, run_query
    from emobrowser.index.tags import json_fields

    try:
        hits = run_query(existing_db_path(args), args)
    except QueryError as exc:
        print(f"emobrowser: {exc}", file=sys.stderr)
        return 2
    tags, seconds = {}, {}
    if args.json or args.m3u8:
        with open_store(args) as store:  # once, for what the rows and the playlist add
            tags = store.metadata_of([hit.id for hit in hits])
            if args.m3u8:
                seconds = store.durations([h.id for h in hits if h.modality in ("audio", "video")])
    for hit in hits:
        row = {"path": hit.path, "modality": hit.modality, "valence": num(hit.valence),
               "arousal": num(hit.arousal), "distance": num(hit.distance)}
        if args.json:
            row.update(json_fields(tags.get(hit.id)))
            print(json_line(row))
        else:
            print(f"{hit.distance:6.3f}  {hit.modality:5s}  v {hit.valence:+.2f} a {hit.arousal:+.2f}  "
                  f"{one_line(hit.path)}")
    sys.stdout.flush()  # the rows before the note on stderr, where both go to one terminal
    if note := _left_out_note(args, hits):
        print(note, file=sys.stderr)
    if args.m3u8:
        return _save_playlist(args, hits, tags, seconds)
    return 0


def _save_playlist(args, hits, tags: dict[int, dict], seconds: dict[int, float]) -> int:
    """Write ``query --m3u8``: the same playlist as the app's export of these results
    (``tags`` and ``seconds`` by item id, from the library)."""
    from emobrowser.index.playlist import write_m3u8

    for hit in hits:  # entries named "Artist - Title" (playlist.default_title), as in the app
        hit.tags = tags.get(hit.id)
    try:
        result = write_m3u8(args.m3u8, hits, seconds)
    except OSError as exc:
        from emobrowser.core.errors import environment_failure

        raise InputError(f"cannot write the playlist {args.m3u8}: {environment_failure(exc) or exc.strerror or exc}") \
            from exc
    note = f"saved a playlist of {result.written} items to {args.m3u8}"
    if result.gone:
        note += f"; left out {len(result.gone)} no longer on disk"
    if result.as_uri:
        note += f"; {result.as_uri} whose names hold line breaks written as file:// URIs"
    print(note if not args.json else json.dumps({"playlist": args.m3u8, "entries": result.written,
                                                  "left_out": len(result.gone), "as_uri": result.as_uri}),
          file=sys.stderr)
    return 0


def _left_out_note(args, hits) -> str | None:
    """What the distance limit left out, for stderr: with --json always one JSON object
    {"left_out": N, "limit": D or null}, else a sentence when N > 0. None for a region,
    which is its own limit. N counts the farther items the same query without a limit
    would put among its -k results (engine.QueryResult.left_out)."""
    from emobrowser.cli import num
    if args.region:
        return None
    left_out, limit = getattr(hits, "left_out", 0), getattr(hits, "limit", None)
    if args.json:
        return json.dumps({"left_out": left_out, "limit": None if limit is None else num(limit)})
    if not left_out:
        return None
    items = "item" if left_out == 1 else "items"
    return (f"{left_out} farther {items} left out (beyond {limit:.2f}); "
            f"--max-distance inf shows {'it' if left_out == 1 else 'them'}")
