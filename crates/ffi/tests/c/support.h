/*
 * support.h: what the files of the C API test suite share: the settings main() adjusts, the
 * CHECK_RES check, the queue-mode runtime's state, and the helpers (deadlines, runtimes on
 * 127.0.0.1, plain TCP sockets, addresses, SIP text, waiting on the queue and the counters).
 * Defined in support.c; check.h's counters are defined there too.
 */
#ifndef SIPWIRE_TEST_SUPPORT_H
#define SIPWIRE_TEST_SUPPORT_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "sipwire.h"
#include "check.h"

/* ---------------------------------------------------------------------------------------- */
/* Settings (main() changes them for --valgrind)                                             */

extern int g_timeout_ms;    /* every wait's deadline */
extern int g_messages;      /* messages in the queue-mode section */
extern const char *g_argv0; /* this program, to re-exec in a forked child */

/* ---------------------------------------------------------------------------------------- */
/* Small helpers                                                                            */

/* Prints a section heading ("== name"). */
void section(const char *name);
/* CLOCK_MONOTONIC in milliseconds. */
long long now_ms(void);
/* Milliseconds left until `deadline` (a now_ms() value), 0 once it has passed. */
int remaining(long long deadline);
/* A short pause inside a loop that waits for a condition (never a wait by itself). */
void pause_ms(int ms);
/* The check behind CHECK_RES: prints both results in words when they differ. */
void check_res(sipwire_result got, sipwire_result want, const char *call, const char *wexpr,
               const char *file, int line);

/* CHECK_RES(call, want): the call's sipwire_result equals want. */
#define CHECK_RES(call, want) check_res((call), (want), #call, #want, __FILE__, __LINE__)

/* A config listening on tcp:127.0.0.1:0 with 2 children; NULL on failure. */
sipwire_config *make_config(void);
/* Starts a runtime on 127.0.0.1:0 (callbacks may be NULL); writes its port. */
sipwire_runtime *start_runtime(const sipwire_callbacks *cb, uint16_t *port);

/* The queue-mode runtime shared by sections 4, 7, 8 and 9. */
struct qstate {
    sipwire_runtime *rt;
    uint16_t port;
    uint64_t delivered; /* messages taken with sipwire_next */
};

/* ---------------------------------------------------------------------------------------- */
/* Sockets and addresses                                                                    */

/* 127.0.0.1:port as a sockaddr_in. */
struct sockaddr_in loopback(uint16_t port);
/* A listening TCP socket on 127.0.0.1:0; its port to *port; -1 on failure. */
int tcp_listen_local(uint16_t *port);
/* A port on 127.0.0.1 nobody listens on (bound, then closed). */
uint16_t closed_port(void);
/* A TCP connection to 127.0.0.1:port (5 s send timeout); -1 on failure. */
int tcp_connect_local(uint16_t port);
/* The local port of socket fd; -1 on failure. */
int local_port_of(int fd);
/* Sends all of buf (retrying on EINTR, no SIGPIPE); 0 on success, -1 on failure. */
int send_all(int fd, const void *buf, size_t len);
/* Reads `len` bytes within g_timeout_ms and compares them with `want`; 1 when equal. */
int expect_bytes(int fd, const void *want, size_t len);
/* Waits for EOF within g_timeout_ms: 1 on EOF, 0 on timeout, -1 on a read error. */
int wait_eof(int fd);
/* accept() within g_timeout_ms; -1 on timeout. */
int accept_timeout(int lfd);
/* The sipwire_addr of a sockaddr_in. */
sipwire_addr addr_of(const struct sockaddr_in *sin);
/* 1 when two sipwire_addrs are the same family, port and address. */
int addr_eq(const sipwire_addr *a, const sipwire_addr *b);
/* The local address of socket fd. */
sipwire_addr sock_name(int fd);
/* The peer address of socket fd. */
sipwire_addr peer_name(int fd);

/* ---------------------------------------------------------------------------------------- */
/* SIP text                                                                                 */

/* An OPTIONS with this Call-ID and CSeq plus `extra` header lines (may be NULL); its length. */
size_t build_options(char *buf, size_t cap, const char *callid, int cseq, const char *extra);
/* A response ("200 OK") to the OPTIONS with this Call-ID and CSeq; its length. */
size_t build_response(char *buf, size_t cap, const char *status, const char *callid, int cseq);
/* The value of header `name` ("Call-ID") in a message, into out (NUL-terminated); 1 if found. */
int header_value(const uint8_t *data, size_t len, const char *name, char *out, size_t cap);
/* The CSeq number of a message; -1 without one. */
int cseq_of(const uint8_t *data, size_t len);

/* ---------------------------------------------------------------------------------------- */
/* Queue and counters                                                                       */

/* The next item, waiting on the runtime's fd up to g_timeout_ms; NULL on timeout. */
sipwire_item *next_item(const sipwire_runtime *rt);
/* The counter `name` of rt now (UINT64_MAX when it cannot be read). */
uint64_t stat_of(const sipwire_runtime *rt, const char *name);
/* Waits up to g_timeout_ms until counter `name` reaches at least `want`; 1 if it did. */
int wait_stat(const sipwire_runtime *rt, const char *name, uint64_t want);

#endif /* SIPWIRE_TEST_SUPPORT_H */
