/* td_sys.h: the effects both executables need in the same form, so the kernel and the relay share
 * one copy: the system clock and randomness behind td_env_t, Jupyter's user data dir, and reading
 * a small file whole. Not for protocol/, which must stay pure. */
#ifndef TD_SYS_H
#define TD_SYS_H

#include <stddef.h>
#include <stdint.h>

/* Microseconds since the Unix epoch (CLOCK_REALTIME); a td_env_t now_us, arg unused. */
int64_t td__now_us(void *arg);

/* Fills out[0..n) from getrandom(2), aborting when there is no entropy source (ids and keys made
 * without it would collide); a td_env_t random, arg unused. */
void td__random(void *arg, uint8_t *out, size_t n);

/* Writes Jupyter's user data dir into out (cap bytes) as jupyter_core computes it on Linux:
 * $JUPYTER_DATA_DIR, else $XDG_DATA_HOME/jupyter, else $HOME/.local/share/jupyter. Returns 0, or
 * -1 when none of them is set or the path does not fit. */
int td__jupyter_data_dir(char *out, size_t cap);

/* Reads a whole file of at most max bytes, NUL-terminated. Returns a malloc'd buffer (caller
 * frees) and its length in *len, or NULL when it cannot be read or is larger than max. */
char *td__read_file(const char *path, size_t max, size_t *len);

#endif
