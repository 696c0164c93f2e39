#!/usr/bin/env bash
# Local check of the documentation site, without Quarto (which renders the real site in CI, .github/workflows/deploy.yaml):
#   1. nbdev-proc-nbs --symlinks: nbdev's processing of every notebook into _proc/ (runs the show_doc, export and import
#      cells), with the other files of nbs/, including results/ through the nbs/results symlink (as nbdev-docs --symlinks);
#   2. tools/docs_render.py: _proc/*.ipynb -> static HTML in _docs_preview/ (nbconvert; sidebar from nbs/sidebar.yml;
#      MathJax 2.7.7 from npm, served locally so the maths renders offline);
#      It also copies what Quarto would copy into the site: nbs/_quarto.yml's `resources:` and the images markdown
#      cells link to (results/*.png through the nbs/results symlink), and fails if a linked image is missing;
#   3. headless Chromium, on the home page, API pages and an experiment page: a check that MathJax typeset the maths
#      without errors and that every image loaded, and screenshots: _docs_preview/NAME.png (the top of the page, as a
#      1280x2000 window shows it), NAME_full.png (the whole page) and NAME_img1.png, NAME_img2.png, ... (the page
#      around each of its first images: plots and figures, which sit far below the top of the page).
# Usage: bash tools/docs_preview.sh [--quick] [--check]
#   --quick: reuse _proc/ for notebooks unchanged since last time
#   --check: what CI runs (.ci/run): steps 1 and 2, the saved-outputs check and the link check, without Chromium,
#            MathJax or screenshots
# Needs: Python with the project installed ("pip install -e .[dev]"), Chromium (apt-get install chromium), npm (for
# MathJax, once; or MATHJAX_DIR=/path/to/MathJax-2.7.x). nbconvert is pip-installed if missing.
#   Between 1 and 2, tools/check_saved_outputs.py: every experiment notebook (06 onwards) is saved with at least one
#   plot and one table, since the site shows only what the notebooks were saved with.
#   Between 2 and 3, tools/check_links.py: every internal link of the rendered pages (href to a page of the site,
#   with or without #anchor, and image src) must lead to a file in the output folder, and an anchor to an id there.
# Exit status non-zero if nbdev-proc-nbs fails on any notebook or warns about a cell that mixes imports with other
# code, an experiment notebook is saved without a plot or a table, rendering fails, an internal link or image is
# broken, or a page's maths does not render.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${DOCS_PREVIEW_OUT:-_docs_preview}
SHOTS=${DOCS_PREVIEW_PAGES:-"index.ipynb 00_optimizer.ipynb 02_scaler.ipynb 06_paper_protocol.ipynb"}
OPTIONAL="which_rule.ipynb"          # listed in nbs/sidebar.yml, may not be written yet
QUICK=0; CHECK=0
for a in "$@"; do case $a in --quick) QUICK=1;; --check) CHECK=1;; *) echo "usage: bash tools/docs_preview.sh [--quick] [--check]"; exit 2;; esac; done
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
# Warnings stay visible (nbdev's among them, checked below); only torch's deprecation of torch.jit.script, which
# fastai triggers on import, is silenced. Later entries of PYTHONWARNINGS take precedence over the caller's.
export PYTHONWARNINGS="${PYTHONWARNINGS:+$PYTHONWARNINGS,}ignore:\`torch.jit.script\` is deprecated:FutureWarning"
start=$(date +%s)
say() { printf '\n=== %s (%ss)\n' "$*" "$(( $(date +%s) - start ))"; }
fail=0
TMP=$(mktemp -d)
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
  # nbdev-proc-nbs rewrites nbs/sidebar.yml (unless custom_sidebar = true) and fastai_bsi/_modidx.py: put them back
  [ -f "$TMP/sidebar.yml" ] && ! cmp -s "$TMP/sidebar.yml" nbs/sidebar.yml && cp "$TMP/sidebar.yml" nbs/sidebar.yml
  [ -f "$TMP/_modidx.py" ] && ! cmp -s "$TMP/_modidx.py" fastai_bsi/_modidx.py && cp "$TMP/_modidx.py" fastai_bsi/_modidx.py
  rm -rf "$TMP"
}
trap cleanup EXIT

say "prerequisites"
python -c "import nbconvert" 2>/dev/null || python -m pip install -q nbconvert || { echo "could not install nbconvert"; exit 1; }
if [ $CHECK = 0 ]; then
CHROME=${CHROME:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || command -v google-chrome-stable || true)}
[ -n "$CHROME" ] || { echo "Chromium not found: apt-get install -y chromium (or set CHROME=/path/to/chrome)"; exit 1; }
MJ=${MATHJAX_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fastai_bsi_docs/mathjax/node_modules/mathjax}
if [ ! -f "$MJ/MathJax.js" ]; then
  command -v npm >/dev/null || { echo "npm not found: install npm, or set MATHJAX_DIR to a MathJax 2.7 folder"; exit 1; }
  prefix=$(dirname "$(dirname "$MJ")"); mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-save --no-audit --no-fund --loglevel=error mathjax@2.7.7 || { echo "npm install mathjax failed"; exit 1; }
