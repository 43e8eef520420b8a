/*
 * test_queue.c: section 4 of the C API test suite: the queue mode (eventfd + sipwire_next):
 * messages in order, copies, sends by conid, close events, unsent messages, the queue limit.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"
#include "tests.h"

/* ---------------------------------------------------------------------------------------- */
/* 4. Queue mode                                                                            */

void test_queue(struct qstate *q) {
    section("4. queue mode");
    int fd = sipwire_runtime_fd(q->rt);
    CHECK(fd >= 0);
    /* Nothing waits yet. */
    sipwire_item *it = NULL;
    CHECK_RES(sipwire_next(q->rt, &it), SIPWIRE_RESULT_EMPTY);
    CHECK(it == NULL);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    CHECK_EQ(poll(&pfd, 1, 0), 0);

    int c = tcp_connect_local(q->port);
    REQUIRE(c >= 0);
    sipwire_addr client = sock_name(c), server = peer_name(c);

    /* Send the messages, each as its own write. */
    int nmsg = g_messages;
    char (*sent)[1024] = calloc((size_t)nmsg, sizeof *sent);
    size_t *lens = calloc((size_t)nmsg, sizeof *lens);
    REQUIRE(sent != NULL && lens != NULL);
    for (int i = 0; i < nmsg; i++) {
        char callid[32];
        snprintf(callid, sizeof callid, "queue-%d", i);
        lens[i] = build_options(sent[i], sizeof sent[i], callid, i + 1, NULL);
        CHECK(lens[i] > 0);
        CHECK_EQ(send_all(c, sent[i], lens[i]), 0);
    }

    /* The fd becomes readable; drain in order. */
    pfd.revents = 0;
    CHECK_EQ(poll(&pfd, 1, g_timeout_ms), 1);
    uint64_t conid = 0;
    for (int i = 0; i < nmsg; i++) {
        it = next_item(q->rt);
        CHECK(it != NULL);
        if (it == NULL)
            break;
        CHECK_EQ(sipwire_item_get_kind(it), (uint32_t)SIPWIRE_ITEM_MESSAGE);
        CHECK(sipwire_item_event(it) == NULL);
        CHECK(sipwire_item_unsent(it) == NULL);
        const sipwire_message *m = sipwire_item_message(it);
        CHECK(m != NULL);
        if (m == NULL) {
            sipwire_item_free(it);
            break;
        }
        q->delivered++;
        CHECK(m->conid != 0);
        if (i == 0)
            conid = m->conid;
        CHECK_EQ(m->conid, conid);
        CHECK_EQ(m->kind, SIPWIRE_MESSAGE_SIP);
        CHECK_EQ(m->proto, SIPWIRE_PROTO_TCP);
        CHECK_EQ(m->len, lens[i]);
        CHECK(m->len == lens[i] && memcmp(m->data, sent[i], lens[i]) == 0);
        CHECK_EQ(m->body_start, m->len); /* Content-Length: 0: the body starts at the end */
        CHECK(m->chunks >= 1);
        CHECK(addr_eq(&m->source, &client));
        CHECK(addr_eq(&m->peer, &client));
        CHECK(addr_eq(&m->local, &server));
        if (i == 0) {
            /* A copy outlives the item. */
            sipwire_message *copy = NULL;
            CHECK_RES(sipwire_message_copy(m, &copy), SIPWIRE_RESULT_OK);
            sipwire_item_free(it);
            it = NULL;
            CHECK(copy != NULL);
            if (copy != NULL) {
                CHECK_EQ(copy->conid, conid);
                CHECK_EQ(copy->len, lens[0]);
                CHECK(copy->data != NULL && memcmp(copy->data, sent[0], lens[0]) == 0);
                CHECK(addr_eq(&copy->source, &client));
                CHECK_EQ(copy->body_start, lens[0]);
                /* A copy of a copy, and message_copy's argument checks. */
                sipwire_message *c2 = NULL;
                CHECK_RES(sipwire_message_copy(copy, &c2), SIPWIRE_RESULT_OK);
                CHECK(c2 != NULL && c2->data != copy->data && c2->len == copy->len &&
                      memcmp(c2->data, copy->data, copy->len) == 0);
                sipwire_message_free(c2);
                sipwire_message bogus = *copy;
                bogus.data = NULL;
                CHECK_RES(sipwire_message_copy(&bogus, &c2), SIPWIRE_RESULT_INVALID_ARGUMENT);
                bogus.len = 0;
                CHECK_RES(sipwire_message_copy(&bogus, &c2), SIPWIRE_RESULT_OK);
                CHECK(c2 != NULL && c2->len == 0);
                sipwire_message_free(c2);
                CHECK_RES(sipwire_message_copy(NULL, &c2), SIPWIRE_RESULT_NULL_PARAMETER);
                CHECK_RES(sipwire_message_copy(copy, NULL), SIPWIRE_RESULT_NULL_PARAMETER);
                /* Outside a callback a reply is refused, even for a real message. */
                CHECK_RES(sipwire_reply(copy, (const uint8_t *)"x", 1, NULL),
                          SIPWIRE_RESULT_WRONG_STATE);
            }
            sipwire_message_free(copy);
        }
        sipwire_item_free(it);
    }
    /* Drained: EMPTY, and the fd is not readable. */
    CHECK_RES(sipwire_next(q->rt, &it), SIPWIRE_RESULT_EMPTY);
    pfd.revents = 0;
    CHECK_EQ(poll(&pfd, 1, 0), 0);
    sipwire_message_free(NULL);
    sipwire_item_free(NULL);

    /* The connection as the runtime sees it. */
    sipwire_conn_info info;
    CHECK_RES(sipwire_conn_get_info(q->rt, conid, &info), SIPWIRE_RESULT_OK);
    CHECK_EQ(info.conid, conid);
    CHECK_EQ(info.state, 1);
    CHECK_EQ(info.outbound, 0);
    CHECK_EQ(info.has_proxy, 0);
    CHECK(addr_eq(&info.peer, &client));
    CHECK(addr_eq(&info.source, &client));
    CHECK(addr_eq(&info.local, &server));
    CHECK_EQ(info.proxy_source.family, SIPWIRE_ADDR_NONE);
    CHECK_EQ(info.lifetime_ms, -1);
    CHECK_EQ(sipwire_tcp_conid_alive(q->rt, conid), 1);
    CHECK_EQ(sipwire_tcp_conid_state(q->rt, conid), 1);

    /* Send back by conid; the client reads it. */
    char resp[1024];
    size_t rlen = build_response(resp, sizeof resp, "200 OK", "queue-0", 1);
    sipwire_sent out = {.conid = 0, .delivery = (sipwire_delivery)9};
    CHECK_RES(sipwire_send(q->rt, conid, (const uint8_t *)resp, rlen, &out), SIPWIRE_RESULT_OK);
    CHECK_EQ(out.conid, conid);
    CHECK_EQ(out.delivery, SIPWIRE_DELIVERY_WRITTEN); /* idle socket: written at once */
    CHECK(expect_bytes(c, resp, rlen));
    /* out may be NULL; the buffer is the caller's again at once. */
    char resp2[1024];
    size_t rlen2 = build_response(resp2, sizeof resp2, "200 OK", "queue-1", 2);
    CHECK_RES(sipwire_send(q->rt, conid, (const uint8_t *)resp2, rlen2, NULL), SIPWIRE_RESULT_OK);
    memset(resp2, 'Z', rlen2);
    rlen2 = build_response(resp, sizeof resp, "200 OK", "queue-1", 2);
    CHECK(expect_bytes(c, resp, rlen2));
    /* Bad sends. */
    CHECK_RES(sipwire_send(q->rt, conid, (const uint8_t *)resp, 0, NULL),
              SIPWIRE_RESULT_INVALID_ARGUMENT);
    CHECK_RES(sipwire_send(q->rt, conid, NULL, 5, NULL), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_send(q->rt, 0, (const uint8_t *)resp, rlen, NULL),
              SIPWIRE_RESULT_INVALID_ARGUMENT);
    CHECK_RES(sipwire_send(NULL, conid, (const uint8_t *)resp, rlen, NULL),
              SIPWIRE_RESULT_NULL_PARAMETER);

    /* The client closes: a tcp:closed event. */
    close(c);
    it = next_item(q->rt);
    CHECK(it != NULL);
    if (it != NULL) {
        CHECK_EQ(sipwire_item_get_kind(it), (uint32_t)SIPWIRE_ITEM_EVENT);
        CHECK(sipwire_item_message(it) == NULL);
        CHECK(sipwire_item_unsent(it) == NULL);
        const sipwire_event *ev = sipwire_item_event(it);
        CHECK(ev != NULL);
        if (ev != NULL) {
            CHECK_EQ(ev->conid, conid);
            CHECK_EQ(ev->reason, SIPWIRE_CLOSE_PEER_CLOSED);
            CHECK(ev->name != NULL && strcmp(ev->name, "tcp:closed") == 0);
            CHECK_EQ(ev->proto, SIPWIRE_PROTO_TCP);
            CHECK(addr_eq(&ev->remote, &client));
            CHECK(addr_eq(&ev->source, &client));
            CHECK(addr_eq(&ev->local, &server));
            CHECK_EQ(ev->unsent_msgs, 0);
            CHECK_EQ(ev->unsent_bytes, 0);
        }
        sipwire_item_free(it);
    }
    CHECK_RES(sipwire_next(q->rt, &it), SIPWIRE_RESULT_EMPTY);
    pfd.revents = 0;
    CHECK_EQ(poll(&pfd, 1, 0), 0);
    /* The id is stale now. */
    CHECK_RES(sipwire_send(q->rt, conid, (const uint8_t *)resp, rlen, NULL),
              SIPWIRE_RESULT_NO_SUCH_CONNECTION);
    CHECK_RES(sipwire_conn_get_info(q->rt, conid, &info), SIPWIRE_RESULT_NO_SUCH_CONNECTION);
    CHECK_EQ(sipwire_tcp_conid_alive(q->rt, conid), -1);
    CHECK_EQ(sipwire_tcp_conid_state(q->rt, conid), -1);

    /* NULL arguments of the queue functions. */
    CHECK_RES(sipwire_next(NULL, &it), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_next(q->rt, NULL), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_EQ(sipwire_item_get_kind(NULL), 0);
    CHECK(sipwire_item_message(NULL) == NULL);
    CHECK(sipwire_item_event(NULL) == NULL);
    CHECK(sipwire_item_unsent(NULL) == NULL);
    CHECK_EQ(sipwire_runtime_fd(NULL), -1);
    free(sent);
    free(lens);
}

/* A send to a port nobody listens on, in queue mode: refused at once, or an UNSENT item with
 * the message, then the close event that counts it. */
void test_queue_unsent(struct qstate *q) {
    section("4c. queue mode: unsent");
    char dest[64], req[1024];
    uint16_t cport = closed_port();
    snprintf(dest, sizeof dest, "tcp:127.0.0.1:%u", cport);
    size_t n = build_options(req, sizeof req, "unsent", 1, NULL);
    sipwire_sent out = {.conid = 0};
    sipwire_result r = sipwire_send_to(q->rt, dest, (const uint8_t *)req, n, &out);
    CHECK(r == SIPWIRE_RESULT_OK || r == SIPWIRE_RESULT_CONNECT_REFUSED);
    if (r != SIPWIRE_RESULT_OK) {
        printf("   refused at once\n");
        return;
    }
    CHECK(out.conid != 0);
    CHECK_EQ(out.delivery, SIPWIRE_DELIVERY_QUEUED);
    /* The unsent message comes before its close event. */
    sipwire_item *it = next_item(q->rt);
    CHECK(it != NULL);
    if (it != NULL) {
        CHECK_EQ(sipwire_item_get_kind(it), (uint32_t)SIPWIRE_ITEM_UNSENT);
        CHECK(sipwire_item_message(it) == NULL);
        CHECK(sipwire_item_event(it) == NULL);
        const sipwire_unsent *u = sipwire_item_unsent(it);
        CHECK(u != NULL);
        if (u != NULL) {
            CHECK_EQ(u->conid, out.conid);
            CHECK(u->len == n && memcmp(u->data, req, n) == 0);
        }
        sipwire_item_free(it);
    }
    it = next_item(q->rt);
    CHECK(it != NULL);
    if (it != NULL) {
        CHECK_EQ(sipwire_item_get_kind(it), (uint32_t)SIPWIRE_ITEM_EVENT);
        CHECK(sipwire_item_unsent(it) == NULL);
        const sipwire_event *ev = sipwire_item_event(it);
        CHECK(ev != NULL);
        if (ev != NULL) {
            CHECK_EQ(ev->conid, out.conid);
            CHECK_EQ(ev->reason, SIPWIRE_CLOSE_CONNECT_REFUSED);
            CHECK(ev->name == NULL);
            CHECK_EQ(ev->unsent_msgs, 1);
            CHECK_EQ(ev->unsent_bytes, n);
            CHECK_EQ(ev->remote.port, cport);
        }
        sipwire_item_free(it);
    }
    CHECK_RES(sipwire_next(q->rt, &it), SIPWIRE_RESULT_EMPTY);
    CHECK_RES(sipwire_conn_get_info(q->rt, out.conid, NULL), SIPWIRE_RESULT_NULL_PARAMETER);
    sipwire_conn_info info;
    CHECK_RES(sipwire_conn_get_info(q->rt, out.conid, &info), SIPWIRE_RESULT_NO_SUCH_CONNECTION);
}

/* A queue limit of 2: a third message waiting is refused and its connection closed. */
void test_queue_limit(void) {
    section("4b. queue limit");
    sipwire_config *cfg = make_config();
    REQUIRE(cfg != NULL);
    CHECK_RES(sipwire_config_set_queue_limit(cfg, 2), SIPWIRE_RESULT_OK);
    sipwire_runtime *rt = NULL;
    CHECK_RES(sipwire_runtime_new(cfg, NULL, &rt), SIPWIRE_RESULT_OK);
    sipwire_config_free(cfg);
    REQUIRE(rt != NULL);
    sipwire_addr a;
    size_t n = 0;
    CHECK_RES(sipwire_runtime_listen_addrs(rt, &a, 1, &n), SIPWIRE_RESULT_OK);
    int c = tcp_connect_local(a.port);
    CHECK(c >= 0);
    if (c >= 0) {
        char all[4096];
        size_t len = 0;
        for (int i = 0; i < 3; i++)
            len += build_options(all + len, sizeof all - len, "limit", i + 1, NULL);
        CHECK_EQ(send_all(c, all, len), 0);
        CHECK_EQ(wait_eof(c), 1);
        close(c);
        CHECK(wait_stat(rt, "closed", 1));
        CHECK_EQ(stat_of(rt, "ffi_queue_refused"), 1);
        /* Two messages, then the close event of the refusal. */
        int msgs = 0, events = 0;
        sipwire_item *it;
        while ((it = next_item(rt)) != NULL) {
            uint32_t k = sipwire_item_get_kind(it);
            if (k == (uint32_t)SIPWIRE_ITEM_MESSAGE) {
                msgs++;
                CHECK_EQ(cseq_of(sipwire_item_message(it)->data, sipwire_item_message(it)->len),
                         msgs);
            } else if (k == (uint32_t)SIPWIRE_ITEM_EVENT) {
                events++;
                CHECK_EQ(sipwire_item_event(it)->reason, SIPWIRE_CLOSE_APPLICATION);
            }
            sipwire_item_free(it);
            if (events == 1)
                break;
        }
        CHECK_EQ(msgs, 2);
        CHECK_EQ(events, 1);
    }
    CHECK_RES(sipwire_runtime_free(rt), SIPWIRE_RESULT_OK);
}
