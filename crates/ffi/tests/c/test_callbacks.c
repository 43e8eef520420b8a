/*
 * test_callbacks.c: sections 5-6 of the C API test suite: the callback mode (replies, tcpops,
 * re-entry, unsent messages; the callbacks and their context, g_cb), sends by destination
 * and runtime cfg changes.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "support.h"
#include "tests.h"

/* ---------------------------------------------------------------------------------------- */
/* 5. Callback mode                                                                         */

struct cbctx g_cb = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
};

static void cb_signal(struct cbctx *x) {
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
}

static void abs_deadline(struct timespec *ts, int ms) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Waits for the close event of `conid`; copies it to *out. */
static int wait_cb_event(struct cbctx *x, uint64_t conid, struct ev_rec *out) {
    struct timespec ts;
    abs_deadline(&ts, g_timeout_ms);
    pthread_mutex_lock(&x->mu);
    for (;;) {
        for (int i = 0; i < x->nevents; i++) {
            if (x->events[i].conid == conid) {
                *out = x->events[i];
                pthread_mutex_unlock(&x->mu);
                return 1;
            }
        }
        if (pthread_cond_timedwait(&x->cv, &x->mu, &ts) == ETIMEDOUT) {
            pthread_mutex_unlock(&x->mu);
            fprintf(stderr, "    no event for conid %" PRIu64 " within %d ms\n", conid,
                    g_timeout_ms);
            return 0;
        }
    }
}

/* Waits for an unsent message of `conid`; copies it to *out. */
static int wait_cb_unsent(struct cbctx *x, uint64_t conid, struct unsent_rec *out) {
    struct timespec ts;
    abs_deadline(&ts, g_timeout_ms);
    pthread_mutex_lock(&x->mu);
    for (;;) {
        for (int i = 0; i < x->nunsent; i++) {
            if (x->unsent[i].conid == conid) {
                *out = x->unsent[i];
                pthread_mutex_unlock(&x->mu);
                return 1;
            }
        }
        if (pthread_cond_timedwait(&x->cv, &x->mu, &ts) == ETIMEDOUT) {
            pthread_mutex_unlock(&x->mu);
            return 0;
        }
    }
}

static uint64_t cb_last_conid(struct cbctx *x) {
    pthread_mutex_lock(&x->mu);
    uint64_t c = x->last_conid;
    pthread_mutex_unlock(&x->mu);
    return c;
}

/* Replies 200 OK to msg with sipwire_reply and checks what the send says. */
static void reply_200(const sipwire_message *msg) {
    char callid[64] = "", resp[1024];
    header_value(msg->data, msg->len, "Call-ID", callid, sizeof callid);
    size_t n = build_response(resp, sizeof resp, "200 OK", callid, cseq_of(msg->data, msg->len));
    sipwire_sent out = {.conid = 0};
    CHECK_RES(sipwire_reply(msg, (const uint8_t *)resp, n, &out), SIPWIRE_RESULT_OK);
    CHECK_EQ(out.conid, msg->conid);
    /* From on_message (tcp_async): written with the pass's other sends when it ends. */
    CHECK_EQ(out.delivery, SIPWIRE_DELIVERY_BATCHED);
}

/* X-Cmd: ops: the tcpops with conid 0 act on the current connection. */
static void cb_ops(sipwire_runtime *rt, const sipwire_message *msg) {
    CHECK_EQ(sipwire_tcp_conid_alive(rt, 0), 1);
    CHECK_EQ(sipwire_tcp_conid_state(rt, 0), 1);
    CHECK_EQ(sipwire_tcp_conid_alive(rt, msg->conid), 1);
    CHECK_EQ(sipwire_tcp_keepalive_enable(rt, 0, 30, 3, 10), 1);
    sipwire_conn_info info;
    CHECK_RES(sipwire_conn_get_info(rt, msg->conid, &info), SIPWIRE_RESULT_OK);
    CHECK_EQ(info.conid, msg->conid);
    CHECK_EQ(info.keepalive, 1);
    CHECK_EQ(info.keepalive_idle, 30);
    CHECK_EQ(info.keepalive_count, 3);
    CHECK_EQ(info.keepalive_interval, 10);
    CHECK_EQ(sipwire_tcp_keepalive_disable(rt, 0), 1);
    CHECK_RES(sipwire_conn_get_info(rt, msg->conid, &info), SIPWIRE_RESULT_OK);
    CHECK_EQ(info.keepalive, 0);
    CHECK_EQ(info.lifetime_ms, -1);
    CHECK_EQ(sipwire_tcp_set_connection_lifetime(rt, 0, 100), 1);
    CHECK_RES(sipwire_conn_get_info(rt, msg->conid, &info), SIPWIRE_RESULT_OK);
    CHECK_EQ(info.lifetime_ms, 100000);
    CHECK_EQ(sipwire_tcp_enable_closed_event(rt, 0), 1);
    /* Bad values still fail inside. */
    CHECK_EQ(sipwire_tcp_keepalive_enable(rt, 0, -1, 3, 10), -1);
    CHECK_EQ(sipwire_tcp_set_connection_lifetime(rt, 0, -5), -1);
    /* force_tcp_alias: port 0 takes the top Via's (5060 here), a given port wins. */
    uint64_t aliased = 0;
    CHECK_EQ(sipwire_force_tcp_alias(rt, 0, 0), 1);
    CHECK_EQ(sipwire_tcp_get_conid(rt, "127.0.0.1:5060", &aliased), 1);
    CHECK_EQ(aliased, msg->conid);
    CHECK_EQ(sipwire_force_tcp_alias(rt, 0, 7005), 1);
    CHECK_EQ(sipwire_tcp_get_conid(rt, "127.0.0.1:7005", &aliased), 1);
    CHECK_EQ(aliased, msg->conid);
    CHECK_EQ(sipwire_force_tcp_alias(rt, 0, 65536), -1);
    CHECK_EQ(sipwire_force_tcp_alias(rt, 0, -1), -1);
    /* otcpid: only inside on_message, never conid 0. */
    CHECK_EQ(sipwire_tcp_set_otcpid(rt, 0), -1);
    CHECK_EQ(sipwire_tcp_set_otcpid(rt, msg->conid), 1);
    CHECK_EQ(sipwire_tcp_set_otcpid_flag(rt, 1), 1);
    CHECK_EQ(sipwire_tcp_set_otcpid_flag(rt, 0), 1);
    reply_200(msg);
}

