#!/usr/bin/env bash
# The HTML run report as a user sees it: fathom report renders run logs of a
# healthy run, one with dead ReLUs, one that diverges, a deep one and a long
# one; every SVG in them (and fathom probe --plot's) must be well-formed XML,
# the page must not reach the network, and a real headless browser (Debian's
# chromium) must open it without console errors, run its script and take a
# screenshot. Fails, never skips, when chromium is missing.
# Usage: report_browser.sh FATHOM_BINARY TEST_DATA_DIR SCRATCH_DIR
. "$(dirname "$0")/lib/harness.bash" report_browser "$@"

lev=$data/levitus_sample.csv
cols="--inputs lat,sin_lon,cos_lon,log_depth --targets temp"
py=/usr/bin/python3
chromium=$(command -v chromium || true)
[ -n "$chromium" ] && ok || bad "chromium is not installed (scripts/install-deps.sh installs it)"
[ -x "$py" ] && ok || bad "$py is missing"
command -v xmllint >/dev/null && ok || bad "xmllint is missing (package libxml2-utils)"

# Every <svg> element of an HTML page parses as XML; prints how many.
check_svgs() {
    "$py" - "$1" <<'PY'
import re, sys, xml.etree.ElementTree as ET
html = open(sys.argv[1], encoding="utf-8").read()
svgs = re.findall(r"<svg\b.*?</svg>", html, re.S)
for i, s in enumerate(svgs):
    try:
        ET.fromstring(s)
    except ET.ParseError as e:
        sys.exit("svg %d of %s is not well-formed: %s" % (i + 1, sys.argv[1], e))
print(len(svgs))
PY
}

# Open a page headless: no console errors, the script ran, a screenshot.
browse() {
    local page=$1 name=$2 profile
    [ -n "$chromium" ] || { bad "cannot open $name without chromium"; return; }
    profile=$(mktemp -d "$tmp/profile.XXXX")
    local flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
        --disable-background-networking --disable-component-update --disable-sync
        --user-data-dir="$profile" --window-size=1400,3000)
    timeout 60 "$chromium" "${flags[@]}" --enable-logging=stderr --v=0 --dump-dom "file://$page" \
        >"$tmp/$name.dom" 2>"$tmp/$name.console"
    [ -s "$tmp/$name.dom" ] && ok || bad "$name: chromium printed no DOM: $(tail -c 400 "$tmp/$name.console")"
    if grep -E "Uncaught|ERROR:CONSOLE|Refused to|net::ERR" "$tmp/$name.console" >"$tmp/$name.errors"; then
        bad "$name: console errors: $(head -c 600 "$tmp/$name.errors")"
    else
        ok
    fi
    grep -q 'data-ready="heatmaps:[1-9]' "$tmp/$name.dom" && ok || bad "$name: the page's script did not run"
    timeout 60 "$chromium" "${flags[@]}" --hide-scrollbars --screenshot="$tmp/$name.png" "file://$page" \
        >/dev/null 2>&1
    [ "$(head -c 4 "$tmp/$name.png" 2>/dev/null | tail -c 3)" = "PNG" ] && [ "$(wc -c <"$tmp/$name.png")" -gt 50000 ] &&
        ok || bad "$name: no screenshot (or a blank one) in $tmp/$name.png"
}

# Self-contained: nothing fetched from elsewhere.
offline() {
    if grep -oE '(src|href)=|https?://[^"]*|@import|url\([^#]' "$1" | grep -v '^http://www.w3.org/2000/svg$' >"$tmp/ext"; then
        bad "$1 refers to outside resources: $(head -3 "$tmp/ext")"
    else
        ok
    fi
}

# --- a healthy tanh run -------------------------------------------------------
expect 0 "run log written" -- "$fathom" train --data "$lev" $cols --layers 32x8 --act tanh --epochs 8 \
    --diagnose 10 --out "$tmp/ok.safetensors"
grep -q '"z_hist":{"range":[0-9.e+-]*,"counts":\[[0-9,]*\],"below":' "$tmp/ok.jsonl" && ok ||
    bad "diagnose records carry no histograms of z"
expect 0 "report written to $tmp/ok.html" -- "$fathom" report "$tmp/ok.jsonl" -o "$tmp/ok.html"
n=$(check_svgs "$tmp/ok.html") && ok || bad "$n"
[ "${n:-0}" -ge 10 ] && ok || bad "expected at least 10 charts in the report, found ${n:-0}"
for phrase in "Status: ok" "Loss (mse" "Variance against depth" "start: step 0" "middle: step" "end: step" \
    "Var[z] mean-field theory" "Var[dL/dz] theory" "Gradient RMS per weight" "Update-to-weight ratio" \
    "layer 8 · tanh" "levitus_sample.csv" "optimizer" "best_val_loss"; do
    grep -qF "$phrase" "$tmp/ok.html" && ok || bad "the report lacks \"$phrase\""
