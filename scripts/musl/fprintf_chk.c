/*
 * Debian's LLVM libunwind.a (libunwind-14-dev), which gives a -Zbuild-std musl build its
 * unwinder, was compiled against glibc with _FORTIFY_SOURCE and so calls glibc's
 * __fprintf_chk for its diagnostics; musl has no such function. This forwards it.
 * scripts/dist links it into the static binary only on that route.
 */
#include <stdarg.h>
#include <stdio.h>

int __fprintf_chk(FILE *stream, int flag, const char *format, ...)
{
    va_list ap;
    int n;

    (void)flag;
    va_start(ap, format);
    n = vfprintf(stream, format, ap);
    va_end(ap);
    return n;
}
