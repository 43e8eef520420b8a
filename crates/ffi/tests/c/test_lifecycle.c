/*
 * test_lifecycle.c: sections 9-10 of the C API test suite and the NULL-runtime tcpops:
 * fork() (every call in the child refused with FORKED, the parent unaffected), and shutdown
 * with traffic in flight (a flood thread sending while the runtime stops).
 */
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"
#include "tests.h"

/* ---------------------------------------------------------------------------------------- */
/* 10. fork                                                                                 */

/* Ends a forked child with `status` without running any exit-time leak check: the runtime
 * the child inherited cannot be freed there (its threads do not exist), so LeakSanitizer at
 * exit, or valgrind at _exit (valgrind checks leaks at _exit too, and its error exit code
 * would replace the status), would report it. exec() replaces the process image, so the
 * child re-executes this program with --exit-with STATUS, which exits at once (a fresh
 * process with nothing to report; not traced by valgrind). _exit if exec fails. */
static void child_exit(int status) {
    fflush(stdout);
    fflush(stderr);
    if (g_argv0 != NULL) {
        char arg[16];
        snprintf(arg, sizeof arg, "%d", status);
        execlp(g_argv0, g_argv0, "--exit-with", arg, (char *)NULL);
    }
    _exit(status);
}

void test_fork(void) {
    section("10. fork");
    uint16_t port = 0;
    sipwire_runtime *rt = start_runtime(NULL, &port);
    REQUIRE(rt != NULL);
    int c = tcp_connect_local(port);
    REQUIRE(c >= 0);
    char req[1024];
    size_t n = build_options(req, sizeof req, "fork-1", 1, NULL);
    CHECK_EQ(send_all(c, req, n), 0);
    sipwire_item *it = next_item(rt);
    REQUIRE(it != NULL && sipwire_item_message(it) != NULL);
    uint64_t conid = sipwire_item_message(it)->conid;
    sipwire_item_free(it);
    /* Something waits in the queue at fork time. */
    n = build_options(req, sizeof req, "fork-2", 2, NULL);
    CHECK_EQ(send_all(c, req, n), 0);
    CHECK(wait_stat(rt, "messages", 2));
    fflush(stdout);
    fflush(stderr);

    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        long before = check_failures();
        sipwire_sent out;
        CHECK_RES(sipwire_send(rt, conid, (const uint8_t *)req, n, &out), SIPWIRE_RESULT_FORKED);
        char dest[64];
        snprintf(dest, sizeof dest, "tcp:127.0.0.1:%u", port);
        CHECK_RES(sipwire_send_to(rt, dest, (const uint8_t *)req, n, &out), SIPWIRE_RESULT_FORKED);
        struct sockaddr_in sin = loopback(port);
        CHECK_RES(sipwire_send_sockaddr(rt, (const struct sockaddr *)&sin, sizeof sin,
                                        (const uint8_t *)req, n, &out),
                  SIPWIRE_RESULT_FORKED);
        sipwire_item *ci = NULL;
        CHECK_RES(sipwire_next(rt, &ci), SIPWIRE_RESULT_FORKED);
        CHECK_EQ(sipwire_runtime_fd(rt), -1);
        CHECK_EQ(sipwire_tcp_conid_alive(rt, conid), -1);
        CHECK_EQ(sipwire_tcp_conid_state(rt, conid), -1);
        CHECK_EQ(sipwire_tcp_keepalive_enable(rt, conid, 30, 3, 10), -1);
        CHECK_EQ(sipwire_tcp_keepalive_disable(rt, conid), -1);
        CHECK_EQ(sipwire_tcp_set_connection_lifetime(rt, conid, 10), -1);
        CHECK_EQ(sipwire_tcp_enable_closed_event(rt, conid), -1);
        CHECK_EQ(sipwire_tcp_close_connection(rt, conid), -1);
        uint64_t found = 0;
        char hp[64];
        snprintf(hp, sizeof hp, "127.0.0.1:%d", local_port_of(c));
        CHECK_EQ(sipwire_tcp_get_conid(rt, hp, &found), -1);
        CHECK_EQ(sipwire_tcp_set_otcpid(rt, conid), -1);
        CHECK_EQ(sipwire_tcp_set_otcpid_flag(rt, 1), -1);
        sipwire_conn_info info;
        CHECK_RES(sipwire_conn_get_info(rt, conid, &info), SIPWIRE_RESULT_FORKED);
        size_t cn = 0;
        CHECK_RES(sipwire_connections(rt, NULL, 0, &cn), SIPWIRE_RESULT_FORKED);
        sipwire_stats *s = NULL;
        CHECK_RES(sipwire_stats_new(rt, &s), SIPWIRE_RESULT_FORKED);
        sipwire_addr a;
        CHECK_RES(sipwire_runtime_listen_addrs(rt, &a, 1, &cn), SIPWIRE_RESULT_FORKED);
        int64_t v;
        CHECK_RES(sipwire_runtime_get_int(rt, "tcp", "no_connect", &v), SIPWIRE_RESULT_FORKED);
        CHECK_RES(sipwire_runtime_set_now_int(rt, "tcp", "no_connect", 1), SIPWIRE_RESULT_FORKED);
        CHECK_RES(sipwire_runtime_set_now_string(rt, "tcp", "no_connect", "1"),
                  SIPWIRE_RESULT_FORKED);
        sipwire_control *ctl = NULL;
        CHECK_RES(sipwire_control_serve(rt, "/tmp/sipwire-test-forked.sock", &ctl),
                  SIPWIRE_RESULT_FORKED);
        CHECK_RES(sipwire_runtime_shutdown(rt), SIPWIRE_RESULT_FORKED);
        CHECK_RES(sipwire_runtime_free(rt), SIPWIRE_RESULT_FORKED);
        child_exit(check_failures() == before ? 0 : 1);
    }

    /* The parent waits for the child, with a deadline. */
    int status = 0;
    pid_t w = 0;
    long long deadline = now_ms() + g_timeout_ms * 2;
    while ((w = waitpid(pid, &status, WNOHANG)) == 0 && remaining(deadline) > 0)
        pause_ms(5);
    if (w == 0) {
        fprintf(stderr, "    the forked child did not exit in time: killing it\n");
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        CHECK(!"forked child exited in time");
    } else {
        CHECK_EQ(w, pid);
        CHECK(WIFEXITED(status));
        CHECK_EQ(WEXITSTATUS(status), 0);
    }

    /* The parent's runtime still works: the queued message, a new one, a send. */
    it = next_item(rt);
    CHECK(it != NULL && sipwire_item_message(it) != NULL &&
          cseq_of(sipwire_item_message(it)->data, sipwire_item_message(it)->len) == 2);
    sipwire_item_free(it);
    n = build_options(req, sizeof req, "fork-3", 3, NULL);
    CHECK_EQ(send_all(c, req, n), 0);
    it = next_item(rt);
    CHECK(it != NULL && sipwire_item_message(it) != NULL &&
          sipwire_item_message(it)->len == n &&
          memcmp(sipwire_item_message(it)->data, req, n) == 0);
    sipwire_item_free(it);
    char resp[1024];
    size_t rn = build_response(resp, sizeof resp, "200 OK", "fork-3", 3);
    CHECK_RES(sipwire_send(rt, conid, (const uint8_t *)resp, rn, NULL), SIPWIRE_RESULT_OK);
    CHECK(expect_bytes(c, resp, rn));
    CHECK_EQ(sipwire_tcp_conid_alive(rt, conid), 1);
    close(c);
    CHECK_RES(sipwire_runtime_free(rt), SIPWIRE_RESULT_OK);
}

