/* Numbers as text that reads back exactly, without the noise digits of %.17g. */
#include "core/internal.h"

#include <stdio.h>
#include <stdlib.h>

void fm_format_double(char *buf, size_t size, double x)
{
    /* 17 significant digits always read back exactly (DBL_DECIMAL_DIG); fewer
     * often do, and then print as a person would write the number (0.2, not
     * 0.20000000000000001). %.17g is the fallback, also for NaN. */
    char text[40];
    for (int digits = 15; digits < 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, x);
        if (strtod(text, NULL) == x) {
            snprintf(buf, size, "%s", text);
            return;
        }
    }
    snprintf(buf, size, "%.17g", x);
}
