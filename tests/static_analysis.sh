#!/usr/bin/env bash
# Static analysis of the library and the CLI (CTest test static_analysis):
#   cppcheck    with the flags below;
#   clang-tidy  with the committed .clang-tidy, over src/*/*.c and cli/*.c, using
#               the compile database of the build directory (2 jobs).
# Fails, printing the findings, if either reports anything that is not listed
# in tests/static_analysis_pending.txt (known findings waiting for a fix, one
# "file:line: check" a line, '#' comments). A missing tool is a failure, never a
# skip: the message names the Debian package to install.
#
# usage: tests/static_analysis.sh SOURCE_DIR BUILD_DIR
set -uo pipefail

src=$(cd "${1:?usage: static_analysis.sh SOURCE_DIR BUILD_DIR}" && pwd)
build=$(cd "${2:?usage: static_analysis.sh SOURCE_DIR BUILD_DIR}" && pwd)
jobs=2

missing=0
for tool in cppcheck clang-tidy; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "static_analysis: $tool is not installed: install the Debian package '$tool'" \
             "(apt-get install $tool, or scripts/install-deps.sh)" >&2
        missing=1
    fi
done
[ "$missing" -eq 0 ] || exit 1
if [ ! -f "$build/compile_commands.json" ]; then
    echo "static_analysis: $build/compile_commands.json is missing (CMAKE_EXPORT_COMPILE_COMMANDS must be ON)" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$src" || exit 1
# clang-tidy needs each file's compile command. Only the sources a build may
# leave out (the MPI collective, in a build without MPI) are analysed where
# they are built; any other source without one is an error, not a skip.
optional=(src/dist/mpi_collective.c)
sources=()
for f in src/*/*.c cli/*.c; do
    if grep -qF "/$f\"" "$build/compile_commands.json"; then
        sources+=("$f")
    elif [[ " ${optional[*]} " != *" $f "* ]]; then
        echo "static_analysis: $f has no compile command in $build/compile_commands.json" >&2
        exit 1
    fi
done
failed=0

# cppcheck: must be clean (no pending list).
if ! cppcheck --quiet --enable=warning,performance,portability --std=c11 -D__GNUC__ -Iinclude -Isrc -Icli \
        --suppress=missingIncludeSystem --inline-suppr --error-exitcode=1 -j "$jobs" src cli \
        >"$tmp/cppcheck.txt" 2>&1; then
    echo "static_analysis: cppcheck reports:" >&2
    cat "$tmp/cppcheck.txt" >&2
    failed=1
fi

# clang-tidy: one process per file, $jobs at a time.
printf '%s\n' "${sources[@]}" | xargs -P "$jobs" -n 1 clang-tidy -p "$build" --quiet >"$tmp/tidy.txt" 2>&1
tidy_rc=$?

# Findings as "file:line: check", relative to the source directory, deduplicated
# (a header's finding comes once per source file that includes it).
sed -n -E 's#^([^ :]+):([0-9]+):[0-9]+: (warning|error): .*\[([^],]+)(,[^]]*)?\]$#\1:\2: \4#p' "$tmp/tidy.txt" |
    sed "s#^$src/##" | sort -u >"$tmp/findings.txt"
pending="$src/tests/static_analysis_pending.txt"
if [ -f "$pending" ]; then
    sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$pending" | sort -u >"$tmp/pending.txt"
else
    : >"$tmp/pending.txt"
fi
comm -23 "$tmp/findings.txt" "$tmp/pending.txt" >"$tmp/new.txt"
comm -13 "$tmp/findings.txt" "$tmp/pending.txt" >"$tmp/stale.txt"

if [ -s "$tmp/new.txt" ]; then
    echo "static_analysis: clang-tidy reports $(wc -l <"$tmp/new.txt") finding(s) not in tests/static_analysis_pending.txt:" >&2
    cat "$tmp/new.txt" >&2
    echo "--- clang-tidy output (findings in the pending list included) ---" >&2
    grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$' "$tmp/tidy.txt" >&2
    failed=1
elif [ "$tidy_rc" -ne 0 ] && [ ! -s "$tmp/findings.txt" ]; then
    # Failed without a finding: a crash, a missing compile command, ...
    echo "static_analysis: clang-tidy failed (exit status $tidy_rc) without a finding:" >&2
    cat "$tmp/tidy.txt" >&2
    failed=1
fi
if [ -s "$tmp/stale.txt" ]; then
    echo "static_analysis: no longer reported, remove from tests/static_analysis_pending.txt:" >&2
    cat "$tmp/stale.txt" >&2
fi
n_pending=$(comm -12 "$tmp/findings.txt" "$tmp/pending.txt" | wc -l)
if [ "$failed" -eq 0 ]; then
    echo "static_analysis: cppcheck and clang-tidy clean over ${#sources[@]} files ($n_pending pending finding(s) listed)"
fi
exit "$failed"
