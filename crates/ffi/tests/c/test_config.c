/*
 * test_config.c: sections 1-3 of the C API test suite: configuration (text, files, set,
 * errors), result messages and close reasons, bind failure, listen addresses and address
 * conversions.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support.h"
#include "tests.h"

/* ---------------------------------------------------------------------------------------- */
/* 1. Config                                                                                */

void test_config(void) {
    section("1. config");
    sipwire_config *cfg = NULL;
    CHECK_RES(sipwire_config_new(&cfg), SIPWIRE_RESULT_OK);
    REQUIRE(cfg != NULL);
    char err[512];
    size_t n = 99;

    /* A fresh config has no error. */
    CHECK_RES(sipwire_config_error(cfg, err, sizeof err, &n), SIPWIRE_RESULT_OK);
    CHECK_EQ(n, 0);
    CHECK(strcmp(err, "") == 0);
    CHECK_EQ(sipwire_config_error_line(cfg), 0);

    /* Good text, with a lifetime that tells this text apart from the defaults. */
    const char *good = "listen=tcp:127.0.0.1:0\ntcp_children=2\ntcp_connection_lifetime=77\n";
    CHECK_RES(sipwire_config_load_text(cfg, "good.cfg", (const uint8_t *)good, strlen(good), 1),
              SIPWIRE_RESULT_OK);

    /* Bad text: an unknown option on line 3. */
    const char *bad = "listen=tcp:127.0.0.1:0\ntcp_children=2\ntcp_no_such_option=1\n";
    CHECK_RES(sipwire_config_load_text(cfg, "bad.cfg", (const uint8_t *)bad, strlen(bad), 0),
              SIPWIRE_RESULT_CONFIG);
    CHECK_RES(sipwire_config_error(cfg, err, sizeof err, &n), SIPWIRE_RESULT_OK);
    CHECK(strncmp(err, "bad.cfg:3: ", 11) == 0);
    CHECK(strstr(err, "tcp_no_such_option") != NULL);
    CHECK_EQ(n, strlen(err));
    CHECK_EQ(sipwire_config_error_line(cfg), 3);
    printf("   bad text: %s\n", err);

    /* The error buffer too small: as much as fits, NUL-terminated. */
    char small[8];
    memset(small, 'x', sizeof small);
    size_t full = n;
    CHECK_RES(sipwire_config_error(cfg, small, sizeof small, &n), SIPWIRE_RESULT_INSUFFICIENT_SIZE);
    CHECK_EQ(small[7], 0);
    CHECK_EQ(strlen(small), 7);
    CHECK(strncmp(small, err, 7) == 0);
    CHECK_EQ(n, 7);
    CHECK(full > 7);
    CHECK_RES(sipwire_config_error(cfg, small, 0, NULL), SIPWIRE_RESULT_INSUFFICIENT_SIZE);
    CHECK_RES(sipwire_config_error(cfg, err, sizeof err, NULL), SIPWIRE_RESULT_OK);

    /* The config is unchanged: a runtime made from it has good.cfg's lifetime. */
    {
        sipwire_runtime *rt = NULL;
        CHECK_RES(sipwire_runtime_new(cfg, NULL, &rt), SIPWIRE_RESULT_OK);
        if (rt != NULL) {
            int64_t v = -1;
            CHECK_RES(sipwire_runtime_get_int(rt, "tcp", "connection_lifetime", &v),
                      SIPWIRE_RESULT_OK);
            CHECK_EQ(v, 77);
            CHECK_RES(sipwire_runtime_get_int(rt, "core", "tcp_children", &v), SIPWIRE_RESULT_OK);
            CHECK_EQ(v, 2);
            sipwire_addr a;
            size_t na = 0;
            CHECK_RES(sipwire_runtime_listen_addrs(rt, &a, 1, &na), SIPWIRE_RESULT_OK);
            CHECK_EQ(na, 1);
            CHECK_EQ(a.family, SIPWIRE_ADDR_V4);
            CHECK(a.ip[0] == 127 && a.ip[1] == 0 && a.ip[2] == 0 && a.ip[3] == 1);
            CHECK_RES(sipwire_runtime_free(rt), SIPWIRE_RESULT_OK);
        }
    }
    /* A success clears the error. */
    CHECK_RES(sipwire_config_load_text(cfg, "good.cfg", (const uint8_t *)good, strlen(good), 1),
              SIPWIRE_RESULT_OK);
    CHECK_RES(sipwire_config_error(cfg, err, sizeof err, &n), SIPWIRE_RESULT_OK);
    CHECK_EQ(n, 0);
    CHECK_EQ(sipwire_config_error_line(cfg), 0);

    /* Not UTF-8. */
    const uint8_t notutf8[] = {'t', 'c', 'p', 0xff, 0xfe, '\n'};
    CHECK_RES(sipwire_config_load_text(cfg, "bin.cfg", notutf8, sizeof notutf8, 0),
              SIPWIRE_RESULT_CONFIG);
    CHECK_RES(sipwire_config_error(cfg, err, sizeof err, NULL), SIPWIRE_RESULT_OK);
    CHECK(strlen(err) > 0);

    /* load_file: a temp file, then a missing path. */
    char path[] = "/tmp/sipwire-test-cfg-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) {
        const char *text = "listen=tcp:127.0.0.1:0\ntcp_children=2\n";
        CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
        close(fd);
        CHECK_RES(sipwire_config_load_file(cfg, path, 1), SIPWIRE_RESULT_OK);
        CHECK_RES(sipwire_config_error(cfg, err, sizeof err, &n), SIPWIRE_RESULT_OK);
        CHECK_EQ(n, 0);
        /* A bad file names itself and the line. */
        fd = open(path, O_WRONLY | O_TRUNC);
        CHECK(fd >= 0);
        if (fd >= 0) {
            const char *t2 = "tcp_children=2\ntcp_children=zero\n";
            CHECK(write(fd, t2, strlen(t2)) == (ssize_t)strlen(t2));
            close(fd);
            CHECK_RES(sipwire_config_load_file(cfg, path, 0), SIPWIRE_RESULT_CONFIG);
            CHECK_RES(sipwire_config_error(cfg, err, sizeof err, NULL), SIPWIRE_RESULT_OK);
            CHECK(strstr(err, path) != NULL);
            CHECK_EQ(sipwire_config_error_line(cfg), 2);
        }
        unlink(path);
    }
    CHECK_RES(sipwire_config_load_file(cfg, "/nonexistent/sipwire-test.cfg", 0),
              SIPWIRE_RESULT_CONFIG);
    CHECK_RES(sipwire_config_error(cfg, err, sizeof err, NULL), SIPWIRE_RESULT_OK);
    CHECK(strlen(err) > 0);
    printf("   missing file: %s\n", err);

    /* sipwire_config_set. */
    CHECK_RES(sipwire_config_set(cfg, "tcp_connection_lifetime", "10"), SIPWIRE_RESULT_OK);
    CHECK_RES(sipwire_config_error(cfg, err, sizeof err, &n), SIPWIRE_RESULT_OK);
    CHECK_EQ(n, 0);
    CHECK_RES(sipwire_config_set(cfg, "tcpops.closed_event", "1"), SIPWIRE_RESULT_OK);
    CHECK_RES(sipwire_config_set(cfg, "no_such_option_at_all", "1"), SIPWIRE_RESULT_UNKNOWN_OPTION);
    CHECK_RES(sipwire_config_error(cfg, err, sizeof err, NULL), SIPWIRE_RESULT_OK);
    CHECK(strstr(err, "no_such_option_at_all") != NULL);
    CHECK_RES(sipwire_config_set(cfg, "tcp_children", "0"), SIPWIRE_RESULT_OUT_OF_RANGE);
    CHECK_RES(sipwire_config_error(cfg, err, sizeof err, NULL), SIPWIRE_RESULT_OK);
    CHECK(strlen(err) > 0);
    CHECK_RES(sipwire_config_set(cfg, "tcp_children", "lots"), SIPWIRE_RESULT_BAD_VALUE);
    CHECK_RES(sipwire_config_set(cfg, "tcp_connection_lifetime", "-1"),
              SIPWIRE_RESULT_OUT_OF_RANGE);

    /* Queue limit. */
    CHECK_RES(sipwire_config_set_queue_limit(cfg, 0), SIPWIRE_RESULT_OUT_OF_RANGE);
    CHECK_RES(sipwire_config_error(cfg, err, sizeof err, NULL), SIPWIRE_RESULT_OK);
    CHECK(strlen(err) > 0);
    CHECK_RES(sipwire_config_set_queue_limit(cfg, 100), SIPWIRE_RESULT_OK);

    /* A config that validate() refuses at runtime_new gives CONFIG and a reason. */
    {
        sipwire_config *c2 = NULL;
        CHECK_RES(sipwire_config_new(&c2), SIPWIRE_RESULT_OK);
        if (c2 != NULL) {
            /* The name may be NULL: messages then say "<text>". */
            const char *t = "listen=tcp:127.0.0.1:0\nbogus_line_here\n";
            CHECK_RES(sipwire_config_load_text(c2, NULL, (const uint8_t *)t, strlen(t), 1),
                      SIPWIRE_RESULT_CONFIG);
            CHECK_RES(sipwire_config_error(c2, err, sizeof err, NULL), SIPWIRE_RESULT_OK);
            CHECK(strncmp(err, "<text>:2:", 9) == 0);
            CHECK_EQ(sipwire_config_error_line(c2), 2);
            /* NULL text with length 0 is the empty config. */
            CHECK_RES(sipwire_config_load_text(c2, "empty", NULL, 0, 0), SIPWIRE_RESULT_OK);
            sipwire_config_free(c2);
        }
    }

    /* NULL for every pointer argument. */
    CHECK_RES(sipwire_config_new(NULL), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_config_load_text(NULL, "x", (const uint8_t *)good, strlen(good), 0),
              SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_config_load_text(cfg, "x", NULL, 5, 0), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_config_load_file(NULL, "/tmp/x", 0), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_config_load_file(cfg, NULL, 0), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_config_set(NULL, "tcp_children", "2"), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_config_set(cfg, NULL, "2"), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_config_set(cfg, "tcp_children", NULL), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_config_set_queue_limit(NULL, 10), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_config_error(NULL, err, sizeof err, &n), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_config_error(cfg, NULL, 10, &n), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_EQ(sipwire_config_error_line(NULL), 0);
    sipwire_runtime *rt = NULL;
    CHECK_RES(sipwire_runtime_new(NULL, NULL, &rt), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_runtime_new(cfg, NULL, NULL), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK(rt == NULL);
    sipwire_config_free(NULL);
    sipwire_config_free(cfg);
}

/* ---------------------------------------------------------------------------------------- */
/* 2. Result messages, close reasons                                                        */

void test_results(void) {
    section("2. result messages");
    char buf[256];
    size_t n = 0;
    for (uint32_t r = 0; r <= (uint32_t)SIPWIRE_RESULT_TCP_DISABLED; r++) {
        memset(buf, 'x', sizeof buf);
        n = 999;
        CHECK_RES(sipwire_result_message(r, buf, sizeof buf, &n), SIPWIRE_RESULT_OK);
        CHECK(n > 0);
        CHECK_EQ(strlen(buf), n);
        CHECK(strcmp(buf, "unknown result") != 0);
    }
    const uint32_t unknown[] = {(uint32_t)SIPWIRE_RESULT_TCP_DISABLED + 1, 1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        CHECK_RES(sipwire_result_message(unknown[i], buf, sizeof buf, &n), SIPWIRE_RESULT_OK);
        CHECK(strcmp(buf, "unknown result") == 0);
        CHECK_EQ(n, strlen("unknown result"));
    }
    /* OK is "success" (7 bytes): 8 fit, 4 do not. */
    CHECK_RES(sipwire_result_message(SIPWIRE_RESULT_OK, buf, 8, &n), SIPWIRE_RESULT_OK);
    CHECK_EQ(n, 7);
    char small[4];
    CHECK_RES(sipwire_result_message(SIPWIRE_RESULT_OK, small, sizeof small, &n),
              SIPWIRE_RESULT_INSUFFICIENT_SIZE);
    CHECK_EQ(n, 3);
    CHECK_EQ(small[3], 0);
    CHECK(strncmp(small, buf, 3) == 0);
    CHECK_RES(sipwire_result_message(SIPWIRE_RESULT_OK, small, 0, NULL),
              SIPWIRE_RESULT_INSUFFICIENT_SIZE);
    CHECK_RES(sipwire_result_message(SIPWIRE_RESULT_OK, NULL, 10, NULL),
              SIPWIRE_RESULT_NULL_PARAMETER);

    /* Close reasons in words. */
    for (uint32_t r = 1; r <= 16; r++) {
        const char *t = sipwire_close_reason_text(r);
        CHECK(t != NULL && strlen(t) > 0 && strcmp(t, "unknown close reason") != 0);
    }
    CHECK(strcmp(sipwire_close_reason_text(SIPWIRE_CLOSE_PEER_CLOSED), "closed by peer") == 0);
    CHECK(strcmp(sipwire_close_reason_text(0), "unknown close reason") == 0);
    CHECK(strcmp(sipwire_close_reason_text(17), "unknown close reason") == 0);
}

/* ---------------------------------------------------------------------------------------- */
/* 3. Bind failure, listen addresses, address conversions                                   */

void test_bind_and_addrs(void) {
    section("3. bind failure, addresses");
    uint16_t port = 0;
    int busy = tcp_listen_local(&port);
    REQUIRE(busy >= 0);
    char text[128];
    snprintf(text, sizeof text, "listen=tcp:127.0.0.1:%u\ntcp_children=1\n", port);
    sipwire_config *cfg = NULL;
    CHECK_RES(sipwire_config_new(&cfg), SIPWIRE_RESULT_OK);
    REQUIRE(cfg != NULL);
    CHECK_RES(sipwire_config_load_text(cfg, "busy.cfg", (const uint8_t *)text, strlen(text), 1),
              SIPWIRE_RESULT_OK);
    sipwire_runtime *rt = NULL;
    CHECK_RES(sipwire_runtime_new(cfg, NULL, &rt), SIPWIRE_RESULT_BIND);
    CHECK(rt == NULL);
    char err[512] = "";
    CHECK_RES(sipwire_config_error(cfg, err, sizeof err, NULL), SIPWIRE_RESULT_OK);
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%u", port);
    CHECK(strstr(err, want) != NULL);
    printf("   bind: %s\n", err);
    sipwire_config_free(cfg);
    close(busy);

    /* Listen addresses of a running runtime. */
    uint16_t p = 0;
    rt = start_runtime(NULL, &p);
    REQUIRE(rt != NULL);
    sipwire_addr a[2];
    size_t n = 99;
    CHECK_RES(sipwire_runtime_listen_addrs(rt, NULL, 0, &n), SIPWIRE_RESULT_INSUFFICIENT_SIZE);
    CHECK_EQ(n, 1);
    CHECK_RES(sipwire_runtime_listen_addrs(rt, a, 2, &n), SIPWIRE_RESULT_OK);
    CHECK_EQ(n, 1);
    CHECK_EQ(a[0].family, SIPWIRE_ADDR_V4);
    CHECK_EQ(a[0].port, p);
    CHECK_RES(sipwire_runtime_listen_addrs(rt, NULL, 4, &n), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_runtime_listen_addrs(NULL, a, 2, &n), SIPWIRE_RESULT_NULL_PARAMETER);

    /* Format and sockaddr round trip. */
    char buf[48];
    CHECK_RES(sipwire_addr_format(&a[0], buf, sizeof buf, &n), SIPWIRE_RESULT_OK);
    snprintf(want, sizeof want, "127.0.0.1:%u", p);
    CHECK(strcmp(buf, want) == 0);
    CHECK_EQ(n, strlen(want));
    char small[5];
    CHECK_RES(sipwire_addr_format(&a[0], small, sizeof small, &n),
              SIPWIRE_RESULT_INSUFFICIENT_SIZE);
    CHECK(strcmp(small, "127.") == 0);
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    memset(&ss, 0, sizeof ss);
    CHECK_RES(sipwire_addr_to_sockaddr(&a[0], &ss, &sl), SIPWIRE_RESULT_OK);
    CHECK_EQ(sl, sizeof(struct sockaddr_in));
    CHECK_EQ(ss.ss_family, AF_INET);
    {
        struct sockaddr_in sin;
        memcpy(&sin, &ss, sizeof sin);
        CHECK_EQ(ntohs(sin.sin_port), p);
        CHECK_EQ(ntohl(sin.sin_addr.s_addr), INADDR_LOOPBACK);
        sipwire_addr back = addr_of(&sin);
        CHECK(addr_eq(&back, &a[0]));
        /* The sockaddr reaches the runtime. */
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&ss, sl) == 0);
        if (fd >= 0)
            close(fd);
    }
    CHECK_RES(sipwire_addr_to_sockaddr(&a[0], &ss, NULL), SIPWIRE_RESULT_OK);

    /* IPv6. */
    sipwire_addr v6;
    memset(&v6, 0, sizeof v6);
    v6.family = SIPWIRE_ADDR_V6;
    v6.port = 5060;
    v6.ip[0] = 0x20;
    v6.ip[1] = 0x01;
    v6.ip[2] = 0x0d;
    v6.ip[3] = 0xb8;
    v6.ip[15] = 1;
    CHECK_RES(sipwire_addr_format(&v6, buf, sizeof buf, NULL), SIPWIRE_RESULT_OK);
    CHECK(strcmp(buf, "[2001:db8::1]:5060") == 0);
    CHECK_RES(sipwire_addr_to_sockaddr(&v6, &ss, &sl), SIPWIRE_RESULT_OK);
    CHECK_EQ(sl, sizeof(struct sockaddr_in6));
    CHECK_EQ(ss.ss_family, AF_INET6);
    {
        struct sockaddr_in6 s6;
        memcpy(&s6, &ss, sizeof s6);
        CHECK_EQ(ntohs(s6.sin6_port), 5060);
        CHECK(memcmp(&s6.sin6_addr, v6.ip, 16) == 0);
    }

    /* No address, an unknown family, NULLs. */
    sipwire_addr none;
    memset(&none, 0, sizeof none);
    CHECK_RES(sipwire_addr_format(&none, buf, sizeof buf, NULL), SIPWIRE_RESULT_INVALID_ARGUMENT);
    CHECK_RES(sipwire_addr_to_sockaddr(&none, &ss, &sl), SIPWIRE_RESULT_INVALID_ARGUMENT);
    none.family = 99;
    CHECK_RES(sipwire_addr_format(&none, buf, sizeof buf, NULL), SIPWIRE_RESULT_INVALID_ARGUMENT);
    CHECK_RES(sipwire_addr_format(NULL, buf, sizeof buf, NULL), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_addr_format(&a[0], NULL, 10, NULL), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_addr_to_sockaddr(NULL, &ss, &sl), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_addr_to_sockaddr(&a[0], NULL, &sl), SIPWIRE_RESULT_NULL_PARAMETER);

    CHECK_RES(sipwire_runtime_free(rt), SIPWIRE_RESULT_OK);
}
