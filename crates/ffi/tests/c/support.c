/*
 * support.c: the settings and shared helpers of the C API test suite (see support.h):
 * check.h's counters, deadlines, runtimes on 127.0.0.1, plain TCP sockets, SIP text, and
 * waiting on the queue and the counters.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

/* ---------------------------------------------------------------------------------------- */
/* Settings and small helpers                                                                */

int g_timeout_ms = 5000; /* every wait's deadline */
int g_messages = 20;     /* messages in the queue-mode section */
const char *g_argv0;     /* this program, to re-exec in a forked child */

/* check.h's counters: one set for the whole program. */
atomic_long check_total;
atomic_long check_failed;

void section(const char *name) {
    printf("== %s\n", name);
    fflush(stdout);
}

long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int remaining(long long deadline) {
    long long r = deadline - now_ms();
    return r < 0 ? 0 : (int)r;
}

/* A short pause inside a loop that waits for a condition (never a wait by itself). */
void pause_ms(int ms) { (void)poll(NULL, 0, ms); }

/* The check behind CHECK_RES: prints both results in words when they differ. */
void check_res(sipwire_result got, sipwire_result want, const char *call, const char *wexpr,
                      const char *file, int line) {
    if (!check_eq((long long)got, (long long)want, call, wexpr, file, line)) {
        char g[128] = "?", w[128] = "?";
        sipwire_result_message((uint32_t)got, g, sizeof g, NULL);
        sipwire_result_message((uint32_t)want, w, sizeof w, NULL);
        fprintf(stderr, "    got \"%s\", want \"%s\"\n", g, w);
    }
}

static const char *LISTEN_CFG = "listen=tcp:127.0.0.1:0\ntcp_children=2\n";

/* A config with LISTEN_CFG loaded. */
sipwire_config *make_config(void) {
    sipwire_config *cfg = NULL;
    if (sipwire_config_new(&cfg) != SIPWIRE_RESULT_OK)
        return NULL;
    CHECK_RES(sipwire_config_load_text(cfg, "test.cfg", (const uint8_t *)LISTEN_CFG,
                                       strlen(LISTEN_CFG), 1),
              SIPWIRE_RESULT_OK);
    return cfg;
}

/* Starts a runtime on 127.0.0.1:0 (callbacks may be NULL); writes its port. */
sipwire_runtime *start_runtime(const sipwire_callbacks *cb, uint16_t *port) {
    sipwire_config *cfg = make_config();
    if (cfg == NULL)
        return NULL;
    sipwire_runtime *rt = NULL;
    sipwire_result r = sipwire_runtime_new(cfg, cb, &rt);
    CHECK_RES(r, SIPWIRE_RESULT_OK);
    if (r != SIPWIRE_RESULT_OK) {
        char err[256] = "";
        sipwire_config_error(cfg, err, sizeof err, NULL);
        fprintf(stderr, "    runtime_new: %s\n", err);
    }
    /* The runtime keeps its own copy. */
    sipwire_config_free(cfg);
    if (rt == NULL)
        return NULL;
    sipwire_addr a[4];
    size_t n = 0;
    CHECK_RES(sipwire_runtime_listen_addrs(rt, a, 4, &n), SIPWIRE_RESULT_OK);
    CHECK_EQ(n, 1);
    *port = n >= 1 ? a[0].port : 0;
    CHECK(*port != 0);
    return rt;
}

/* ---------------------------------------------------------------------------------------- */
/* Sockets                                                                                  */

struct sockaddr_in loopback(uint16_t port) {
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sin;
}

/* A listening TCP socket on 127.0.0.1:0; its port to *port. */
int tcp_listen_local(uint16_t *port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sin = loopback(0);
    socklen_t sl = sizeof sin;
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &sl) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sin.sin_port);
    return fd;
}

/* A port on 127.0.0.1 nobody listens on (bound, then closed). */
uint16_t closed_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = loopback(0);
    socklen_t sl = sizeof sin;
    uint16_t p = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 &&
        getsockname(fd, (struct sockaddr *)&sin, &sl) == 0)
        p = ntohs(sin.sin_port);
    if (fd >= 0)
        close(fd);
    return p;
}

int tcp_connect_local(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sin = loopback(port);
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

int local_port_of(int fd) {
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    if (getsockname(fd, (struct sockaddr *)&sin, &sl) != 0)
        return -1;
    return ntohs(sin.sin_port);
}

int send_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads exactly `len` bytes within the deadline; returns how many were read (less on EOF,
 * error or timeout). */
static size_t read_exact(int fd, void *buf, size_t len, int timeout_ms) {
    long long deadline = now_ms() + timeout_ms;
    size_t got = 0;
    while (got < len) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, remaining(deadline));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            break;
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

/* Reads `len` bytes and compares them with `want`. */
int expect_bytes(int fd, const void *want, size_t len) {
    char *buf = malloc(len + 1);
    if (buf == NULL)
        return 0;
    size_t got = read_exact(fd, buf, len, g_timeout_ms);
    int ok = got == len && memcmp(buf, want, len) == 0;
    if (!ok)
        fprintf(stderr, "    expected %zu bytes \"%.*s\", got %zu \"%.*s\"\n", len, (int)len,
                (const char *)want, got, (int)got, buf);
    free(buf);
    return ok;
}

/* Waits for EOF (read returning 0) within the deadline, discarding any bytes before it.
 * 1 on EOF, 0 on timeout, -1 on a read error (such as a reset). */
int wait_eof(int fd) {
    long long deadline = now_ms() + g_timeout_ms;
    char buf[4096];
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, remaining(deadline));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return 0;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0)
            return 1;
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "    wait_eof: read: %s\n", strerror(errno));
            return -1;
        }
    }
}

