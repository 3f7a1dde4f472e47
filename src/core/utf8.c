/* UTF-8 validation: model files (safetensors headers are JSON, which must
 * be UTF-8) and CSV headers (a binary file read as CSV shows here first). */
#include "core/internal.h"

#include <stdint.h>
#include <string.h>

size_t fm_utf8_invalid_at(const unsigned char *s, size_t size)
{
    size_t i = 0;
    while (i < size) {
        unsigned c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            len = 2, cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3, cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4, cp = c & 0x07;
        } else {
            return i;
        }
        if (size - i < len)
            return i;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += len;
    }
    return size;
}

int fm_utf8_valid(const char *s) { return fm_utf8_invalid_at((const unsigned char *)s, strlen(s)) == strlen(s); }