done
offline "$tmp/ok.html"
browse "$tmp/ok.html" ok
# The default output name: RUN.jsonl -> RUN.html.
expect 0 "report written to $tmp/ok.html" -- "$fathom" report "$tmp/ok.jsonl"
# SIGTERM as the write begins (FATHOM_TEST_SIGNAL_IN_WRITE, tests only): the
# page is written whole, then the command ends by the signal (128 + 15).
expect 143 "" -- env FATHOM_TEST_SIGNAL_IN_WRITE=1 "$fathom" report "$tmp/ok.jsonl" -o "$tmp/ok_sig.html"
cmp -s "$tmp/ok.html" "$tmp/ok_sig.html" && ok || bad "SIGTERM in the write left a partial or different report"
ls "$tmp" | grep -q 'ok_sig.html.tmp' && bad "SIGTERM in the write left a temporary file" || ok

# --- dead ReLUs ---------------------------------------------------------------
expect 0 "" -- "$fathom" train --data "$lev" $cols --layers 32x6 --act relu --init normal:0.02 --epochs 2 \
    --diagnose 20 --out "$tmp/dead.safetensors"
expect 0 "" -- "$fathom" report "$tmp/dead.jsonl" -o "$tmp/dead.html"
grep -qF "Dead ReLU units: share" "$tmp/dead.html" && ok || bad "no dead-unit heatmap for a ReLU run"
grep -qF "Dead ReLU units (more than 10% off" "$tmp/dead.html" && ok || bad "the diagnosis is not in the report"
check_svgs "$tmp/dead.html" >/dev/null && ok || bad "dead.html has a malformed SVG"

# --- a run that diverges --------------------------------------------------------
expect 5 "diverged" -- "$fathom" train --data "$lev" $cols --layers 32x8 --act tanh --lr 0.5 --momentum 0.9 \
    --epochs 5 --diagnose 5 --out "$tmp/div.safetensors"
expect 0 "" -- "$fathom" report "$tmp/div.jsonl" -o "$tmp/div.html"
grep -qE 'Training diverged</strong> after [0-9]+ optimiser steps' "$tmp/div.html" && ok ||
    bad "the report of a diverged run does not say where it diverged"
grep -qF "training diverged: the loss" "$tmp/div.html" && ok || bad "the divergence message is missing"
grep -qE 'diverged after step [0-9]+</text>' "$tmp/div.html" && ok || bad "the loss chart does not mark the divergence"
check_svgs "$tmp/div.html" >/dev/null && ok || bad "div.html has a malformed SVG"
browse "$tmp/div.html" div

# --- deep (60 layers) and long (more diagnose records than are kept) ------------
expect 0 "" -- "$fathom" train --data "$lev" $cols --layers 16x60 --act relu --epochs 1 --diagnose 4 \
    --out "$tmp/deep.safetensors"
expect 0 "" -- "$fathom" report "$tmp/deep.jsonl" -o "$tmp/deep.html"
grep -qF "24 of 61 layers, evenly spaced" "$tmp/deep.html" && ok || bad "the deep report does not thin its histograms"
check_svgs "$tmp/deep.html" >/dev/null && ok || bad "deep.html has a malformed SVG"
expect 0 "" -- "$fathom" train --data "$lev" $cols --layers 16x3 --act tanh --epochs 20 --batch 32 --diagnose 1 \
    --out "$tmp/long.safetensors"
expect 0 "" -- "$fathom" report "$tmp/long.jsonl" -o "$tmp/long.html"
drawn=$(sed -n 's/.*<th>diagnose records<\/th><td>\([0-9]*\) (\([0-9]*\) drawn).*/\1 \2/p' "$tmp/long.html")
set -- $drawn
[ "${1:-0}" -gt 2048 ] && [ "${2:-99999}" -le 2049 ] && ok || bad "long run: records/drawn '$drawn'"
size=$(wc -c <"$tmp/long.html")
[ "$size" -lt 3000000 ] && ok || bad "the long run's report is $size bytes: not downsampled"
check_svgs "$tmp/long.html" >/dev/null && ok || bad "long.html has a malformed SVG"
# A killed run: no end record and a half-written last line still render.
head -c -200 "$tmp/long.jsonl" >"$tmp/cut.jsonl"
expect 0 "" -- "$fathom" report "$tmp/cut.jsonl" -o "$tmp/cut.html"
grep -qF "No end record" "$tmp/cut.html" && ok || bad "a log without an end record is not flagged"

