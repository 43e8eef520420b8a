/*
 * test_admin.c: sections 7-8 of the C API test suite: the counters (sipwire_stats_*) and
 * the control socket (sipwire_control_serve).
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "support.h"
#include "tests.h"

/* ---------------------------------------------------------------------------------------- */
/* 7. Stats                                                                                 */

void test_stats(struct qstate *q) {
    section("7. stats");
    sipwire_stats *s = NULL;
    CHECK_RES(sipwire_stats_new(q->rt, &s), SIPWIRE_RESULT_OK);
    REQUIRE(s != NULL);
    size_t len = sipwire_stats_len(s);
    CHECK(len > 0);
    int saw_messages = 0, saw_refused = 0;
    for (size_t i = 0; i < len; i++) {
        const char *name = NULL;
        uint64_t v = 0;
        CHECK_RES(sipwire_stats_at(s, i, &name, &v), SIPWIRE_RESULT_OK);
        CHECK(name != NULL && strlen(name) > 0);
        if (name == NULL)
            continue;
        uint64_t v2 = UINT64_MAX;
        CHECK_RES(sipwire_stats_get(s, name, &v2), SIPWIRE_RESULT_OK);
        CHECK_EQ(v2, v);
        if (strcmp(name, "messages") == 0)
            saw_messages = 1;
        if (strcmp(name, "ffi_queue_refused") == 0) {
            saw_refused = 1;
            CHECK_EQ(v, 0);
        }
    }
    CHECK(saw_messages && saw_refused);
    uint64_t v = 0;
    CHECK_RES(sipwire_stats_get(s, "messages", &v), SIPWIRE_RESULT_OK);
    CHECK(v >= q->delivered);
    CHECK_EQ(v, q->delivered); /* this runtime got exactly what section 4 sent */
    CHECK_RES(sipwire_stats_get(s, "accepted", &v), SIPWIRE_RESULT_OK);
    CHECK(v >= 1);
    CHECK_RES(sipwire_stats_get(s, "closed_by_peer", &v), SIPWIRE_RESULT_OK);
    CHECK(v >= 1);
    CHECK_RES(sipwire_stats_get(s, "nope", &v), SIPWIRE_RESULT_UNKNOWN_OPTION);
    CHECK_RES(sipwire_stats_at(s, len, NULL, NULL), SIPWIRE_RESULT_INVALID_ARGUMENT);
    CHECK_RES(sipwire_stats_at(s, (size_t)-1, NULL, NULL), SIPWIRE_RESULT_INVALID_ARGUMENT);
    CHECK_RES(sipwire_stats_at(s, 0, NULL, NULL), SIPWIRE_RESULT_OK);
    CHECK_RES(sipwire_stats_at(NULL, 0, NULL, NULL), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_stats_get(NULL, "messages", &v), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_stats_get(s, NULL, &v), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_stats_get(s, "messages", NULL), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_stats_new(NULL, &s), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_stats_new(q->rt, NULL), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_EQ(sipwire_stats_len(NULL), 0);
    sipwire_stats_free(s);
    sipwire_stats_free(NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* 8. Control socket                                                                        */

/* Sends one request line on a new connection to `path` and reads one response line. */
static int ctl_call(const char *path, const char *req, char *resp, size_t cap) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    if (connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
        fprintf(stderr, "    connect %s: %s\n", path, strerror(errno));
        close(fd);
        return 0;
    }
    int ok = send_all(fd, req, strlen(req)) == 0 && send_all(fd, "\n", 1) == 0;
    size_t got = 0;
    long long deadline = now_ms() + g_timeout_ms;
    while (ok && got + 1 < cap && memchr(resp, '\n', got) == NULL) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, remaining(deadline)) <= 0)
            break;
        ssize_t n = read(fd, resp + got, cap - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    resp[got] = 0;
    close(fd);
    return ok && memchr(resp, '\n', got) != NULL;
}

void test_control(struct qstate *q) {
    section("8. control socket");
    char path[108];
    snprintf(path, sizeof path, "/tmp/sipwire-test-%d-ctl.sock", (int)getpid());
    unlink(path);
    sipwire_control *ctl = NULL;
    CHECK_RES(sipwire_control_serve(q->rt, path, &ctl), SIPWIRE_RESULT_OK);
    REQUIRE(ctl != NULL);
    struct stat st;
    CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode));
    /* A second server on a live socket is refused. */
    sipwire_control *ctl2 = NULL;
    CHECK_RES(sipwire_control_serve(q->rt, path, &ctl2), SIPWIRE_RESULT_IO);
    CHECK(ctl2 == NULL);

    char resp[8192];
    CHECK(ctl_call(path, "{\"jsonrpc\":\"2.0\",\"method\":\"core.uptime\",\"id\":1}", resp,
                   sizeof resp));
    CHECK(strstr(resp, "\"result\"") != NULL);
    CHECK(strstr(resp, "\"id\":1") != NULL);
    CHECK(strstr(resp, "\"error\"") == NULL);
    printf("   core.uptime: %s", resp);
    CHECK(ctl_call(path, "{\"jsonrpc\":\"2.0\",\"method\":\"core.tcp_info\",\"id\":2}", resp,
                   sizeof resp));
    char want[64];
    snprintf(want, sizeof want, "tcp:127.0.0.1:%u", q->port);
    CHECK(strstr(resp, want) != NULL);
    /* A cfg change through the socket shows in sipwire_runtime_get_int. */
    CHECK(ctl_call(path,
                   "{\"jsonrpc\":\"2.0\",\"method\":\"cfg.set_now_int\","
                   "\"params\":[\"tcp\",\"connection_lifetime\",321],\"id\":3}",
                   resp, sizeof resp));
    CHECK(strstr(resp, "\"result\"") != NULL);
    int64_t v = 0;
    CHECK_RES(sipwire_runtime_get_int(q->rt, "tcp", "connection_lifetime", &v), SIPWIRE_RESULT_OK);
    CHECK_EQ(v, 321);
    CHECK(ctl_call(path, "{\"jsonrpc\":\"2.0\",\"method\":\"no.such\",\"id\":4}", resp,
                   sizeof resp));
    CHECK(strstr(resp, "\"error\"") != NULL);

    sipwire_control_free(ctl);
    CHECK(stat(path, &st) != 0 && errno == ENOENT);
    sipwire_control_free(NULL);
    CHECK_RES(sipwire_control_serve(NULL, path, &ctl), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_control_serve(q->rt, NULL, &ctl), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_control_serve(q->rt, path, NULL), SIPWIRE_RESULT_NULL_PARAMETER);
    unlink(path);
}
