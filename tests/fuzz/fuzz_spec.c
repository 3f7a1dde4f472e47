/* The network and option specification parsers: activations, initialisers,
 * losses and the CLI's layer widths (cli/common.c is compiled in). Whatever
 * parses must format to a text that parses to the same thing. */
#include "../../cli/cli.h"
#include "fathom.h"
#include "fuzz_support.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    fm_error err;
    char buf[256];

    fm_activation act, act2;
    if (fm_activation_parse(text, &act, &err) == FM_OK) {
        fm_activation_format(&act, buf, sizeof buf);
        if (fm_activation_parse(buf, &act2, &err) != FM_OK || act2.kind != act.kind)
            abort();
        (void)fm_act_max_derivative(&act);
    }
    fm_init init, init2;
    if (fm_init_parse(text, &init, &err) == FM_OK) {
        fm_init_format(&init, buf, sizeof buf);
        if (fm_init_parse(buf, &init2, &err) != FM_OK || init2.kind != init.kind)
            abort();
    }
    fm_loss loss, loss2;
    if (fm_loss_parse(text, &loss, &err) == FM_OK) {
        fm_loss_format(&loss, buf, sizeof buf);
        if (fm_loss_parse(buf, &loss2, &err) != FM_OK || loss2.kind != loss.kind)
            abort();
    }
    int widths[64];
    int n = cli_parse_widths(text, widths, 64);
    if (n > 64)
        abort();
    for (int i = 0; i < n; i++)
        if (widths[i] <= 0 || widths[i] > FM_MAX_WIDTH)
            abort();
    long value;
    (void)cli_parse_int(text, -5, 5, &value);
    double number;
    (void)cli_parse_double(text, 0.0, 1.0, &number);
    unsigned long long seed;
    (void)cli_parse_seed(text, &seed);
    int layer;
    const char *spec;
    (void)cli_parse_override(text, &layer, &spec);
    free(text);
    return 0;
}
