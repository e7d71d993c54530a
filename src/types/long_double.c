/* INCRBYFLOAT and HINCRBYFLOAT in Redis compute in C `long double` and print
 * the result with "%.17Lf". RedRock replies must match byte for byte, so the
 * arithmetic and formatting are done by the same C library routines. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LONG_DOUBLE_CHARS (5 * 1024)

/* Parses like Redis's string2ld: the whole text (an embedded NUL ends
 * nothing), no leading space, no NaN. */
static int parse_long_double(const char *text, size_t len, long double *out) {
    char buf[MAX_LONG_DOUBLE_CHARS];
    char *end;
    long double value;
    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, text, len);
    buf[len] = '\0';
    errno = 0;
    value = strtold(buf, &end);
    if (isspace((unsigned char)buf[0]) || *end != '\0' || (size_t)(end - buf) != len ||
        (errno == ERANGE && (value == HUGE_VALL || value == -HUGE_VALL || fpclassify(value) == FP_ZERO)) ||
        errno == EINVAL || isnan(value))
        return 0;
    *out = value;
    return 1;
}

/* Adds `incr` to `base` (NULL when the key is missing, meaning 0) and writes
 * the result as Redis prints it into `out`. Returns the length written, or
 * -1 when `base` is not a float, -2 when `incr` is not, -3 when the result
 * is NaN or infinite, -4 when it does not fit. */
int redrock_long_double_add(const char *base, size_t base_len, const char *incr,
                            size_t incr_len, char *out, size_t out_len) {
    long double a = 0, b;
    int len;
    char *dot;
    if (base != NULL && !parse_long_double(base, base_len, &a)) return -1;
    if (!parse_long_double(incr, incr_len, &b)) return -2;
    a += b;
    if (isnan(a) || isinf(a)) return -3;
    len = snprintf(out, out_len, "%.17Lf", a);
    if (len < 0 || (size_t)len + 1 > out_len) return -4;
    dot = strchr(out, '.');
    if (dot != NULL) {
        while (out[len - 1] == '0') len--;
        if (out[len - 1] == '.') len--;
    }
    if (len == 2 && out[0] == '-' && out[1] == '0') {
        out[0] = '0';
        len = 1;
    }
    out[len] = '\0';
    return len;
}
