/* td_interp.c: helpers shared by every language backend. */
#include <stdlib.h>
#include <string.h>

#include "td_interp.h"

void td_exec_result_fini(td_exec_result_t *r)
{
    json_decref(r->data);
    json_decref(r->metadata);
    json_decref(r->traceback);
    free(r->ename);
    free(r->evalue);
    memset(r, 0, sizeof *r);
}