/* X-Cmd: reenter: stopping the runtime is refused; other calls work. */
static void cb_reenter(sipwire_runtime *rt, const sipwire_message *msg) {
    CHECK_RES(sipwire_runtime_shutdown(rt), SIPWIRE_RESULT_WRONG_THREAD);
    CHECK_RES(sipwire_runtime_free(rt), SIPWIRE_RESULT_WRONG_THREAD);
    /* Still running after both refusals. */
    CHECK_EQ(sipwire_tcp_conid_alive(rt, 0), 1);
    sipwire_stats *s = NULL;
    CHECK_RES(sipwire_stats_new(rt, &s), SIPWIRE_RESULT_OK);
    CHECK(sipwire_stats_len(s) > 0);
    uint64_t v = 0;
    CHECK_RES(sipwire_stats_get(s, "messages", &v), SIPWIRE_RESULT_OK);
    CHECK(v >= 1);
    sipwire_stats_free(s);
    uint64_t ids[64];
    size_t n = 0;
    CHECK_RES(sipwire_connections(rt, ids, 64, &n), SIPWIRE_RESULT_OK);
    int found = 0;
    for (size_t i = 0; i < n && i < 64; i++)
        found |= ids[i] == msg->conid;
    CHECK(found);
    int64_t iv = 0;
    CHECK_RES(sipwire_runtime_get_int(rt, "tcp", "connection_lifetime", &iv), SIPWIRE_RESULT_OK);
    /* Sends to its own connection, by id and by 0, then the reply: in this order. */
    char callid[64] = "", resp[1024];
    header_value(msg->data, msg->len, "Call-ID", callid, sizeof callid);
    int cseq = cseq_of(msg->data, msg->len);
    size_t rn = build_response(resp, sizeof resp, "100 Trying", callid, cseq);
    sipwire_sent out = {.conid = 0};
    CHECK_RES(sipwire_send(rt, msg->conid, (const uint8_t *)resp, rn, &out), SIPWIRE_RESULT_OK);
    CHECK_EQ(out.conid, msg->conid);
    CHECK_EQ(out.delivery, SIPWIRE_DELIVERY_BATCHED);
    rn = build_response(resp, sizeof resp, "180 Ringing", callid, cseq);
    out.conid = 0;
    CHECK_RES(sipwire_send(rt, 0, (const uint8_t *)resp, rn, &out), SIPWIRE_RESULT_OK);
    CHECK_EQ(out.conid, msg->conid);
    CHECK_EQ(out.delivery, SIPWIRE_DELIVERY_BATCHED);
    /* A reply with a copy of the message (not the view this call got) is refused. */
    sipwire_message *copy = NULL;
    CHECK_RES(sipwire_message_copy(msg, &copy), SIPWIRE_RESULT_OK);
    CHECK_RES(sipwire_reply(copy, (const uint8_t *)resp, rn, NULL), SIPWIRE_RESULT_WRONG_STATE);
    sipwire_message_free(copy);
    CHECK_RES(sipwire_reply(msg, (const uint8_t *)resp, 0, NULL), SIPWIRE_RESULT_INVALID_ARGUMENT);
    CHECK_RES(sipwire_reply(msg, NULL, 5, NULL), SIPWIRE_RESULT_NULL_PARAMETER);
    reply_200(msg);
}

