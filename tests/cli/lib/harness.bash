# Shared by the CLI test scripts (tests/cli/*.sh): argument handling, a scratch
# directory, pass/fail counting and `expect`. Source it with the test's name:
#   . "$(dirname "$0")/lib/harness.bash" NAME "$@"
# It sets fathom (the binary), data (tests/data) and tmp (a fresh scratch dir).
set -u
fathom=$2
data=$3
tmp=$4/$1
rm -rf "$tmp"
mkdir -p "$tmp"
passed=0
failed=0

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

# expect STATUS NEEDLE -- command...: exit status and a phrase on stdout or stderr.
expect() {
    local want=$1 needle=$2
    shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"
    local got=$?
    if [ "$got" -ne "$want" ]; then
        bad "$* exited $got, expected $want; stderr: $(head -c 400 "$tmp/err")"
    elif [ -n "$needle" ] && ! grep -qF -- "$needle" "$tmp/err" "$tmp/out"; then
        bad "$* did not mention \"$needle\"; stderr: $(head -c 400 "$tmp/err")"
    else
        ok
    fi
}

# Print the closing count and exit non-zero on any failure.
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
