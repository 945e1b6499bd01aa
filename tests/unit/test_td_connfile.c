/* test_td_connfile.c: jupyter_client's connection file, string ports, unknown keys, ipc endpoints,
 * a round trip, and rejected files. */
#include "td/td_connfile.h"
#include "test.h"

void test_td_connfile(void)
{
    const char *text =
        "{\"shell_port\": 46681, \"iopub_port\": 46721, \"stdin_port\": \"43139\","
        " \"control_port\": 43899, \"hb_port\": 45843, \"ip\": \"127.0.0.1\","
        " \"key\": \"49d48206-f7f411c0a3af923a6269f24c\", \"transport\": \"tcp\","
        " \"signature_scheme\": \"hmac-sha256\", \"kernel_name\": \"tandem-lua\","
        " \"curve_publickey\": \"ignored\"}";
    td_connfile_t cf;
    td_error_t err = {0};
    TD_ASSERT_OK(td_connfile_decode(text, strlen(text), &cf, &err));
    TD_ASSERT_EQ(cf.port[TD_CH_SHELL], 46681);
    TD_ASSERT_EQ(cf.port[TD_CH_STDIN], 43139);
    TD_ASSERT_EQ(cf.port[TD_CH_HB], 45843);
    TD_ASSERT_STR_EQ(cf.key, "49d48206-f7f411c0a3af923a6269f24c");
    TD_ASSERT_STR_EQ(cf.kernel_name, "tandem-lua");
    char ep[128];
    TD_ASSERT_OK(td_connfile_endpoint(&cf, TD_CH_CONTROL, ep, sizeof ep));
    TD_ASSERT_STR_EQ(ep, "tcp://127.0.0.1:43899");
    TD_ASSERT_EQ(td_connfile_endpoint(&cf, TD_CH_CONTROL, ep, 8), TD_E2BIG);

    char *out = td_connfile_encode(&cf);
    td_connfile_t again;
    TD_ASSERT_OK(td_connfile_decode(out, strlen(out), &again, NULL));
    TD_ASSERT_EQ(again.port[TD_CH_IOPUB], 46721);
    TD_ASSERT_STR_EQ(again.key, cf.key);
    TD_ASSERT_STR_EQ(again.signature_scheme, "hmac-sha256");
    free(out);
    td_connfile_fini(&again);
    td_connfile_fini(&cf);

    const char *ipc = "{\"transport\":\"ipc\",\"ip\":\"/tmp/k\",\"shell_port\":1,\"iopub_port\":2,"
                      "\"stdin_port\":3,\"control_port\":4,\"hb_port\":5,\"key\":\"\"}";
    TD_ASSERT_OK(td_connfile_decode(ipc, strlen(ipc), &cf, NULL));
    TD_ASSERT_OK(td_connfile_endpoint(&cf, TD_CH_HB, ep, sizeof ep));
    TD_ASSERT_STR_EQ(ep, "ipc:///tmp/k-5");
    TD_ASSERT_STR_EQ(cf.key, "");
    td_connfile_fini(&cf);

    const char *bad[] = {
        "[1,2]",
        "{\"shell_port\": 70000, \"iopub_port\": 1, \"stdin_port\": 1, \"control_port\": 1, \"hb_port\": 1}",
        "{\"shell_port\": \"12x\", \"iopub_port\": 1, \"stdin_port\": 1, \"control_port\": 1, \"hb_port\": 1}",
        "{\"iopub_port\": 1, \"stdin_port\": 1, \"control_port\": 1, \"hb_port\": 1}",
        "{\"transport\": \"udp\", \"shell_port\": 1, \"iopub_port\": 1, \"stdin_port\": 1, "
        "\"control_port\": 1, \"hb_port\": 1}",
        "{\"shell_port\": 1, \"iopub_port\": 1, \"stdin_port\": 1, \"control_port\": 1, "
        "\"hb_port\": 1, \"key\": 5}",
        "{not json",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        TD_ASSERT_EQ(td_connfile_decode(bad[i], strlen(bad[i]), &cf, &err), TD_EPROTO);
        TD_ASSERT(err.text[0] != '\0');
        TD_ASSERT(cf.key == NULL);
    }
}