/* X-Cmd: pin <conid> <port>: tcp_set_otcpid steers a send to another destination onto the
 * pinned connection. */
static void cb_pin(sipwire_runtime *rt, const sipwire_message *msg, const char *arg) {
    unsigned long long pin = 0;
    unsigned port = 0;
    CHECK_EQ(sscanf(arg, "%llu %u", &pin, &port), 2);
    CHECK_EQ(sipwire_tcp_set_otcpid(rt, pin), 1);
    CHECK_EQ(sipwire_tcp_set_otcpid_flag(rt, 1), 1);
    char dest[64], req[1024];
    snprintf(dest, sizeof dest, "tcp:127.0.0.1:%u", port);
    size_t n = build_options(req, sizeof req, "pinned", 1, NULL);
    sipwire_sent out = {.conid = 0};
    CHECK_RES(sipwire_send_to(rt, dest, (const uint8_t *)req, n, &out), SIPWIRE_RESULT_OK);
    CHECK_EQ(out.conid, pin);
    CHECK_EQ(out.delivery, SIPWIRE_DELIVERY_BATCHED);
    CHECK_EQ(sipwire_tcp_set_otcpid_flag(rt, 0), 1);
    reply_200(msg);
}

int on_message(void *userdata, const sipwire_message *msg) {
    struct cbctx *x = userdata;
    pthread_mutex_lock(&x->mu);
    sipwire_runtime *rt = x->rt;
    x->messages++;
    x->last_conid = msg->conid;
    pthread_mutex_unlock(&x->mu);
    CHECK(rt != NULL);
    CHECK(msg->conid != 0);
    CHECK_EQ(msg->kind, SIPWIRE_MESSAGE_SIP);
    CHECK(msg->len > 0 && msg->data != NULL);
    char cmd[128] = "reply";
    header_value(msg->data, msg->len, "X-Cmd", cmd, sizeof cmd);
    int rc = 0;
    if (strcmp(cmd, "reply") == 0) {
        reply_200(msg);
    } else if (strcmp(cmd, "ops") == 0) {
        cb_ops(rt, msg);
    } else if (strcmp(cmd, "reenter") == 0) {
        cb_reenter(rt, msg);
    } else if (strcmp(cmd, "keep") == 0) {
        sipwire_message *copy = NULL;
        CHECK_RES(sipwire_message_copy(msg, &copy), SIPWIRE_RESULT_OK);
        pthread_mutex_lock(&x->mu);
        sipwire_message_free(x->kept);
        x->kept = copy;
        pthread_mutex_unlock(&x->mu);
        reply_200(msg);
    } else if (strncmp(cmd, "pin ", 4) == 0) {
        cb_pin(rt, msg, cmd + 4);
    } else if (strcmp(cmd, "fail") == 0) {
        rc = 1;
    } else {
        fprintf(stderr, "    on_message: unknown X-Cmd \"%s\"\n", cmd);
        CHECK(0);
    }
    return rc;
}

void on_event(void *userdata, const sipwire_event *ev) {
    struct cbctx *x = userdata;
    pthread_mutex_lock(&x->mu);
    sipwire_runtime *rt = x->rt;
    if (x->nevents < (int)(sizeof x->events / sizeof x->events[0])) {
        struct ev_rec *r = &x->events[x->nevents++];
        r->conid = ev->conid;
        r->reason = (int)ev->reason;
        r->has_name = ev->name != NULL;
        snprintf(r->name, sizeof r->name, "%s", ev->name ? ev->name : "");
        r->remote = ev->remote;
        r->unsent_msgs = ev->unsent_msgs;
        r->unsent_bytes = ev->unsent_bytes;
    }
    pthread_mutex_unlock(&x->mu);
    /* The connection is gone by now; the API is callable from here. */
    CHECK(ev->conid != 0);
    CHECK_RES(sipwire_runtime_shutdown(rt), SIPWIRE_RESULT_WRONG_THREAD);
    sipwire_conn_info info;
    CHECK_RES(sipwire_conn_get_info(rt, ev->conid, &info), SIPWIRE_RESULT_NO_SUCH_CONNECTION);
    pthread_mutex_lock(&x->mu);
    cb_signal(x);
}

void on_unsent(void *userdata, const sipwire_unsent *u) {
    struct cbctx *x = userdata;
    pthread_mutex_lock(&x->mu);
    if (x->nunsent < (int)(sizeof x->unsent / sizeof x->unsent[0])) {
        struct unsent_rec *r = &x->unsent[x->nunsent++];
        r->conid = u->conid;
        r->len = u->len;
        memcpy(r->data, u->data, u->len < sizeof r->data ? u->len : sizeof r->data);
    }
    cb_signal(x);
}

/* Sends an OPTIONS with X-Cmd: cmd on c and checks the client receives `expect` responses
 * (statuses, in order). */
