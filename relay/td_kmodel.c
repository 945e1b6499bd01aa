/* td_kmodel.c: kernel and session models and error bodies. The shapes follow jupyter_server 1.23
 * and 2.x, which the gateway client parses strictly (last_activity with "%Y-%m-%dT%H:%M:%S.%fZ",
 * an int connections) and @jupyterlab/services validates (string id and name). */
#include <string.h>

#include "td/td_stamp.h"
#include "td_kmodel.h"

json_t *td_kmodel_kernel(const td_kinfo_t *k)
{
    char date[TD_DATE_LEN + 1];
    td_stamp_date(k->last_activity_us, date);
    json_t *m = json_pack("{s:s, s:s, s:s, s:s, s:i}", "id", k->id, "name", k->name,
                          "last_activity", date, "execution_state",
                          k->execution_state ? k->execution_state : "starting", "connections",
                          k->connections);
    if (m && k->reason)
        json_object_set_new(m, "reason", json_string(k->reason));
    return m;
}

json_t *td_kmodel_session(const char *id, const char *path, const char *name, const char *type,
                          json_t *kernel_new)
{
    json_t *m = json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", id, "path", path, "name", name,
                          "type", type, "kernel", kernel_new ? kernel_new : json_null());
    if (m && strcmp(type, "notebook") == 0)
        json_object_set_new(m, "notebook", json_pack("{s:s, s:s}", "path", path, "name", name));
    return m;
}

char *td_kmodel_error(const char *message, const char *reason)
{
    json_t *m = json_pack("{s:s, s:o}", "message", message ? message : "",
                          "reason", reason ? json_string(reason) : json_null());
    char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
    json_decref(m);
    return text;
}

int td_kmodel_tracked(const char *t)
{
    static const char *const untracked[] = {"kernel_info_request", "comm_info_request",
                                            "shutdown_request", "interrupt_request",
                                            "debug_request", "usage_request"};
    if (!t || !*t)
        return 0;
    for (size_t i = 0; i < sizeof untracked / sizeof untracked[0]; i++)
        if (strcmp(t, untracked[i]) == 0)
            return 0;
    return 1;
}
