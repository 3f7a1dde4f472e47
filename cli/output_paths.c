/* Output paths checked before a command does any work: an output that is
 * also an input would destroy it, two outputs on one file would leave only
 * the last, and an output that cannot be written should stop a training run
 * before it starts, not after it has finished. */
#define _POSIX_C_SOURCE 200809L /* realpath, stat, access */

#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The directory part of path ("." when it has none), into buf. */
static void directory_of(const char *path, char *buf, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(buf, size, ".");
        return;
    }
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= size)
        n = size - 1;
    memcpy(buf, path, n);
    buf[n] = '\0';
}

/* A name for the file path denotes, the same for every spelling of it: the
 * resolved directory and the last component. Empty when the directory does
 * not resolve. */
static void canonical_name(const char *path, char *buf, size_t size)
{
    char dir[PATH_MAX], resolved[PATH_MAX];
    directory_of(path, dir, sizeof dir);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!realpath(dir, resolved)) {
        buf[0] = '\0';
        return;
    }
    snprintf(buf, size, "%s/%s", strcmp(resolved, "/") == 0 ? "" : resolved, base);
}

/* 1 when a and b are the same file: the same device and inode when both
 * exist (hard links, symbolic links and other spellings included), else the
 * same canonical name. */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    char ca[PATH_MAX + 1], cb[PATH_MAX + 1];
    canonical_name(a, ca, sizeof ca);
    canonical_name(b, cb, sizeof cb);
    return ca[0] != '\0' && strcmp(ca, cb) == 0;
}

/* The output can be created or replaced (fm_output_check: a regular file or
 * none, a non-empty name; and not a directory), in a directory that exists
 * and is writable. */
static fm_status check_writable(const cli_path *out, fm_error *err)
{
    fm_error why = {FM_OK, ""};
    fm_status st = fm_output_check(out->path, &why);
    if (st != FM_OK)
        return fm_error_set(err, st, "%s: %s", out->option, why.message);
    struct stat info;
    if (stat(out->path, &info) == 0 && S_ISDIR(info.st_mode))
        return fm_error_set(err, FM_ERR_ARG, "%s %s is a directory; give a file name", out->option, out->path);
    char dir[PATH_MAX];
    directory_of(out->path, dir, sizeof dir);
    if (stat(dir, &info) != 0)
        return fm_error_set(err, FM_ERR_IO, "cannot write %s %s: directory %s: %s", out->option, out->path, dir,
                            strerror(errno));
    if (!S_ISDIR(info.st_mode))
        return fm_error_set(err, FM_ERR_IO, "cannot write %s %s: %s is not a directory", out->option, out->path,
                            dir);
    if (access(dir, W_OK) != 0)
        return fm_error_set(err, FM_ERR_IO, "cannot write %s %s: directory %s: %s", out->option, out->path, dir,
                            strerror(errno));
    return FM_OK;
}

/* While a command writes, SIGINT, SIGTERM and SIGHUP are only noted; a mask
 * would not do, since OpenBLAS's threads, which do not block them, would
 * take the signal and end the process. */
static volatile sig_atomic_t held_signal;
static struct sigaction actions_before_hold[3];
static const int HELD[3] = {SIGINT, SIGTERM, SIGHUP};

static void note_signal(int sig) { held_signal = sig; }

void cli_hold_signals(void)
{
    struct sigaction note;
    memset(&note, 0, sizeof note);
    note.sa_handler = note_signal;
    sigemptyset(&note.sa_mask);
    held_signal = 0;
    for (int i = 0; i < 3; i++)
        sigaction(HELD[i], &note, &actions_before_hold[i]);
    /* Tests only: a SIGTERM that arrives as the write begins, every time, so
     * that what a signal during a write does is tested without racing a
     * timer (tests/cli/cli_geo.sh, cli_lr_find.sh, report_browser.sh). */
    const char *test_signal = getenv("FATHOM_TEST_SIGNAL_IN_WRITE");
    if (test_signal && !strcmp(test_signal, "1"))
        raise(SIGTERM);
}

void cli_release_signals(void)
{
    for (int i = 0; i < 3; i++)
        sigaction(HELD[i], &actions_before_hold[i], NULL);
    if (held_signal)
        raise(held_signal); /* with the action the command had before: by default, the end of it */
}

fm_status cli_check_paths(const cli_path *outputs, int n_outputs, const cli_path *inputs, int n_inputs,
                          fm_error *err)
{
    for (int o = 0; o < n_outputs; o++) {
        const cli_path *out = &outputs[o];
        if (!out->path)
            continue;
        fm_status st = check_writable(out, err);
        if (st != FM_OK)
            return st;
        for (int i = 0; i < n_inputs; i++) {
            if (!inputs[i].path)
                continue;
            char *file = cli_data_file(inputs[i].path); /* a data path may carry "#SPLIT:part" */
            if (!file)
                return fm_error_set(err, FM_ERR_NOMEM, "out of memory");
            int same = same_file(out->path, file);
            free(file);
            if (same)
                return fm_error_set(err, FM_ERR_ARG, "%s %s is the same file as %s: it would be overwritten",
                                    out->option, out->path, inputs[i].option);
        }
        for (int p = 0; p < o; p++)
            if (outputs[p].path && same_file(out->path, outputs[p].path))
                return fm_error_set(err, FM_ERR_ARG, "%s and %s name the same file %s: give each its own",
                                    outputs[p].option, out->option, out->path);
    }
    return FM_OK;
}