static void request(int c, const char *cmd, const char *callid, int cseq, const char **expect,
                    int nexpect) {
    char hdr[160], req[1024], want[4096];
    snprintf(hdr, sizeof hdr, "X-Cmd: %s\r\n", cmd);
    size_t n = build_options(req, sizeof req, callid, cseq, hdr);
    CHECK_EQ(send_all(c, req, n), 0);
    size_t wl = 0;
    for (int i = 0; i < nexpect; i++)
        wl += build_response(want + wl, sizeof want - wl, expect[i], callid, cseq);
    CHECK(expect_bytes(c, want, wl));
}

static const char *OK200[] = {"200 OK"};

void test_callbacks(struct cbctx *x, uint16_t port) {
    section("5. callback mode");
    sipwire_runtime *rt = x->rt;
    int c = tcp_connect_local(port);
    REQUIRE(c >= 0);
    sipwire_addr client = sock_name(c), server = peer_name(c);

    request(c, "reply", "cb-1", 1, OK200, 1);
    uint64_t conid = cb_last_conid(x);
    CHECK(conid != 0);
    printf("   reply ok, conid %" PRIu64 "\n", conid);
    request(c, "ops", "cb-2", 2, OK200, 1);
    const char *three[] = {"100 Trying", "180 Ringing", "200 OK"};
    request(c, "reenter", "cb-3", 3, three, 3);
    request(c, "keep", "cb-4", 4, OK200, 1);
    CHECK_EQ(cb_last_conid(x), conid);

    /* sipwire_reply outside a callback. */
    pthread_mutex_lock(&x->mu);
    sipwire_message *kept = x->kept;
    x->kept = NULL;
    pthread_mutex_unlock(&x->mu);
    CHECK(kept != NULL);
    if (kept != NULL) {
        CHECK_EQ(kept->conid, conid);
        CHECK(addr_eq(&kept->source, &client));
        CHECK(addr_eq(&kept->local, &server));
        CHECK_RES(sipwire_reply(kept, (const uint8_t *)"x", 1, NULL), SIPWIRE_RESULT_WRONG_STATE);
        sipwire_message_free(kept);
    }
    sipwire_message zero;
    memset(&zero, 0, sizeof zero);
    CHECK_RES(sipwire_reply(&zero, (const uint8_t *)"x", 1, NULL), SIPWIRE_RESULT_WRONG_STATE);
    CHECK_RES(sipwire_reply(NULL, (const uint8_t *)"x", 1, NULL), SIPWIRE_RESULT_NULL_PARAMETER);

    /* What the callbacks set shows outside. */
    sipwire_conn_info info;
    CHECK_RES(sipwire_conn_get_info(rt, conid, &info), SIPWIRE_RESULT_OK);
    CHECK_EQ(info.conid, conid);
    CHECK_EQ(info.state, 1);
    CHECK_EQ(info.outbound, 0);
    CHECK_EQ(info.keepalive, 0);
    CHECK_EQ(info.lifetime_ms, 100000);
    CHECK(addr_eq(&info.peer, &client));
    CHECK(addr_eq(&info.local, &server));
    CHECK_EQ(info.queued_bytes, 0);

    /* Outside callbacks: conid 0 names nothing. */
    CHECK_EQ(sipwire_tcp_conid_alive(rt, 0), -1);
    CHECK_EQ(sipwire_tcp_conid_state(rt, 0), -1);
    CHECK_EQ(sipwire_tcp_keepalive_enable(rt, 0, 30, 3, 10), -1);
    CHECK_EQ(sipwire_tcp_keepalive_disable(rt, 0), -1);
    CHECK_EQ(sipwire_tcp_set_connection_lifetime(rt, 0, 100), -1);
    CHECK_EQ(sipwire_tcp_enable_closed_event(rt, 0), -1);
    CHECK_EQ(sipwire_tcp_close_connection(rt, 0), -1);
    /* An unknown conid. */
    const uint64_t unknown = 0xdeadbeefULL;
    CHECK_EQ(sipwire_tcp_conid_alive(rt, unknown), -1);
    CHECK_EQ(sipwire_tcp_conid_state(rt, unknown), -1);
    CHECK_EQ(sipwire_tcp_keepalive_enable(rt, unknown, 30, 3, 10), -1);
    CHECK_EQ(sipwire_tcp_keepalive_disable(rt, unknown), -1);
    CHECK_EQ(sipwire_tcp_set_connection_lifetime(rt, unknown, 100), -1);
    CHECK_EQ(sipwire_tcp_enable_closed_event(rt, unknown), -1);
    CHECK_EQ(sipwire_tcp_close_connection(rt, unknown), -1);
    CHECK_RES(sipwire_send(rt, unknown, (const uint8_t *)"x", 1, NULL),
              SIPWIRE_RESULT_NO_SUCH_CONNECTION);
    CHECK_RES(sipwire_conn_get_info(rt, unknown, &info), SIPWIRE_RESULT_NO_SUCH_CONNECTION);
    /* By conid, from outside. */
    CHECK_EQ(sipwire_tcp_conid_alive(rt, conid), 1);
    CHECK_EQ(sipwire_tcp_keepalive_enable(rt, conid, 60, 5, 15), 1);
    CHECK_RES(sipwire_conn_get_info(rt, conid, &info), SIPWIRE_RESULT_OK);
    CHECK_EQ(info.keepalive, 1);
    CHECK_EQ(info.keepalive_idle, 60);
    CHECK_EQ(info.keepalive_count, 5);
    CHECK_EQ(info.keepalive_interval, 15);
    CHECK_EQ(sipwire_tcp_keepalive_enable(rt, conid, 60, -5, 15), -1);
    CHECK_EQ(sipwire_tcp_set_connection_lifetime(rt, conid, 200), 1);
    CHECK_RES(sipwire_conn_get_info(rt, conid, &info), SIPWIRE_RESULT_OK);
    CHECK_EQ(info.lifetime_ms, 200000);
    CHECK_EQ(sipwire_tcp_enable_closed_event(rt, conid), 1);
    /* force_tcp_alias by conid from outside (port 0: 5060); conid 0 names nothing here. */
    CHECK_EQ(sipwire_force_tcp_alias(rt, conid, 7006), 1);
    uint64_t aliased = 0;
    CHECK_EQ(sipwire_tcp_get_conid(rt, "127.0.0.1:7006", &aliased), 1);
    CHECK_EQ(aliased, conid);
    CHECK_EQ(sipwire_force_tcp_alias(rt, 0, 7007), -1);
    CHECK_EQ(sipwire_force_tcp_alias(rt, unknown, 7007), -1);
    CHECK_EQ(sipwire_force_tcp_alias(NULL, conid, 7007), -1);
    /* otcpid only inside on_message. */
    CHECK_EQ(sipwire_tcp_set_otcpid(rt, conid), -1);
    CHECK_EQ(sipwire_tcp_set_otcpid_flag(rt, 1), -1);
    CHECK_EQ(sipwire_tcp_set_otcpid_flag(rt, 0), -1);

    /* tcp_get_conid. */
    char hp[64];
    snprintf(hp, sizeof hp, "127.0.0.1:%u", client.port);
    uint64_t found = 0;
    CHECK_EQ(sipwire_tcp_get_conid(rt, hp, &found), 1);
    CHECK_EQ(found, conid);
    found = 7;
    CHECK_EQ(sipwire_tcp_get_conid(rt, "127.0.0.1:1", &found), -1);
    CHECK_EQ(found, 7);
    CHECK_EQ(sipwire_tcp_get_conid(rt, "[::1]:1", &found), -1);
    CHECK_EQ(sipwire_tcp_get_conid(rt, NULL, &found), -1);
    CHECK_EQ(sipwire_tcp_get_conid(rt, hp, NULL), -1);

    /* sipwire_connections. */
    size_t n = 0;
    CHECK_RES(sipwire_connections(rt, NULL, 0, &n), SIPWIRE_RESULT_INSUFFICIENT_SIZE);
    CHECK_EQ(n, 1);
    uint64_t ids[8] = {0};
    CHECK_RES(sipwire_connections(rt, ids, 8, &n), SIPWIRE_RESULT_OK);
    CHECK_EQ(n, 1);
    CHECK_EQ(ids[0], conid);
    CHECK_RES(sipwire_connections(rt, NULL, 8, &n), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_connections(NULL, ids, 8, &n), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_conn_get_info(NULL, conid, &info), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_conn_get_info(rt, conid, NULL), SIPWIRE_RESULT_NULL_PARAMETER);

    /* tcp_close_connection: EOF at the client and an APPLICATION event. */
    CHECK_EQ(sipwire_tcp_close_connection(rt, conid), 1);
    CHECK_EQ(wait_eof(c), 1);
    close(c);
    struct ev_rec ev;
    if (wait_cb_event(x, conid, &ev)) {
        CHECK_EQ(ev.reason, SIPWIRE_CLOSE_APPLICATION);
        CHECK_EQ(ev.has_name, 0);
        CHECK(addr_eq(&ev.remote, &client));
    } else {
        CHECK(!"close event after sipwire_tcp_close_connection");
    }
    CHECK_EQ(sipwire_tcp_conid_alive(rt, conid), -1);
    CHECK_RES(sipwire_conn_get_info(rt, conid, &info), SIPWIRE_RESULT_NO_SUCH_CONNECTION);
    CHECK_RES(sipwire_send(rt, conid, (const uint8_t *)"x", 1, NULL),
              SIPWIRE_RESULT_NO_SUCH_CONNECTION);

    /* on_message failing closes the connection. */
    c = tcp_connect_local(port);
    CHECK(c >= 0);
    if (c >= 0) {
        uint64_t before = stat_of(rt, "handler_errors");
        char req[1024];
        size_t rn = build_options(req, sizeof req, "cb-fail", 1, "X-Cmd: fail\r\n");
        CHECK_EQ(send_all(c, req, rn), 0);
        CHECK_EQ(wait_eof(c), 1);
        close(c);
        uint64_t fconid = cb_last_conid(x);
        CHECK(fconid != conid && fconid != 0);
        if (wait_cb_event(x, fconid, &ev))
            CHECK_EQ(ev.reason, SIPWIRE_CLOSE_APPLICATION);
        else
            CHECK(!"close event after a failed on_message");
        CHECK_EQ(stat_of(rt, "handler_errors"), before + 1);
    }

    /* A peer close in callback mode. */
    c = tcp_connect_local(port);
    CHECK(c >= 0);
    if (c >= 0) {
        request(c, "reply", "cb-peer", 1, OK200, 1);
        uint64_t pconid = cb_last_conid(x);
        close(c);
        if (wait_cb_event(x, pconid, &ev)) {
            CHECK_EQ(ev.reason, SIPWIRE_CLOSE_PEER_CLOSED);
            CHECK(ev.has_name && strcmp(ev.name, "tcp:closed") == 0);
        } else {
            CHECK(!"tcp:closed event in callback mode");
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* 6. Sending by destination, runtime cfg                                                   */

void test_send_to(struct cbctx *x, uint16_t port) {
    section("6. send by destination, runtime cfg");
    sipwire_runtime *rt = x->rt;
    uint16_t hop_port = 0;
    int hop = tcp_listen_local(&hop_port);
    REQUIRE(hop >= 0);
    char dest[64], req[1024];
    snprintf(dest, sizeof dest, "tcp:127.0.0.1:%u", hop_port);

    /* send_to opens a connection to the next hop. */
    size_t n = build_options(req, sizeof req, "hop-1", 1, NULL);
    sipwire_sent out = {.conid = 0};
    CHECK_RES(sipwire_send_to(rt, dest, (const uint8_t *)req, n, &out), SIPWIRE_RESULT_OK);
    uint64_t hop_conid = out.conid;
    CHECK(hop_conid != 0);
    /* Connected at once, or waiting for the connect. */
    CHECK(out.delivery == SIPWIRE_DELIVERY_WRITTEN || out.delivery == SIPWIRE_DELIVERY_QUEUED);
    int a = accept_timeout(hop);
    CHECK(a >= 0);
    if (a < 0) {
        close(hop);
        return;
    }
    CHECK(expect_bytes(a, req, n));
    sipwire_conn_info info;
    CHECK_RES(sipwire_conn_get_info(rt, hop_conid, &info), SIPWIRE_RESULT_OK);
    CHECK_EQ(info.outbound, 1);
    CHECK_EQ(info.peer.port, hop_port);
    sipwire_addr hop_peer = peer_name(a);
    CHECK(addr_eq(&info.local, &hop_peer));

    /* send_sockaddr reuses it. */
    struct sockaddr_in sin = loopback(hop_port);
    n = build_options(req, sizeof req, "hop-2", 2, NULL);
    out.conid = 0;
    CHECK_RES(sipwire_send_sockaddr(rt, (const struct sockaddr *)&sin, sizeof sin,
                                    (const uint8_t *)req, n, &out),
              SIPWIRE_RESULT_OK);
    CHECK_EQ(out.conid, hop_conid);
    CHECK_EQ(out.delivery, SIPWIRE_DELIVERY_WRITTEN);
    CHECK(expect_bytes(a, req, n));
    /* "host:port" without tcp: reuses it too. */
    char dest2[64];
    snprintf(dest2, sizeof dest2, "127.0.0.1:%u", hop_port);
    n = build_options(req, sizeof req, "hop-3", 3, NULL);
    CHECK_RES(sipwire_send_to(rt, dest2, (const uint8_t *)req, n, &out), SIPWIRE_RESULT_OK);
    CHECK_EQ(out.conid, hop_conid);
    CHECK(expect_bytes(a, req, n));
    /* tcp_get_conid finds the outbound connection by its peer. */
    uint64_t found = 0;
    CHECK_EQ(sipwire_tcp_get_conid(rt, dest2, &found), 1);
    CHECK_EQ(found, hop_conid);
    /* A reply from the next hop comes back as a message on hop_conid. */

    /* Bad destinations and arguments. */
    CHECK_RES(sipwire_send_to(rt, "garbage:", (const uint8_t *)req, n, NULL),
              SIPWIRE_RESULT_INVALID_ARGUMENT);
    CHECK_RES(sipwire_send_to(rt, "tcp:", (const uint8_t *)req, n, NULL),
              SIPWIRE_RESULT_INVALID_ARGUMENT);
    CHECK_RES(sipwire_send_to(rt, "tcp:127.0.0.1:99999", (const uint8_t *)req, n, NULL),
              SIPWIRE_RESULT_INVALID_ARGUMENT);
    CHECK_RES(sipwire_send_to(rt, NULL, (const uint8_t *)req, n, NULL),
              SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_send_to(rt, dest, NULL, n, NULL), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_send_to(rt, dest, (const uint8_t *)req, 0, NULL),
              SIPWIRE_RESULT_INVALID_ARGUMENT);
    CHECK_RES(sipwire_send_to(NULL, dest, (const uint8_t *)req, n, NULL),
              SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_send_sockaddr(rt, NULL, sizeof sin, (const uint8_t *)req, n, NULL),
              SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_send_sockaddr(rt, (const struct sockaddr *)&sin, 4, (const uint8_t *)req, n,
                                    NULL),
              SIPWIRE_RESULT_INVALID_ARGUMENT);
    {
        struct sockaddr_un sun;
        memset(&sun, 0, sizeof sun);
        sun.sun_family = AF_UNIX;
        CHECK_RES(sipwire_send_sockaddr(rt, (const struct sockaddr *)&sun, sizeof sun,
                                        (const uint8_t *)req, n, NULL),
                  SIPWIRE_RESULT_INVALID_ARGUMENT);
    }

    /* otcpid inside on_message: a send to a closed port goes to the pinned next hop. */
    {
        int c = tcp_connect_local(port);
        CHECK(c >= 0);
        if (c >= 0) {
            char cmd[96];
            snprintf(cmd, sizeof cmd, "pin %" PRIu64 " %u", hop_conid, closed_port());
            request(c, cmd, "cb-pin", 1, OK200, 1);
            n = build_options(req, sizeof req, "pinned", 1, NULL);
            CHECK(expect_bytes(a, req, n));
            close(c);
        }
    }

    /* A destination nobody listens on: refused now, or later as an event plus unsent. */
    {
        char cdest[64];
        snprintf(cdest, sizeof cdest, "tcp:127.0.0.1:%u", closed_port());
        n = build_options(req, sizeof req, "refused", 1, NULL);
        out.conid = 0;
        sipwire_result r = sipwire_send_to(rt, cdest, (const uint8_t *)req, n, &out);
        CHECK(r == SIPWIRE_RESULT_OK || r == SIPWIRE_RESULT_CONNECT_REFUSED);
        if (r == SIPWIRE_RESULT_OK) {
            CHECK(out.conid != 0);
            /* It waited for the connect, which failed. */
            CHECK_EQ(out.delivery, SIPWIRE_DELIVERY_QUEUED);
            struct ev_rec ev;
            CHECK(wait_cb_event(x, out.conid, &ev));
            CHECK_EQ(ev.reason, SIPWIRE_CLOSE_CONNECT_REFUSED);
            CHECK_EQ(ev.has_name, 0);
            CHECK_EQ(ev.unsent_msgs, 1);
            CHECK_EQ(ev.unsent_bytes, n);
            struct unsent_rec u;
            CHECK(wait_cb_unsent(x, out.conid, &u));
            CHECK(u.len == n && memcmp(u.data, req, n) == 0);
            printf("   refused: async (event + unsent)\n");
        } else {
            printf("   refused: at once\n");
        }
    }

    /* Runtime cfg: tcp.no_connect. */
    int64_t v = -1;
    CHECK_RES(sipwire_runtime_get_int(rt, "tcp", "no_connect", &v), SIPWIRE_RESULT_OK);
    CHECK_EQ(v, 0);
    CHECK_RES(sipwire_runtime_set_now_int(rt, "tcp", "no_connect", 1), SIPWIRE_RESULT_OK);
    CHECK_RES(sipwire_runtime_get_int(rt, "tcp", "no_connect", &v), SIPWIRE_RESULT_OK);
    CHECK_EQ(v, 1);
    {
        uint16_t p2 = 0;
        int other = tcp_listen_local(&p2);
        CHECK(other >= 0);
        char odest[64];
        snprintf(odest, sizeof odest, "tcp:127.0.0.1:%u", p2);
        n = build_options(req, sizeof req, "noconnect", 1, NULL);
        CHECK_RES(sipwire_send_to(rt, odest, (const uint8_t *)req, n, NULL),
                  SIPWIRE_RESULT_NO_CONNECT);
        struct sockaddr_in s2 = loopback(p2);
        CHECK_RES(sipwire_send_sockaddr(rt, (const struct sockaddr *)&s2, sizeof s2,
                                        (const uint8_t *)req, n, NULL),
                  SIPWIRE_RESULT_NO_CONNECT);
        /* Nothing connected to it. */
        struct pollfd p = {.fd = other, .events = POLLIN};
        CHECK_EQ(poll(&p, 1, 0), 0);
        if (other >= 0)
            close(other);
    }
    /* The open connection still carries sends. */
    n = build_options(req, sizeof req, "hop-4", 4, NULL);
    CHECK_RES(sipwire_send_to(rt, dest, (const uint8_t *)req, n, &out), SIPWIRE_RESULT_OK);
    CHECK_EQ(out.conid, hop_conid);
    CHECK(expect_bytes(a, req, n));
    CHECK_RES(sipwire_runtime_set_now_int(rt, "tcp", "no_connect", 0), SIPWIRE_RESULT_OK);
    CHECK_RES(sipwire_runtime_get_int(rt, "tcp", "no_connect", &v), SIPWIRE_RESULT_OK);
    CHECK_EQ(v, 0);

    /* Other set_now / get results. */
    CHECK_RES(sipwire_runtime_set_now_int(rt, "tcp", "connection_lifetime", 300),
              SIPWIRE_RESULT_OK);
    CHECK_RES(sipwire_runtime_get_int(rt, "tcp", "connection_lifetime", &v), SIPWIRE_RESULT_OK);
    CHECK_EQ(v, 300);
    CHECK_RES(sipwire_runtime_set_now_string(rt, "tcp", "connection_lifetime", "400"),
              SIPWIRE_RESULT_OK);
    CHECK_RES(sipwire_runtime_get_int(rt, "tcp", "connection_lifetime", &v), SIPWIRE_RESULT_OK);
    CHECK_EQ(v, 400);
    CHECK_RES(sipwire_runtime_set_now_string(rt, "tcp", "no_connect", "yes"), SIPWIRE_RESULT_OK);
    CHECK_RES(sipwire_runtime_get_int(rt, "tcp", "no_connect", &v), SIPWIRE_RESULT_OK);
    CHECK_EQ(v, 1);
    CHECK_RES(sipwire_runtime_set_now_string(rt, "tcp", "no_connect", "no"), SIPWIRE_RESULT_OK);
    CHECK_RES(sipwire_runtime_set_now_string(rt, "tcp", "connection_lifetime", "soon"),
              SIPWIRE_RESULT_BAD_VALUE);
    CHECK_RES(sipwire_runtime_set_now_int(rt, "tcp", "connection_lifetime", -1),
              SIPWIRE_RESULT_OUT_OF_RANGE);
    CHECK_RES(sipwire_runtime_set_now_int(rt, "tcp", "no_such_name", 1),
              SIPWIRE_RESULT_UNKNOWN_OPTION);
    CHECK_RES(sipwire_runtime_set_now_int(rt, "nogroup", "no_connect", 1),
              SIPWIRE_RESULT_UNKNOWN_OPTION);
    CHECK_RES(sipwire_runtime_set_now_int(rt, "core", "tcp_children", 4), SIPWIRE_RESULT_READ_ONLY);
    CHECK_RES(sipwire_runtime_get_int(rt, "core", "tcp_children", &v), SIPWIRE_RESULT_OK);
    CHECK_EQ(v, 2);
    CHECK_RES(sipwire_runtime_set_now_string(rt, "core", "tcp_children", "4"),
              SIPWIRE_RESULT_READ_ONLY);
    CHECK_RES(sipwire_runtime_get_int(rt, "tcp", "no_such_name", &v),
              SIPWIRE_RESULT_UNKNOWN_OPTION);
    CHECK_RES(sipwire_runtime_set_now_int(rt, "tcpops", "closed_event", 1), SIPWIRE_RESULT_OK);
    /* NULLs. */
    CHECK_RES(sipwire_runtime_set_now_int(NULL, "tcp", "no_connect", 1),
              SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_runtime_set_now_int(rt, NULL, "no_connect", 1),
              SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_runtime_set_now_int(rt, "tcp", NULL, 1), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_runtime_set_now_string(rt, "tcp", "no_connect", NULL),
              SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_runtime_set_now_string(NULL, "tcp", "no_connect", "1"),
              SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_runtime_set_now_string(rt, NULL, "no_connect", "1"),
              SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_runtime_get_int(rt, "tcp", "no_connect", NULL),
              SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_runtime_get_int(NULL, "tcp", "no_connect", &v),
              SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_runtime_get_int(rt, NULL, "no_connect", &v), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_runtime_get_int(rt, "tcp", NULL, &v), SIPWIRE_RESULT_NULL_PARAMETER);

    /* The next hop closes: tcp:closed for the outbound connection. */
    close(a);
    struct ev_rec ev;
    if (wait_cb_event(x, hop_conid, &ev)) {
        CHECK_EQ(ev.reason, SIPWIRE_CLOSE_PEER_CLOSED);
        CHECK_EQ(ev.remote.port, hop_port);
    } else {
        CHECK(!"tcp:closed for the outbound connection");
    }
    close(hop);
}
