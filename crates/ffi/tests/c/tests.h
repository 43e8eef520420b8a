/*
 * tests.h: the entry points of the C API test suite's sections, which main() (test_api.c)
 * calls in order, and the callback-mode context main() sets up and tears down around
 * sections 5-6. One file per area: test_config.c, test_queue.c, test_callbacks.c,
 * test_admin.c, test_lifecycle.c.
 */
#ifndef SIPWIRE_TEST_TESTS_H
#define SIPWIRE_TEST_TESTS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "sipwire.h"
#include "support.h"

/* ---------------------------------------------------------------------------------------- */
/* test_config.c                                                                            */

/* 1. Config: text, files, set, queue limit, errors, NULL arguments. */
void test_config(void);
/* 2. Result messages and close reasons in words. */
void test_results(void);
/* 3. Bind failure, listen addresses, address conversions. */
void test_bind_and_addrs(void);

/* ---------------------------------------------------------------------------------------- */
/* test_queue.c                                                                             */

/* 4. Queue mode on q's runtime: messages, copies, sends by conid, close events. */
void test_queue(struct qstate *q);
/* 4c. A send to a closed port in queue mode: refused, or UNSENT then its close event. */
void test_queue_unsent(struct qstate *q);
/* 4b. A queue limit of 2 (its own runtime): the third message refused. */
void test_queue_limit(void);

/* ---------------------------------------------------------------------------------------- */
/* test_callbacks.c                                                                         */

/* A close event as on_event saw it. */
struct ev_rec {
    uint64_t conid;
    int reason;
    int has_name;
    char name[32];
    sipwire_addr remote;
    size_t unsent_msgs, unsent_bytes;
};

/* An unsent message as on_unsent saw it. */
struct unsent_rec {
    uint64_t conid;
    size_t len;
    char data[1024];
};

/* What the callbacks record; main() inits cv (CLOCK_MONOTONIC) and sets rt. */
struct cbctx {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sipwire_runtime *rt;
    int messages;
    uint64_t last_conid;
    sipwire_message *kept; /* a copy made by X-Cmd: keep */
    struct ev_rec events[64];
    int nevents;
    struct unsent_rec unsent[8];
    int nunsent;
};

/* The callbacks' context, the userdata of the callback-mode runtime. */
extern struct cbctx g_cb;

/* on_message: acts on the request's X-Cmd header (reply, ops, reenter, keep, pin, fail). */
int on_message(void *userdata, const sipwire_message *msg);
/* on_event: records the close event and checks the API is callable from there. */
void on_event(void *userdata, const sipwire_event *ev);
/* on_unsent: records the unsent message. */
void on_unsent(void *userdata, const sipwire_unsent *u);

/* 5. Callback mode on x's runtime (listening on port): replies, tcpops, re-entry. */
void test_callbacks(struct cbctx *x, uint16_t port);
/* 6. Sends by destination and runtime cfg changes on x's runtime. */
void test_send_to(struct cbctx *x, uint16_t port);

/* ---------------------------------------------------------------------------------------- */
/* test_admin.c                                                                             */

/* 7. Counters of q's runtime. */
void test_stats(struct qstate *q);
/* 8. The control socket of q's runtime. */
void test_control(struct qstate *q);
/* 11. The PROXY-announced source in messages and connection info. */
void test_proxy(void);

/* ---------------------------------------------------------------------------------------- */
/* test_lifecycle.c                                                                         */

/* 10. fork(): every call in the child refused, the parent's runtime unaffected. */
void test_fork(void);
/* 9. Shutdown of q's runtime with traffic in flight; frees it (q->rt = NULL). */
void test_shutdown(struct qstate *q);
/* tcpops with a NULL runtime: -1. */
void test_null_tcpops(void);

#endif /* SIPWIRE_TEST_TESTS_H */
