#!/usr/bin/env bash
# fathom demo --quick: both parts are there, Part 1 has a verdict for each of
# the 16 activation/initialiser combinations (selu with lecun healthy, the
# naive normal:1 never), Part 2 reports three test accuracies and the
# self-normalising network beats the saturated sigmoid one by far; a missing
# data set gives exit status 3 and how to install it.
# Usage: cli_demo.sh FATHOM_BINARY TEST_DATA_DIR SCRATCH_DIR
. "$(dirname "$0")/lib/harness.bash" cli_demo "$@"

expect 0 "Part 1" -- "$fathom" demo --quick
cp "$tmp/out" "$tmp/demo.out"
out=$tmp/demo.out
grep -q "^Part 2 - training on Fashion-MNIST" "$out" && ok || bad "Part 2 missing"
grep -q "^Part 1 - signal propagation at initialisation" "$out" && ok || bad "Part 1 heading missing"

# Part 1: 16 rows, each ending in a verdict; the activation is named on the
# first row of its block.
verdicts='(explodes|saturates|dies|vanishes|healthy)$'
[ "$(grep -cE " $verdicts" "$out")" -eq 16 ] && ok || bad "expected 16 combinations with a verdict"
awk -v re=" $verdicts" '
    $0 ~ re && /^[a-z]/ { act = $1; init = $2 }
    $0 ~ re && /^ / { init = $1 }
    $0 ~ re { n[act]++; v[act "/" init] = $NF }
    END {
        for (a in n) if (n[a] != 4) exit 1
        if (!("sigmoid" in n) || !("tanh" in n) || !("relu" in n) || !("selu" in n)) exit 1
        if (v["selu/lecun"] != "healthy" || v["relu/he"] != "healthy") exit 1
        if (v["sigmoid/normal:1"] != "saturates" || v["tanh/normal:1"] != "saturates") exit 1
        if (v["relu/normal:1"] != "explodes" || v["selu/normal:1"] != "explodes") exit 1
    }' "$out" && ok \
    || bad "Part 1 verdicts not as theory predicts: $(grep -E " $verdicts" "$out" | awk '{ print $NF }' | tr '\n' ' ')"
# The recommended (auto) initialisers are marked: one per activation.
[ "$(grep -E " $verdicts" "$out" | grep -c ' \* ')" -eq 4 ] && ok || bad "expected four combinations marked *"
grep -q "^verdict, the first rule that applies" "$out" && ok || bad "the verdict rules are not explained"

# Part 2: three trainings with test accuracies, each with a diagnosis.
[ "$(grep -c "test accuracy 0\.[0-9]*" "$out")" -eq 3 ] && ok || bad "expected three test accuracies"
[ "$(grep -c "diagnosis from the statistics" "$out")" -eq 3 ] && ok || bad "expected three diagnoses"
acc=$(sed -n 's/^ *test accuracy \(0\.[0-9]*\),.*/\1/p' "$out" | tr '\n' ' ')
awk -v a="$acc" 'BEGIN { n = split(a, v, " ")
                         exit !(n == 3 && v[3] > 0.6 && v[3] > v[1] + 0.25 && v[3] > v[2] + 0.25) }' \
    && ok || bad "selu/lecun does not beat the others by a wide margin: $acc"
grep -A4 "^(a) sigmoid" "$out" | grep -q "Saturated layers" && ok || bad "the sigmoid run is not diagnosed as saturated"
grep -A4 "^(c) selu" "$out" | grep -q "No dead or saturated layers" && ok || bad "the selu run is not diagnosed healthy"
grep -q "^Summary" "$out" && ok || bad "no summary"

# Options and errors.
expect 0 "--quick" -- "$fathom" demo --help
expect 0 "demo" -- "$fathom" --help
expect 2 "unknown option" -- "$fathom" demo --bogus
expect 2 "--seed" -- "$fathom" demo --seed -3
expect 2 "--threads" -- "$fathom" demo --threads 0
expect 3 "apt-get install dataset-fashion-mnist" -- "$fathom" demo --quick --data-dir "$tmp/no-such-dir"
[ -s "$tmp/out" ] && bad "the demo printed output before failing on missing data" || ok

finish