# --- maps of predictions on a NetCDF grid (fathom report --map) -----------------
levitus=/usr/share/ferret-vis/data/levitus_climatology.cdf
if [ -r "$levitus" ]; then
    ok
    expect 0 "model written to" -- "$fathom" train --data "$levitus#random:0.05:test" --targets TEMP \
        --inputs lat:div:90,lon:sincos,depth:log1p:div:8.517 --layers 64x3 --act silu --optimizer adam --lr 0.003 \
        --batch 128 --epochs 2 --diagnose 20 --quiet --log "$tmp/geo.jsonl" --out "$tmp/geo.safetensors"
    expect 0 "predictions to $tmp/geo.nc" -- "$fathom" predict --model "$tmp/geo.safetensors" --data "$levitus" \
        --out "$tmp/geo.nc"
    expect 0 "report written to $tmp/map.html" -- "$fathom" report "$tmp/geo.jsonl" -o "$tmp/map.html" \
        --map "$tmp/geo.nc" --slice 0
    n=$(check_svgs "$tmp/map.html") && ok || bad "$n"
    [ "$(grep -o 'class="map"' "$tmp/map.html" | wc -l)" = 3 ] && ok || bad "expected 3 maps in map.html"
    for phrase in "Maps: TEMP at depth 0 METERS" "truth of TEMP, depth 0 METERS" "prediction of TEMP, depth 0" \
        "residual (prediction − truth) of TEMP" ">TEMP (DEG C)</text>" ">prediction − truth (DEG C)</text>" \
        ">60°E</text>" ">45°N</text>" "land, no data" "RMSE"; do
        grep -qF "$phrase" "$tmp/map.html" && ok || bad "the map report lacks \"$phrase\""
    done
    # 360 x 180 cells of three maps: well under 2 MB.
    size=$(wc -c <"$tmp/map.html")
    [ "$size" -lt 2000000 ] && ok || bad "the report with maps is $size bytes"
    offline "$tmp/map.html"
    browse "$tmp/map.html" map
    expect 0 "report written" -- "$fathom" report "$tmp/geo.jsonl" -o "$tmp/map19.html" --map "$tmp/geo.nc" --slice 19
    grep -qF "Maps: TEMP at depth 5000 METERS" "$tmp/map19.html" && ok || bad "--slice 19 is not the deepest level"
    # Bad input: no prediction variable, a slice out of range, a bad index; no file left.
    expect 2 "no NAME_prediction variable" -- "$fathom" report "$tmp/geo.jsonl" -o "$tmp/nomap.html" --map "$levitus"
    expect 2 "slice 20 is out of range" -- "$fathom" report "$tmp/geo.jsonl" -o "$tmp/nomap.html" \
        --map "$tmp/geo.nc" --slice 20
    expect 2 "--slice x" -- "$fathom" report "$tmp/geo.jsonl" -o "$tmp/nomap.html" --map "$tmp/geo.nc" --slice x
    expect 2 "need --map" -- "$fathom" report "$tmp/geo.jsonl" -o "$tmp/nomap.html" --slice 1
    expect 3 "cannot open" -- "$fathom" report "$tmp/geo.jsonl" -o "$tmp/nomap.html" --map "$tmp/none.nc"
    [ ! -e "$tmp/nomap.html" ] && ok || bad "a failed report with --map left a file behind"
else
    bad "ferret-datasets is not installed (scripts/install-deps.sh installs it): no maps to test"
fi

# --- errors -------------------------------------------------------------------------
expect 3 "cannot open" -- "$fathom" report "$tmp/missing.jsonl" -o "$tmp/x.html"
printf 'not json\n{"type":"run"}\n' >"$tmp/bad.jsonl"
expect 4 "line 1 is not a JSON object" -- "$fathom" report "$tmp/bad.jsonl" -o "$tmp/x.html"
printf '{"type":"epoch","epoch":1}\n' >"$tmp/norun.jsonl"
expect 4 "before the run record" -- "$fathom" report "$tmp/norun.jsonl" -o "$tmp/x.html"
[ ! -e "$tmp/x.html" ] && ok || bad "a failed report left a file behind"
expect 2 "give the run log" -- "$fathom" report
expect 0 "usage: fathom report" -- "$fathom" report --help

# --- fathom probe --plot: the lecture's picture -----------------------------------------
expect 0 "plot written" -- "$fathom" probe --layers 64x12 --samples 256 --compare sigmoid/normal:1 \
    --compare sigmoid/glorot --compare tanh/lecun --compare relu/he --compare selu/lecun --plot "$tmp/depth.svg"
xmllint --noout "$tmp/depth.svg" && ok || bad "probe --plot wrote malformed XML"
for label in "sigmoid / normal:1" "sigmoid / glorot" "tanh / lecun" "relu / he" "selu / lecun" \
    "Forward: Var[z] against depth" "Backward: Var[dL/dz] against depth"; do
    grep -qF "$label" "$tmp/depth.svg" && ok || bad "the probe plot lacks \"$label\""
done
[ "$(grep -c '^== ' "$tmp/out")" = 5 ] && ok || bad "probe --compare did not print 5 tables"
expect 0 "plot written" -- "$fathom" probe --layers 32x4 --act tanh --init glorot --samples 128 --plot "$tmp/one.svg"
xmllint --noout "$tmp/one.svg" && ok || bad "probe --plot of one configuration wrote malformed XML"
expect 2 "tables only" -- "$fathom" probe --compare tanh --compare relu --format csv
expect 2 "ACT or ACT/INIT" -- "$fathom" probe --compare /glorot
finish