/* accept() within the deadline; -1 on timeout. */
int accept_timeout(int lfd) {
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    if (poll(&p, 1, g_timeout_ms) != 1)
        return -1;
    return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

/* The sipwire_addr of a sockaddr_in. */
sipwire_addr addr_of(const struct sockaddr_in *sin) {
    sipwire_addr a;
    memset(&a, 0, sizeof a);
    a.family = SIPWIRE_ADDR_V4;
    a.port = ntohs(sin->sin_port);
    memcpy(a.ip, &sin->sin_addr, 4);
    return a;
}

int addr_eq(const sipwire_addr *a, const sipwire_addr *b) {
    return a->family == b->family && a->port == b->port &&
           memcmp(a->ip, b->ip, a->family == SIPWIRE_ADDR_V6 ? 16 : 4) == 0;
}

sipwire_addr sock_name(int fd) {
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    memset(&sin, 0, sizeof sin);
    getsockname(fd, (struct sockaddr *)&sin, &sl);
    return addr_of(&sin);
}

sipwire_addr peer_name(int fd) {
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    memset(&sin, 0, sizeof sin);
    getpeername(fd, (struct sockaddr *)&sin, &sl);
    return addr_of(&sin);
}

/* ---------------------------------------------------------------------------------------- */
/* SIP text                                                                                 */

/* An OPTIONS request with this Call-ID and CSeq, plus `extra` header lines (may be NULL,
 * each ending in \r\n), Content-Length: 0. Returns its length. */
size_t build_options(char *buf, size_t cap, const char *callid, int cseq,
                            const char *extra) {
    int n = snprintf(buf, cap,
                     "OPTIONS sip:test@127.0.0.1 SIP/2.0\r\n"
                     "Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-%s-%d\r\n"
                     "Max-Forwards: 70\r\n"
                     "From: <sip:client@127.0.0.1>;tag=c%d\r\n"
                     "To: <sip:test@127.0.0.1>\r\n"
                     "Call-ID: %s\r\n"
                     "CSeq: %d OPTIONS\r\n"
                     "%s"
                     "Content-Length: 0\r\n"
                     "\r\n",
                     callid, cseq, cseq, callid, cseq, extra ? extra : "");
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* A response ("200 OK") to the OPTIONS with this Call-ID and CSeq. */
size_t build_response(char *buf, size_t cap, const char *status, const char *callid,
                             int cseq) {
    int n = snprintf(buf, cap,
                     "SIP/2.0 %s\r\n"
                     "Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-%s-%d\r\n"
                     "From: <sip:client@127.0.0.1>;tag=c%d\r\n"
                     "To: <sip:test@127.0.0.1>;tag=s\r\n"
                     "Call-ID: %s\r\n"
                     "CSeq: %d OPTIONS\r\n"
                     "Content-Length: 0\r\n"
                     "\r\n",
                     status, callid, cseq, cseq, callid, cseq);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* The value of header `name` ("Call-ID") in a message, into out (NUL-terminated). */
int header_value(const uint8_t *data, size_t len, const char *name, char *out,
                        size_t cap) {
    char key[64];
    snprintf(key, sizeof key, "\r\n%s: ", name);
    const char *p = memmem(data, len, key, strlen(key));
    if (p == NULL || cap == 0)
        return 0;
    p += strlen(key);
    const char *end = memmem(p, len - (size_t)(p - (const char *)data), "\r\n", 2);
    if (end == NULL)
        return 0;
    size_t n = (size_t)(end - p);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, p, n);
    out[n] = 0;
    return 1;
}

int cseq_of(const uint8_t *data, size_t len) {
    char v[64];
    if (!header_value(data, len, "CSeq", v, sizeof v))
        return -1;
    return atoi(v);
}

/* ---------------------------------------------------------------------------------------- */
/* Queue mode helpers                                                                       */

/* The next item, waiting on the runtime's fd up to the deadline; NULL on timeout. */
sipwire_item *next_item(const sipwire_runtime *rt) {
    long long deadline = now_ms() + g_timeout_ms;
    int fd = sipwire_runtime_fd(rt);
    for (;;) {
        sipwire_item *it = NULL;
        sipwire_result r = sipwire_next(rt, &it);
        if (r == SIPWIRE_RESULT_OK)
            return it;
        if (r != SIPWIRE_RESULT_EMPTY) {
            CHECK_RES(r, SIPWIRE_RESULT_EMPTY);
            return NULL;
        }
        if (remaining(deadline) == 0) {
            fprintf(stderr, "    next_item: nothing within %d ms\n", g_timeout_ms);
            return NULL;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        (void)poll(&p, 1, remaining(deadline));
    }
}

/* The counter `name` of rt now (UINT64_MAX when it cannot be read). */
uint64_t stat_of(const sipwire_runtime *rt, const char *name) {
    sipwire_stats *s = NULL;
    uint64_t v = UINT64_MAX;
    if (sipwire_stats_new(rt, &s) != SIPWIRE_RESULT_OK)
        return v;
    if (sipwire_stats_get(s, name, &v) != SIPWIRE_RESULT_OK)
        v = UINT64_MAX;
    sipwire_stats_free(s);
    return v;
}

/* Waits until counter `name` reaches at least `want`. */
int wait_stat(const sipwire_runtime *rt, const char *name, uint64_t want) {
    long long deadline = now_ms() + g_timeout_ms;
    for (;;) {
        uint64_t v = stat_of(rt, name);
        if (v != UINT64_MAX && v >= want)
            return 1;
        if (remaining(deadline) == 0) {
            fprintf(stderr, "    wait_stat: %s is %" PRIu64 ", want %" PRIu64 "\n", name, v,
                    want);
            return 0;
        }
        pause_ms(2);
    }
}