/* ---------------------------------------------------------------------------------------- */
/* 9. Shutdown with traffic in flight                                                       */

struct flood {
    int fd;
    atomic_int stop;
    atomic_int sent;
    int cap;
};

static void *flood_main(void *arg) {
    struct flood *f = arg;
    char req[1024];
    for (int i = 0; i < f->cap && !atomic_load(&f->stop); i++) {
        size_t n = build_options(req, sizeof req, "flood", i + 1, NULL);
        if (send_all(f->fd, req, n) != 0)
            break;
        atomic_fetch_add(&f->sent, 1);
        pause_ms(1); /* pacing, so traffic is still flowing when shutdown starts */
    }
    return NULL;
}

void test_shutdown(struct qstate *q) {
    section("9. shutdown with traffic in flight");
    sipwire_runtime *rt = q->rt;
    /* An idle connection with a known conid. */
    int idle = tcp_connect_local(q->port);
    REQUIRE(idle >= 0);
    char req[1024];
    size_t n = build_options(req, sizeof req, "idle", 1, NULL);
    CHECK_EQ(send_all(idle, req, n), 0);
    sipwire_item *it = next_item(rt);
    REQUIRE(it != NULL && sipwire_item_message(it) != NULL);
    uint64_t idle_conid = sipwire_item_message(it)->conid;
    sipwire_item_free(it);
    /* Drained until EMPTY, as the header asks after each wake-up: only then is the fd
     * guaranteed to turn readable for the next item (taking one item and stopping can leave
     * it unreadable while items wait, if the item raced with the drain inside
     * sipwire_next). */
    CHECK_RES(sipwire_next(rt, &it), SIPWIRE_RESULT_EMPTY);

    struct flood f = {.fd = tcp_connect_local(q->port), .cap = 20000};
    atomic_init(&f.stop, 0);
    atomic_init(&f.sent, 0);
    REQUIRE(f.fd >= 0);
    uint64_t base = stat_of(rt, "messages");
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, flood_main, &f) == 0);
    /* Shut down while the client is still sending; nothing drained meanwhile. */
    CHECK(wait_stat(rt, "messages", base + 10));
    CHECK_RES(sipwire_runtime_shutdown(rt), SIPWIRE_RESULT_OK);
    int sent_at_shutdown = atomic_load(&f.sent);
    atomic_store(&f.stop, 1);
    pthread_join(th, NULL);
    printf("   flood: %d sent at shutdown, %d in all\n", sent_at_shutdown, atomic_load(&f.sent));
    CHECK(sent_at_shutdown < f.cap); /* still in flight when shutdown began */

    /* After shutdown: sends and tcpops refused. */
    CHECK_RES(sipwire_send(rt, idle_conid, (const uint8_t *)req, n, NULL),
              SIPWIRE_RESULT_WRONG_STATE);
    char dest[64];
    snprintf(dest, sizeof dest, "tcp:127.0.0.1:%u", q->port);
    CHECK_RES(sipwire_send_to(rt, dest, (const uint8_t *)req, n, NULL), SIPWIRE_RESULT_WRONG_STATE);
    struct sockaddr_in sin = loopback(q->port);
    CHECK_RES(sipwire_send_sockaddr(rt, (const struct sockaddr *)&sin, sizeof sin,
                                    (const uint8_t *)req, n, NULL),
              SIPWIRE_RESULT_WRONG_STATE);
    CHECK_EQ(sipwire_tcp_conid_alive(rt, idle_conid), -1);
    CHECK_EQ(sipwire_tcp_close_connection(rt, idle_conid), -1);
    sipwire_control *ctl = NULL;
    CHECK_RES(sipwire_control_serve(rt, "/tmp/sipwire-test-after-shutdown.sock", &ctl),
              SIPWIRE_RESULT_WRONG_STATE);
    /* The clients see their connections closed. */
    CHECK_EQ(wait_eof(idle), 1);
    close(idle);
    CHECK(wait_eof(f.fd) != 0);
    close(f.fd);

    /* What was queued before shutdown can still be taken: the flood's messages in order,
     * then SHUTDOWN events for both connections. */
    int fd = sipwire_runtime_fd(rt);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    CHECK_EQ(poll(&pfd, 1, 0), 1);
    int msgs = 0, shutdown_events = 0, idle_event = 0;
    uint64_t flood_conid = 0;
    sipwire_item *keep = NULL;
    while (sipwire_next(rt, &it) == SIPWIRE_RESULT_OK) {
        uint32_t k = sipwire_item_get_kind(it);
        if (k == (uint32_t)SIPWIRE_ITEM_MESSAGE) {
            const sipwire_message *m = sipwire_item_message(it);
            if (flood_conid == 0)
                flood_conid = m->conid;
            CHECK_EQ(m->conid, flood_conid);
            CHECK_EQ(cseq_of(m->data, m->len), msgs + 1);
            msgs++;
        } else if (k == (uint32_t)SIPWIRE_ITEM_EVENT) {
            const sipwire_event *ev = sipwire_item_event(it);
            CHECK_EQ(ev->reason, SIPWIRE_CLOSE_SHUTDOWN);
            CHECK(ev->name == NULL);
            shutdown_events += ev->reason == SIPWIRE_CLOSE_SHUTDOWN;
            idle_event += ev->conid == idle_conid;
        } else {
            CHECK(!"only messages and events after shutdown");
        }
        if (keep == NULL && k == (uint32_t)SIPWIRE_ITEM_MESSAGE) {
            keep = it; /* stays valid after the runtime is freed */
        } else {
            sipwire_item_free(it);
        }
    }
    printf("   drained after shutdown: %d messages, %d shutdown events\n", msgs, shutdown_events);
    CHECK((uint64_t)msgs >= 10);
    CHECK(msgs <= atomic_load(&f.sent));
    CHECK_EQ(shutdown_events, 2);
    CHECK_EQ(idle_event, 1);
    CHECK_RES(sipwire_next(rt, &it), SIPWIRE_RESULT_EMPTY);
    pfd.revents = 0;
    CHECK_EQ(poll(&pfd, 1, 0), 0);

    CHECK_RES(sipwire_runtime_shutdown(rt), SIPWIRE_RESULT_OK);
    CHECK_RES(sipwire_runtime_free(rt), SIPWIRE_RESULT_OK);
    q->rt = NULL;
    CHECK(keep != NULL);
    if (keep != NULL) {
        const sipwire_message *m = sipwire_item_message(keep);
        n = build_options(req, sizeof req, "flood", 1, NULL);
        CHECK(m != NULL && m->len == n && memcmp(m->data, req, n) == 0);
        sipwire_item_free(keep);
    }
    CHECK_RES(sipwire_runtime_shutdown(NULL), SIPWIRE_RESULT_NULL_PARAMETER);
    CHECK_RES(sipwire_runtime_free(NULL), SIPWIRE_RESULT_OK);
}

