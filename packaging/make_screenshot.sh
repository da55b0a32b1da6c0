#!/usr/bin/env bash
# Remakes docs/screenshot.png: the app on its demo library, as it is now.
#
# It starts a virtual X server (Xvfb) with a window manager (openbox), runs
# `emobrowser --demo` with a fresh, temporary EMOBROWSER_HOME, waits until
# `emobrowser status --json` says the whole demo library is indexed, searches by a
# mood and selects the second result, all from the keyboard, waits until the screen
# stops changing, and saves the window with its frame.
#
# Needs, on Debian/Ubuntu:
#   sudo apt install xvfb openbox imagemagick xdotool
# plus the libraries the window needs (README, "System packages for the window"),
# and emobrowser installed for $PYTHON.
#
# Usage: bash packaging/make_screenshot.sh [OUTPUT.png]
#   PYTHON  the Python that has emobrowser installed (default: python3)
#   MOOD    what is typed into the search box (default: happy)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-$REPO/docs/screenshot.png}
PYTHON=${PYTHON:-python3}
MOOD=${MOOD:-happy}
SCREEN=1440x900
INDEX_TIMEOUT=900   # seconds; indexing the demo takes about a minute on two cores
MAX_BYTES=400000

say() { echo "make_screenshot: $*" >&2; }
die() { say "$*"; exit 1; }

missing=()
for pair in Xvfb:xvfb openbox:openbox import:imagemagick convert:imagemagick compare:imagemagick xdotool:xdotool; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if ((${#missing[@]})); then
    die "missing tools; install them with: sudo apt install $(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"
fi
"$PYTHON" -c "import emobrowser" 2>/dev/null || die "$PYTHON cannot import emobrowser (set PYTHON=...)"

# The app's home; its path shows in the window, so it is kept short.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/emobrowser.XXXXXX")
SCRATCH=$WORK/screenshot
mkdir "$SCRATCH"
PIDS=()
cleanup() {
    local pid
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        pid=${PIDS[i]}
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free display number: no lock file and no socket.
for n in $(seq 90 140); do
    if [[ ! -e /tmp/.X$n-lock && ! -e /tmp/.X11-unix/X$n ]]; then DISPLAY_NUM=$n; break; fi
done
[[ -n ${DISPLAY_NUM:-} ]] || die "no free X display number between :90 and :140"
export DISPLAY=:$DISPLAY_NUM

Xvfb "$DISPLAY" -screen 0 "${SCREEN}x24" -nolisten tcp -noreset >"$SCRATCH/xvfb.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do xdotool getmouselocation >/dev/null 2>&1 && break; sleep 0.1; done
xdotool getmouselocation >/dev/null 2>&1 || die "Xvfb did not start: $(cat "$SCRATCH/xvfb.log")"
openbox --sm-disable >"$SCRATCH/openbox.log" 2>&1 &
PIDS+=($!)

export EMOBROWSER_HOME=$WORK
unset QT_QPA_PLATFORM WAYLAND_DISPLAY
DB=$("$PYTHON" -c "from emobrowser.demo import demo_db_path; print(demo_db_path())")
EXPECTED=$("$PYTHON" -c "from emobrowser import demo; print(len(demo.IMAGES) + len(demo.CLIPS) + len(demo.VIDEOS))")

say "starting emobrowser --demo on $DISPLAY (log: $SCRATCH/app.log)"
"$PYTHON" -m emobrowser --demo >"$SCRATCH/app.log" 2>&1 &
APP=$!
PIDS+=("$APP")

# The window: its title is "Demo library — Emobrowser".
WID=""
for _ in $(seq 600); do
    kill -0 "$APP" 2>/dev/null || die "emobrowser exited: $(tail -20 "$SCRATCH/app.log")"
    WID=$(xdotool search --onlyvisible --name "Demo library" 2>/dev/null | head -1 || true)
    [[ -n $WID ]] && break
    sleep 0.2
done
[[ -n $WID ]] || die "no window after two minutes: $(tail -20 "$SCRATCH/app.log")"

# Indexed: every demo item is indexed or failed, and none is pending.
progress() {
    "$PYTHON" -m emobrowser status --json --db "$DB" 2>/dev/null | "$PYTHON" -c '
import json, sys
items = json.load(sys.stdin)["items"].values()
done = sum(c.get("indexed", 0) + c.get("failed", 0) for c in items)
pending = sum(c.get("pending", 0) for c in items)
print(done, pending)'
}
LOG=$EMOBROWSER_HOME/logs/emobrowser.log
deadline=$((SECONDS + INDEX_TIMEOUT))
while :; do
    kill -0 "$APP" 2>/dev/null || die "emobrowser exited: $(tail -20 "$SCRATCH/app.log")"
    # An error (indexing failed) would leave items pending for ever, and the picture wrong.
    if grep -qE " (ERROR|CRITICAL) " "$LOG" 2>/dev/null; then
        die "emobrowser logged an error: $(grep -A12 -E " (ERROR|CRITICAL) " "$LOG" | head -40)"
    fi
    if [[ -e $DB ]] && read -r done pending < <(progress) && ((pending == 0 && done >= EXPECTED)); then break; fi
    ((SECONDS < deadline)) || die "the demo library was not indexed within $INDEX_TIMEOUT s"
    sleep 2
done
say "demo library indexed ($done items)"

# Wait until the screen stops changing: the same picture twice, one second apart.
settle() {
    local previous="" current
    for i in $(seq 120); do
        current=$SCRATCH/settle-$((i % 2)).png
        import -window root "$current"
        if [[ -n $previous ]] && [[ $(compare -metric AE "$previous" "$current" null: 2>&1 || true) == 0 ]]; then
            return 0
        fi
        previous=$current
        sleep 1
    done
    die "the screen kept changing for two minutes"
}

xdotool windowactivate --sync "$WID" 2>/dev/null || xdotool windowfocus --sync "$WID"
settle
# A search by mood: Ctrl+F puts the cursor in the mood box.
xdotool key --window "$WID" --clearmodifiers ctrl+f
xdotool type --window "$WID" --delay 60 "$MOOD"
xdotool key --window "$WID" Escape  # closes the completer's list, keeps the text
xdotool key --window "$WID" Return
# Shift+Tab goes from the mood box to the results (and the text cursor, which blinks,
# leaves the picture).
xdotool key --window "$WID" shift+Tab
xdotool mousemove 0 0  # no hover tooltip
settle
# The first result is selected; the second one, often a song, shows its emotion over
# time below the map.
xdotool key --window "$WID" Right
settle

# The window with its frame, as openbox draws it.
FRAME=$(xdotool search --onlyvisible --name "Demo library" | head -1)
import -frame -window "$FRAME" "$SCRATCH/window.png"
convert "$SCRATCH/window.png" -strip "$SCRATCH/out.png"
if (($(stat -c %s "$SCRATCH/out.png") > MAX_BYTES)); then
    convert "$SCRATCH/window.png" -strip -colors 255 "$SCRATCH/out.png"
fi
mkdir -p "$(dirname "$OUT")"
cp "$SCRATCH/out.png" "$OUT"
say "wrote $OUT ($(identify -format '%wx%h' "$OUT"), $(stat -c %s "$OUT") bytes)"
