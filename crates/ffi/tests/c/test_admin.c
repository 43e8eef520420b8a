/*
 * test_admin.c: sections 7, 8 and 11 of the C API test suite: the counters (sipwire_stats_*),
 * the control socket (sipwire_control_serve) and the PROXY-announced source in connection info.
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
    CHECK(ctl_call(path, "{\"jsonrpc\":\"2.0\",\"method\":\"sipwire.info\",\"id\":2}", resp,
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

/* ---------------------------------------------------------------------------------------- */
/* 11. The PROXY-announced addresses and v2 TLVs, in messages, sipwire_conn_get_info and  */
/*     sipwire_conn_proxy_*                                                                 */

void test_proxy(void) {
    section("11. PROXY source, destination and TLVs");
    sipwire_config *cfg = make_config();
    REQUIRE(cfg != NULL);
    CHECK_RES(sipwire_config_set(cfg, "tcp_accept_haproxy", "1"), SIPWIRE_RESULT_OK);
    sipwire_runtime *rt = NULL;
    CHECK_RES(sipwire_runtime_new(cfg, NULL, &rt), SIPWIRE_RESULT_OK);
    sipwire_config_free(cfg);
    REQUIRE(rt != NULL);
    sipwire_addr la[1];
    size_t n = 0;
    CHECK_RES(sipwire_runtime_listen_addrs(rt, la, 1, &n), SIPWIRE_RESULT_OK);
    int c = tcp_connect_local(la[0].port);
    CHECK(c >= 0);
    if (c >= 0) {
        char msg[1024];
        const char *proxy = "PROXY TCP4 192.0.2.7 127.0.0.1 40001 5060\r\n";
        size_t plen = strlen(proxy);
        memcpy(msg, proxy, plen);
        size_t len = plen + build_options(msg + plen, sizeof msg - plen, "proxy-1", 1, NULL);
        CHECK_EQ(send_all(c, msg, len), 0);
        sipwire_item *it = next_item(rt);
        const sipwire_message *m = sipwire_item_message(it);
        CHECK(m != NULL);
        struct sockaddr_in announced = loopback(40001);
        announced.sin_addr.s_addr = htonl(0xC0000207u); /* 192.0.2.7 */
        sipwire_addr want_src = addr_of(&announced);
        struct sockaddr_in dst = loopback(5060);
        sipwire_addr want_dst = addr_of(&dst);
        sipwire_addr client = sock_name(c);
        if (m != NULL) {
            CHECK(addr_eq(&m->source, &want_src));
            CHECK(addr_eq(&m->peer, &client));
            /* The header's destination is the local address; bound stays the listener. */
            CHECK(addr_eq(&m->local, &want_dst));
            CHECK(addr_eq(&m->bound, &la[0]));
            CHECK_EQ(m->len, len - plen); /* the PROXY line is not part of the message */
            /* A v1 header has no TLVs. */
            uint8_t v[16];
            size_t vn = 99;
            CHECK_RES(sipwire_conn_proxy_tlv(rt, m->conid, SIPWIRE_PP2_TYPE_ALPN, v, sizeof v, &vn),
                      SIPWIRE_RESULT_EMPTY);
            CHECK_EQ(vn, 99);
            sipwire_conn_info info;
            CHECK_RES(sipwire_conn_get_info(rt, m->conid, &info), SIPWIRE_RESULT_OK);
            CHECK_EQ(info.has_proxy, 1);
            CHECK(addr_eq(&info.proxy_source, &want_src));
            CHECK(addr_eq(&info.proxy_destination, &want_dst));
            CHECK(addr_eq(&info.source, &want_src));
            CHECK(addr_eq(&info.peer, &client));
            CHECK_EQ(info.outbound, 0);
        }
        sipwire_item_free(it);
        close(c);
    }
    /* A v2 header (TCP over IPv4, 192.0.2.8:40002 -> 198.51.100.1:5061) with an ALPN TLV and
     * an SSL TLV (client connected over TLS, verify 0, version sub-TLV). */
    c = tcp_connect_local(la[0].port);
    CHECK(c >= 0);
    if (c >= 0) {
        static const uint8_t v2[] = {
            0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, /* signature */
            0x21, 0x11, 0x00, 12 + 6 + 18,                                         /* PROXY, TCP4 */
            192, 0, 2, 8, 198, 51, 100, 1, 0x9C, 0x42, 0x13, 0xC5,                 /* addresses */
            SIPWIRE_PP2_TYPE_ALPN, 0, 3, 's', 'i', 'p',                            /* ALPN "sip" */
            SIPWIRE_PP2_TYPE_SSL, 0, 15, SIPWIRE_PP2_CLIENT_SSL, 0, 0, 0, 0,        /* SSL */
            SIPWIRE_PP2_SUBTYPE_SSL_VERSION, 0, 7, 'T', 'L', 'S', 'v', '1', '.', '3',
        };
        char msg[1024];
        memcpy(msg, v2, sizeof v2);
        size_t len = sizeof v2 + build_options(msg + sizeof v2, sizeof msg - sizeof v2, "proxy-2", 1, NULL);
        CHECK_EQ(send_all(c, msg, len), 0);
        sipwire_item *it = next_item(rt);
        while (it != NULL && sipwire_item_message(it) == NULL) { /* the first one's close */
            sipwire_item_free(it);
            it = next_item(rt);
        }
        const sipwire_message *m = sipwire_item_message(it);
        CHECK(m != NULL);
        if (m != NULL) {
            struct sockaddr_in dst = loopback(5061);
            dst.sin_addr.s_addr = htonl(0xC6336401u); /* 198.51.100.1 */
            sipwire_addr want_dst = addr_of(&dst);
            CHECK(addr_eq(&m->local, &want_dst));
            CHECK(addr_eq(&m->bound, &la[0]));
            CHECK_EQ(m->source.port, 40002);
            uint8_t v[8];
            size_t vn = 0;
            CHECK_RES(sipwire_conn_proxy_tlv(rt, m->conid, SIPWIRE_PP2_TYPE_ALPN, v, sizeof v, &vn),
                      SIPWIRE_RESULT_OK);
            CHECK(vn == 3 && memcmp(v, "sip", 3) == 0);
            sipwire_proxy_ssl ssl;
            CHECK_RES(sipwire_conn_proxy_ssl(rt, m->conid, &ssl), SIPWIRE_RESULT_OK);
            CHECK_EQ(ssl.client_tls, 1);
            CHECK_EQ(ssl.verify, 0);
            CHECK_RES(sipwire_conn_proxy_ssl_tlv(rt, m->conid, SIPWIRE_PP2_SUBTYPE_SSL_VERSION, v,
                                                 sizeof v, &vn),
                      SIPWIRE_RESULT_OK);
            CHECK(vn == 7 && memcmp(v, "TLSv1.3", 7) == 0);
            CHECK_RES(sipwire_conn_proxy_tlv(rt, m->conid, SIPWIRE_PP2_TYPE_AUTHORITY, v, sizeof v,
                                             &vn),
                      SIPWIRE_RESULT_EMPTY);
        }
        sipwire_item_free(it);
        close(c);
    }
    CHECK_RES(sipwire_runtime_free(rt), SIPWIRE_RESULT_OK);
}