/* ---------------------------------------------------------------------------------------- */

/* NULL runtimes in the tcpops: -1. */
void test_null_tcpops(void) {
    section("tcpops with a NULL runtime");
    uint64_t id = 0;
    CHECK_EQ(sipwire_tcp_conid_alive(NULL, 1), -1);
    CHECK_EQ(sipwire_tcp_conid_state(NULL, 1), -1);
    CHECK_EQ(sipwire_tcp_keepalive_enable(NULL, 1, 30, 3, 10), -1);
    CHECK_EQ(sipwire_tcp_keepalive_disable(NULL, 1), -1);
    CHECK_EQ(sipwire_tcp_set_connection_lifetime(NULL, 1, 10), -1);
    CHECK_EQ(sipwire_tcp_enable_closed_event(NULL, 1), -1);
    CHECK_EQ(sipwire_tcp_get_conid(NULL, "127.0.0.1:5060", &id), -1);
    CHECK_EQ(sipwire_tcp_set_otcpid(NULL, 1), -1);
    CHECK_EQ(sipwire_tcp_set_otcpid_flag(NULL, 1), -1);
    CHECK_EQ(sipwire_tcp_close_connection(NULL, 1), -1);
    CHECK_RES(sipwire_send_sockaddr(NULL, NULL, 0, (const uint8_t *)"x", 1, NULL),
              SIPWIRE_RESULT_NULL_PARAMETER);
}