fi
echo "chromium: $("$CHROME" --version 2>/dev/null)   nbconvert: $(python -c 'import nbconvert;print(nbconvert.__version__)')   MathJax: $MJ"
fi

say "nbdev-proc-nbs (every notebook -> _proc/)"
rm -rf "$OUT"; mkdir -p "$OUT"; LOG=$OUT/proc.log
cp nbs/sidebar.yml "$TMP/sidebar.yml"; cp fastai_bsi/_modidx.py "$TMP/_modidx.py"
if [ "$(python -c 'from nbdev.config import get_config; print(bool(get_config().custom_sidebar))')" != True ]; then
  echo "note: custom_sidebar is not set in pyproject.toml, so nbdev regenerates nbs/sidebar.yml; this script restores it"
fi
if ! command -v quarto >/dev/null; then
  # nbdev-proc-nbs only checks that a quarto binary exists (else it tries to install one with sudo); it never runs it
  mkdir -p "$TMP/bin"; printf '#!/bin/sh\necho "quarto is not installed (docs_preview.sh stub)" >&2; exit 1\n' >"$TMP/bin/quarto"
  chmod +x "$TMP/bin/quarto"; PROC_PATH="$TMP/bin:$PATH"
else PROC_PATH=$PATH; fi
force=--force; [ $QUICK = 1 ] && force=
PATH=$PROC_PATH nbdev-proc-nbs --n-workers 1 --symlinks $force >"$LOG" 2>&1
proc_rc=$?
cp "$TMP/sidebar.yml" nbs/sidebar.yml; cp "$TMP/sidebar.yml" _proc/sidebar.yml 2>/dev/null
failed_nbs=""
if [ $proc_rc -ne 0 ]; then
  echo "nbdev-proc-nbs failed (log: $LOG); processing the remaining notebooks one at a time to find all failures:"
  for nb in nbs/*.ipynb; do
    n=$(basename "$nb"); [[ $n == _* ]] && continue
    [ -f "_proc/$n" ] && [ "_proc/$n" -nt "$nb" ] && continue
    if PATH=$PROC_PATH nbdev-proc-nbs --n-workers 1 --symlinks --file-glob "$n" >"$TMP/one.log" 2>&1 && [ -f "_proc/$n" ]; then echo "  ok     $n"
    else
      echo "  FAILED $n:"; grep -E '^(Exception: Error in notebook|[A-Za-z]*Error: )' "$TMP/one.log" | tail -3 | sed 's/^/           /'
      cat "$TMP/one.log" >>"$LOG"; failed_nbs="$failed_nbs $n"
    fi
  done
  cp "$TMP/sidebar.yml" nbs/sidebar.yml; cp "$TMP/sidebar.yml" _proc/sidebar.yml 2>/dev/null
  fail=1
fi
# nbdev executes every cell with an import while processing; one that mixes imports with other code runs that code
# too (and warns). Fail, and show the cells, so that the imports are moved to a cell of their own.
if grep -q 'Found cells containing imports and other code' "$LOG"; then
  echo "FAILED: nbdev found cells that mix imports with other code (it runs them while processing; put the imports in"
  echo "a cell of their own). The cells, from $LOG:"
  # each warning: 'UserWarning: Found cells ...', then the cell between two '---' lines; print each cell once
  awk '/UserWarning: Found cells containing imports and other code/{on=1; n=0; cell=""; next}
       on && /^---$/{if (++n == 2) {on=0; if (!(cell in seen)) {seen[cell]=1; printf "%s    ---\n", cell}}; next}
       on {cell = cell "    " $0 "\n"}' "$LOG"
  fail=1
fi
echo "processed: $(ls _proc/*.ipynb 2>/dev/null | wc -l) notebooks; failed:${failed_nbs:- none}"

# The experiment pages show the outputs saved in their notebooks (nothing runs when the site is built): fail when one
# is saved without a plot or a table, as 07 and 09 were (issue 33).
say "experiment notebooks saved with a plot and a table (tools/check_saved_outputs.py)"
python tools/check_saved_outputs.py nbs || { echo "FAILED: experiment notebook(s) saved without their results (above)"; fail=1; }

say "render _proc/*.ipynb -> $OUT/*.html"
[ $CHECK = 0 ] && ln -s "$MJ" "$OUT/mathjax"
python tools/docs_render.py --proc _proc --nbs nbs --out "$OUT" --optional "$OPTIONAL" || { echo "rendering failed"; fail=1; }

say "internal links and images of $OUT/*.html"
python tools/check_links.py "$OUT" || { echo "FAILED: broken internal links or images (above)"; fail=1; }

if [ $CHECK = 1 ]; then
  say "done (--check: no screenshots)"
  [ $fail -eq 0 ] && echo "docs check: OK" || echo "docs check: FAILED"
  exit $fail
fi

say "headless Chromium: screenshots and maths check"
PORT=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python -m http.server "$PORT" --bind 127.0.0.1 --directory "$OUT" >/dev/null 2>&1 &
SERVER_PID=$!
for i in $(seq 50); do python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$PORT/')" 2>/dev/null && break; sleep 0.2; done
WIN=1280,2000
chrome() {
  "$CHROME" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --disable-dev-shm-usage --hide-scrollbars --user-data-dir="$(mktemp -d -p "$TMP")" \
    --window-size=$WIN --virtual-time-budget=20000 "$@" 2>>"$TMP/chrome.log"
}
MAX_IMG_SHOTS=${DOCS_PREVIEW_IMG_SHOTS:-3}
# crop FULL.png (the whole page) into the top-of-page shot and one shot around each of the first images
crop() {
  python - "$@" <<'PY'
import sys
from PIL import Image
full, top, prefix, n_max, imgs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
im = Image.open(full); w, h = im.size
im.crop((0, 0, w, min(h, 2000))).save(top)
shots = []
for i, spec in enumerate([o for o in imgs.split(',') if o][:n_max], 1):
    y, ih = (int(v) for v in spec.split(':')[:2])
    if y + ih > h: shots.append(f'(image {i} is below the {h} px screenshot)'); continue
    y0 = max(0, min(y - 150, h - 1400)); y1 = min(h, max(y0 + 1400, y + ih + 150))
    im.crop((0, y0, w, y1)).save(f'{prefix}_img{i}.png'); shots.append(f'{prefix}_img{i}.png')
print(' '.join(shots))
PY
}
for nb in $SHOTS; do
  page=$(awk -F'\t' -v n="$nb" '$1==n{print $2}' "$OUT/pages.tsv" 2>/dev/null)
  n_math=$(awk -F'\t' -v n="$nb" '$1==n{print $3}' "$OUT/pages.tsv" 2>/dev/null)
  if [ -z "$page" ]; then echo "  FAILED $nb: no rendered page"; fail=1; continue; fi
  url="http://127.0.0.1:$PORT/$page"; name="$OUT/${nb%.ipynb}"; png="$name.png"
  WIN=1280,2000; dom=$(chrome --dump-dom "$url")
  typeset=$(grep -o 'class="mjx-chtml' <<<"$dom" | wc -l)
  # MathJax failures: processing errors, TeX errors (merror/noErrors) and undefined macros (shown red by noUndefined)
  errors=$(grep -o -E 'Math Processing Error|class="mjx-merror|class="[^"]*(MathJax_Error|noError)|mathcolor=&quot;red&quot;' <<<"$dom" | wc -l)
  # set by the page's script (tools/docs_render.py) once MathJax is done: page height; per image "top:height:loaded"
  height=$(grep -o -m1 'data-bsi-height="[0-9]*"' <<<"$dom" | grep -o '[0-9][0-9]*')
  img_list=$(grep -o -m1 'data-bsi-imgs="[0-9:,]*"' <<<"$dom" | sed 's/.*="\(.*\)"/\1/')
  imgs=$(tr ',' '\n' <<<"$img_list" | grep -c ':')
  broken=$(tr ',' '\n' <<<"$img_list" | grep -c ':0$')
  # the whole page in one screenshot: a window as tall as the page (capped, Chromium's limit is about 16k pixels)
  WIN=1280,$(( ${height:-2000} < 2000 ? 2000 : (${height:-2000} > 16000 ? 16000 : ${height:-2000}) ))
  chrome --screenshot="$ROOT/${name}_full.png" "$url" >/dev/null
  shots=""
  [ -s "${name}_full.png" ] && shots=$(crop "${name}_full.png" "$png" "$name" "$MAX_IMG_SHOTS" "$img_list")
  status=ok
  if [ -z "$height" ]; then status="FAILED (the page's measuring script did not run)"; fail=1
  elif [ ! -s "$png" ]; then status="FAILED (no screenshot)"; fail=1
  elif [ "$errors" -gt 0 ] || { [ "${n_math:-0}" -gt 0 ] && [ "$typeset" -eq 0 ]; }; then status="FAILED (maths not typeset)"; fail=1
  elif [ "$broken" -gt 0 ]; then status="FAILED ($broken image(s) did not load)"; fail=1; fi
  printf '  %-22s %-26s maths in source: %3s, typeset: %4s, errors: %s; images: %s, broken: %s; height %5s px  %s\n' \
    "$nb" "$page" "${n_math:-0}" "$typeset" "$errors" "$imgs" "$broken" "${height:-?}" "$status"
  printf '  %-22s screenshots: %s %s %s\n' "" "$png" "${name}_full.png" "$shots"
done

say "done"
echo "open: python -m http.server --directory $OUT  (then http://127.0.0.1:8000/index.html); screenshots: $OUT/*.png"
[ $fail -eq 0 ] && echo "docs preview: OK" || echo "docs preview: FAILED"
exit $fail
