/* model_diff A B TOL: the largest difference between the parameters of two
 * model (or checkpoint) files, absolute and relative to the largest parameter
 * magnitude of A; exits 0 when the relative difference is at most TOL (TOL 0:
 * the parameters must be bit-identical), 1 otherwise, 2 on a load error.
 * The MPI tests compare a K-process run with a one-process run through it. */
#include "fathom.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: model_diff A.safetensors B.safetensors TOL\n");
        return 2;
    }
    fm_error err = {FM_OK, ""};
    fm_model *a = NULL, *b = NULL;
    if (fm_model_load(argv[1], &a, &err) != FM_OK || fm_model_load(argv[2], &b, &err) != FM_OK) {
        fprintf(stderr, "model_diff: %s\n", err.message);
        fm_model_free(a);
        return 2;
    }
    double tol = atof(argv[3]);
    size_t n = fm_net_n_params(a->net);
    int status = 0;
    if (n != fm_net_n_params(b->net)) {
        fprintf(stderr, "model_diff: %zu parameters against %zu\n", n, fm_net_n_params(b->net));
        status = 1;
    } else {
        const float *pa = fm_net_params(a->net), *pb = fm_net_params(b->net);
        double max_diff = 0.0, max_abs = 0.0;
        size_t differing = 0;
        for (size_t i = 0; i < n; i++) {
            double d = fabs((double)pa[i] - pb[i]);
            if (!(d <= max_diff))
                max_diff = d; /* NaN too */
            differing += memcmp(&pa[i], &pb[i], sizeof pa[i]) != 0;
            if (fabs(pa[i]) > max_abs)
                max_abs = fabs(pa[i]);
        }
        double rel = max_abs > 0 ? max_diff / max_abs : max_diff;
        printf("%zu parameters, %zu differ; max |a - b| %.3g, relative to max |a| %.3g\n", n, differing, max_diff,
               rel);
        if (tol == 0.0 ? differing != 0 : !(rel <= tol))
            status = 1;
    }
    fm_model_free(a);
    fm_model_free(b);
    return status;
}
