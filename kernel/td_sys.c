/* td_sys.c: the system side of td_env_t, Jupyter's user data dir and whole-file reads, shared by
 * tandem-kernel and tandem-relay (library tdsys). Nothing here keeps state. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#include "td_sys.h"

int64_t td__now_us(void *arg)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void td__random(void *arg, uint8_t *out, size_t n)
{
    while (n > 0) {
        ssize_t got = getrandom(out, n, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            abort(); /* no entropy source: ids would collide, which is worse than stopping */
        out += got;
        n -= (size_t)got;
    }
}

int td__jupyter_data_dir(char *out, size_t cap)
{
    const char *d = getenv("JUPYTER_DATA_DIR"), *xdg = getenv("XDG_DATA_HOME"),
               *home = getenv("HOME");
    int n;
    if (d && *d)
        n = snprintf(out, cap, "%s", d);
    else if (xdg && *xdg)
        n = snprintf(out, cap, "%s/jupyter", xdg);
    else if (home && *home)
        n = snprintf(out, cap, "%s/.local/share/jupyter", home);
    else
        return -1;
    return n >= 0 && (size_t)n < cap ? 0 : -1;
}

char *td__read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(max + 1);
    size_t got = buf ? fread(buf, 1, max + 1, f) : 0;
    fclose(f);
    if (!buf || got > max) {
        free(buf);
        return NULL;
    }
    buf[got] = '\0';
    *len = got;
    return buf;
}
