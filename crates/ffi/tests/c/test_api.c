/*
 * test_api.c: the C test suite of libsipwire's API (include/sipwire.h).
 *
 * Exercises every function of the header against real runtimes on 127.0.0.1 (port 0
 * everywhere), talking to them with plain TCP sockets: configuration, result messages,
 * addresses, the queue mode (eventfd + sipwire_next), the callback mode (replies, tcpops,
 * re-entry), sends by destination, runtime cfg changes, counters, the control socket,
 * fork(), and shutdown with traffic in flight. Every wait is on a condition with a deadline.
 *
 * This file holds main(): the arguments, the order of the sections, the summary. The sections
 * are in test_config.c (1-3), test_queue.c (4), test_callbacks.c (5-6), test_admin.c (7-8)
 * and test_lifecycle.c (9-10, NULL tcpops), declared in tests.h; the settings and shared
 * helpers in support.h/support.c; the checks in check.h.
 *
 * Usage: test_api [--valgrind]   (--valgrind: less traffic and longer deadlines; --exit-with N
 * is internal, see child_exit in test_lifecycle.c)
 * Exit status 0 when every check passed. Built and run by crates/ffi/tests/c_api.rs under
 * ASan/UBSan and valgrind.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "support.h"
#include "tests.h"

int main(int argc, char **argv) {
    g_argv0 = argv[0];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--exit-with") == 0 && i + 1 < argc) {
            _exit(atoi(argv[i + 1])); /* see child_exit */
        } else if (strcmp(argv[i], "--valgrind") == 0) {
            g_timeout_ms = 30000;
            g_messages = 8;
        } else {
            fprintf(stderr, "usage: %s [--valgrind]\n", argv[0]);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&g_cb.cv, &ca);
        pthread_condattr_destroy(&ca);
    }

    test_config();
    test_results();
    test_bind_and_addrs();
    test_null_tcpops();

    struct qstate q = {0};
    q.rt = start_runtime(NULL, &q.port);
    if (q.rt != NULL) {
        test_queue(&q);
        test_queue_unsent(&q);
        test_queue_limit();
    }

    uint16_t cb_port = 0;
    sipwire_callbacks cb = {
        .userdata = &g_cb,
        .on_message = on_message,
        .on_event = on_event,
        .on_unsent = on_unsent,
    };
    sipwire_runtime *rt_cb = start_runtime(&cb, &cb_port);
    if (rt_cb != NULL) {
        pthread_mutex_lock(&g_cb.mu);
        g_cb.rt = rt_cb;
        pthread_mutex_unlock(&g_cb.mu);
        test_callbacks(&g_cb, cb_port);
        test_send_to(&g_cb, cb_port);
        pthread_mutex_lock(&g_cb.mu);
        int seen = g_cb.messages;
        pthread_mutex_unlock(&g_cb.mu);
        uint64_t m = stat_of(rt_cb, "messages");
        CHECK(m != UINT64_MAX && m >= (uint64_t)seen);
        CHECK_RES(sipwire_runtime_free(rt_cb), SIPWIRE_RESULT_OK);
        pthread_mutex_lock(&g_cb.mu);
        sipwire_message_free(g_cb.kept);
        g_cb.kept = NULL;
        pthread_mutex_unlock(&g_cb.mu);
    }

    if (q.rt != NULL) {
        test_stats(&q);
        test_control(&q);
    }
    test_proxy();
    test_fork();
    if (q.rt != NULL)
        test_shutdown(&q);
    if (q.rt != NULL)
        sipwire_runtime_free(q.rt);
    pthread_cond_destroy(&g_cb.cv);
    return check_summary("test_api");
}
