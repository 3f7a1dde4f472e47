# Shared by the MPI test scripts (tests/mpi/*.sh): arguments, a scratch
# directory, pass/fail counting, `expect` and `run_mpi`. Source it with the
# test's name:
#   . "$(dirname "$0")/lib/harness.bash" NAME "$@"
# Arguments: FATHOM MODEL_DIFF MPIRUN TEST_DATA_DIR SCRATCH_DIR.
set -u
fathom=$1
model_diff=$2
mpirun=$3
data=$4
NAME=${NAME:?}
tmp=$5/$NAME
rm -rf "$tmp"
mkdir -p "$tmp"
passed=0
failed=0

# OpenMPI refuses to run as root unless told, and by default wants a core per
# process: a test machine with 2 cores runs 2 or 3 processes anyway.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Shared memory and loopback only: no network probing on a test machine.
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
# ASan builds: OpenMPI keeps memory until exit in its plugins. For
# LeakSanitizer to see whose it is (lsan.supp, set by CTest, suppresses
# OpenMPI's and keeps checking fathom's), the plugins stay loaded and leaks are
# traced through full stacks rather than frame pointers.
export OMPI_MCA_mca_base_component_disable_dlclose=1
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0
export OPENBLAS_NUM_THREADS=1

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

# run_mpi K args...: fathom under mpirun with K processes; never waits more
# than two minutes, so that a hang fails the test instead of stalling it.
run_mpi() {
    local k=$1
    shift
    timeout 120 "$mpirun" --oversubscribe -np "$k" "$fathom" "$@"
}

# run_mpi_via K WRAPPER args...: the same, each process started through
# WRAPPER (a script that runs "$@" after setting up that process's scene).
run_mpi_via() {
    local k=$1 wrapper=$2
    shift 2
    timeout 120 "$mpirun" --oversubscribe -np "$k" "$wrapper" "$fathom" "$@"
}

# expect STATUS NEEDLE -- command...: exit status (any non-zero for "nonzero")
# and a phrase on stdout or stderr.
expect() {
    local want=$1 needle=$2
    shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"
    local got=$?
    if { [ "$want" = nonzero ] && { [ "$got" -eq 0 ] || [ "$got" -eq 124 ]; }; } ||
        { [ "$want" != nonzero ] && [ "$got" -ne "$want" ]; }; then
        bad "$* exited $got, expected $want; stderr: $(head -c 600 "$tmp/err")"
    elif [ -n "$needle" ] && ! grep -qF -- "$needle" "$tmp/err" "$tmp/out"; then
        bad "$* did not mention \"$needle\"; stderr: $(head -c 600 "$tmp/err")"
    else
        ok
    fi
}

# same A B TOL WHAT: the parameters of two model files agree within TOL
# (relative to the largest weight; 0: bit for bit).
same() {
    local line
    if line=$("$model_diff" "$1" "$2" "$3" 2>&1); then
        ok
        echo "$4: $line"
    else
        bad "$4: $line (tolerance $3)"
    fi
}

finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
