/*
 * sipwire_responder: a stateless SIP responder on libsipwire, as an example for C users.
 *
 *   sipwire_responder [--mode callbacks|epoll] [--listen 127.0.0.1:5060] [--config FILE]
 *
 * OPTIONS is answered "200 OK"; any other request (but ACK, which has no response) gets a
 * 200 OK echoing its body. Responses are ignored; what does not parse is dropped. It prints
 * "listening on ADDR:PORT" on stdout, serves until SIGINT/SIGTERM, and prints
 * "answered N, echoed M, dropped K" on stderr. --listen defaults to 127.0.0.1:5060, except
 * with --config: then the file's listen= lines (or Kamailio's default, all on 5060) apply.
 *
 * The two receive modes of libsipwire:
 *   callbacks  on_message runs on the runtime's reader threads (several at once) and
 *              answers with sipwire_reply(); the main thread just waits for a signal.
 *   epoll      no callbacks: everything is queued; our own epoll loop watches
 *              sipwire_runtime_fd() and a signalfd, takes items with sipwire_next() and
 *              answers with sipwire_send(rt, msg->conid, ...).
 *
 * Build: cc -std=c11 -D_GNU_SOURCE sipwire_responder.c $(pkg-config --cflags --libs sipwire)
 */
#include <sipwire.h>

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* What was done; the callbacks' userdata. Reader threads update it concurrently: atomics. */
typedef struct {
    atomic_ulong answered, echoed, dropped;
} counters;

/* ---- Parsing: bytes with lengths, never NUL-terminated strings; every read bounded. ---- */

typedef struct { const char *p; size_t n; } span;

/* The parts of a request a response copies. Via may occur many times: build_200 re-scans
 * the header section for them, in order. */
typedef struct {
    span method, from, to, call_id, cseq, ctype, body;
    const char *hdrs, *hdrs_end; /* the header section, for the Via re-scan */
} request;

enum header { H_OTHER, H_VIA, H_FROM, H_TO, H_CALL_ID, H_CSEQ, H_CTYPE };

static int is_wsp(char c) { return c == ' ' || c == '\t'; }

static int is_token(char c) /* RFC 3261 token characters */
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("-.!%*_+`'~", c) != NULL);
}

static int span_is(span s, const char *lit) /* case-insensitive equality */
{
    return s.n == strlen(lit) && strncasecmp(s.p, lit, s.n) == 0;
}

static span trim(span s)
{
    while (s.n > 0 && is_wsp(s.p[0])) { s.p++; s.n--; }
    while (s.n > 0 && (is_wsp(s.p[s.n - 1]) || s.p[s.n - 1] == '\r')) s.n--;
    return s;
}

/* Full and compact names (RFC 3261 section 7.3.3). */
static enum header header_kind(span name)
{
    if (span_is(name, "Via") || span_is(name, "v")) return H_VIA;
    if (span_is(name, "From") || span_is(name, "f")) return H_FROM;
    if (span_is(name, "To") || span_is(name, "t")) return H_TO;
    if (span_is(name, "Call-ID") || span_is(name, "i")) return H_CALL_ID;
    if (span_is(name, "CSeq")) return H_CSEQ;
    if (span_is(name, "Content-Type") || span_is(name, "c")) return H_CTYPE;
    return H_OTHER;
}

/* Next line of [*pos, end): the line without CR LF, *pos moved past it. 0 without an LF. */
static int next_line(const char **pos, const char *end, span *line)
{
    const char *nl = memchr(*pos, '\n', (size_t)(end - *pos));
    if (nl == NULL) return 0;
    *line = (span){*pos, (size_t)(nl - *pos)};
    if (line->n > 0 && line->p[line->n - 1] == '\r') line->n--;
    *pos = nl + 1;
    return 1;
}

/* Next header of the section [*pos, end), folded continuation lines included in its value.
 * 1: a header; 0: the section is over; -1: malformed. */
static int next_header(const char **pos, const char *end, span *name, span *value)
{
    span line;
    if (!next_line(pos, end, &line)) return -1; /* no empty line ends the section */
    if (line.n == 0) return 0;
    const char *colon = memchr(line.p, ':', line.n);
    if (colon == NULL || is_wsp(line.p[0])) return -1;
    *name = trim((span){line.p, (size_t)(colon - line.p)});
    for (size_t i = 0; i < name->n; i++)
        if (!is_token(name->p[i])) return -1;
    if (name->n == 0) return -1;
    const char *vend = line.p + line.n;
    while (*pos < end && is_wsp(**pos)) { /* folding: "\r\n " continues the value */
        if (!next_line(pos, end, &line)) return -1;
        vend = line.p + line.n;
    }
    *value = trim((span){colon + 1, (size_t)(vend - (colon + 1))});
    return 1;
}

/* 1: a request, parsed into *r; 0: a response (ignored); -1: malformed (dropped). */
static int parse_request(const char *data, size_t len, request *r)
{
    const char *pos = data, *end = data + len;
    span line, name, value;
    int vias = 0, rc;
    memset(r, 0, sizeof *r);
    while (pos < end && (*pos == '\r' || *pos == '\n')) pos++; /* stray keepalive CRLFs */
    if (!next_line(&pos, end, &line)) return -1;
    if (line.n >= 7 && strncasecmp(line.p, "SIP/2.0", 7) == 0) return 0;
    /* Request-Line: Method SP Request-URI SP SIP-Version */
    size_t i = 0;
    while (i < line.n && is_token(line.p[i])) i++;
    if (i == 0 || i >= line.n || line.p[i] != ' ') return -1;
    r->method = (span){line.p, i};
    if (line.n < i + 10 || strncasecmp(line.p + line.n - 8, " SIP/2.0", 8) != 0) return -1;
    r->hdrs = pos;
    while ((rc = next_header(&pos, end, &name, &value)) == 1) {
        span *slot = NULL;
        switch (header_kind(name)) {
        case H_VIA: vias++; break;
        case H_FROM: slot = &r->from; break;
        case H_TO: slot = &r->to; break;
        case H_CALL_ID: slot = &r->call_id; break;
        case H_CSEQ: slot = &r->cseq; break;
        case H_CTYPE: slot = &r->ctype; break;
        case H_OTHER: break;
        }
        if (slot != NULL) {
            if (slot->p != NULL) return -1; /* these may occur only once */
            *slot = value;
        }
        r->hdrs_end = pos;
    }
    if (rc < 0 || vias == 0 || !r->from.n || !r->to.n || !r->call_id.n || !r->cseq.n)
        return -1;
    if (r->cseq.p[0] < '0' || r->cseq.p[0] > '9') return -1;
    /* The runtime framed the message by its Content-Length: the rest is the body. */
    r->body = (span){pos, (size_t)(end - pos)};
    return 1;
}

/* Does a From/To value carry a tag parameter? Parameters follow the URI: skip quoted strings
 * (the display name) and <...> (the URI's own parameters), then look for ";tag=". */
static int has_tag(span v)
{
    int quoted = 0, angle = 0;
    for (size_t i = 0; i < v.n; i++) {
        char c = v.p[i];
        if (quoted) {
            if (c == '\\') i++;
            else if (c == '"') quoted = 0;
        } else if (c == '"') quoted = 1;
        else if (c == '<') angle = 1;
        else if (c == '>') angle = 0;
        else if (c == ';' && !angle) {
            size_t j = i + 1;
            while (j < v.n && is_wsp(v.p[j])) j++;
            if (v.n - j >= 3 && strncasecmp(v.p + j, "tag", 3) == 0) {
                j += 3;
                while (j < v.n && is_wsp(v.p[j])) j++;
                if (j < v.n && v.p[j] == '=') return 1;
            }
        }
    }
    return 0;
}

/* ---- Building the response in a growing buffer; an allocation failure drops it. ---- */

typedef struct { char *p; size_t n, cap; int failed; } buf;

static void put(buf *b, const char *p, size_t n)
{
    if (b->failed) return;
    if (n > b->cap - b->n) {
        if (n > SIZE_MAX / 4 || b->cap > SIZE_MAX / 4) { b->failed = 1; return; }
        size_t cap = b->cap * 2 + n;
        char *np = realloc(b->p, cap);
        if (np == NULL) { b->failed = 1; return; }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void put_str(buf *b, const char *s) { put(b, s, strlen(s)); }

/* "Name: value<extra>\r\n", a folded value unfolded (line break + indent: one space). */
static void put_header(buf *b, const char *name, span v, const char *extra)
{
    put_str(b, name);
    put_str(b, ": ");
    for (size_t i = 0; i < v.n; i++) {
        if (v.p[i] == '\r' || v.p[i] == '\n') {
            while (i + 1 < v.n && (v.p[i + 1] == '\r' || v.p[i + 1] == '\n' || is_wsp(v.p[i + 1])))
                i++;
            put(b, " ", 1);
        } else {
            put(b, v.p + i, 1);
        }
    }
    put_str(b, extra);
    put_str(b, "\r\n");
}

/* FNV-1a, 32 bits: the To tag is a hash of Call-ID and From, so that a retransmission
 * gets the same tag without any state. */
static unsigned long fnv1a(unsigned long h, span s)
{
    for (size_t i = 0; i < s.n; i++) h = ((h ^ (unsigned char)s.p[i]) * 16777619u) & 0xffffffffu;
    return h;
}

/* The 200 OK for *r into *b: Vias in order, From, To (tagged), Call-ID, CSeq, and for any
 * method but OPTIONS the request's body (with its Content-Type). */
static void build_200(const request *r, int echo, buf *b)
{
    const char *pos = r->hdrs;
    span name, value;
    char line[64], tag[32] = "";
    put_str(b, "SIP/2.0 200 OK\r\n");
    while (next_header(&pos, r->hdrs_end, &name, &value) == 1)
        if (header_kind(name) == H_VIA) put_header(b, "Via", value, "");
    put_header(b, "From", r->from, "");
    if (!has_tag(r->to))
        snprintf(tag, sizeof tag, ";tag=sw%08lx", fnv1a(fnv1a(2166136261u, r->call_id), r->from));
    put_header(b, "To", r->to, tag);
    put_header(b, "Call-ID", r->call_id, "");
    put_header(b, "CSeq", r->cseq, "");
    put_str(b, "Server: sipwire_responder\r\n");
    if (echo && r->ctype.n > 0) put_header(b, "Content-Type", r->ctype, "");
    snprintf(line, sizeof line, "Content-Length: %zu\r\n\r\n", echo ? r->body.n : 0);
    put_str(b, line);
    if (echo) put(b, r->body.p, r->body.n);
}

/* ---- Shared by both modes: decide, build, send (through `send`), count. ---- */

typedef sipwire_result (*send_fn)(const sipwire_runtime *rt, const sipwire_message *msg,
                                  const uint8_t *data, size_t len);

static sipwire_result send_reply(const sipwire_runtime *rt, const sipwire_message *msg,
                                 const uint8_t *data, size_t len)
{
    (void)rt; /* only inside on_message: the runtime knows the connection */
    return sipwire_reply(msg, data, len, NULL);
}

static sipwire_result send_conid(const sipwire_runtime *rt, const sipwire_message *msg,
                                 const uint8_t *data, size_t len)
{
    return sipwire_send(rt, msg->conid, data, len, NULL);
}

static void handle_message(counters *c, const sipwire_runtime *rt, const sipwire_message *msg,
                           send_fn send)
{
    request r;
    buf b = {NULL, 0, 0, 0};
    if (msg == NULL || msg->kind != SIPWIRE_MESSAGE_SIP || (msg->data == NULL && msg->len > 0)) {
        atomic_fetch_add(&c->dropped, 1);
        return;
    }
    int rc = parse_request((const char *)msg->data, msg->len, &r);
    if (rc == 0 || (rc == 1 && span_is(r.method, "ACK"))) return; /* nothing to answer */
    if (rc < 0) {
        atomic_fetch_add(&c->dropped, 1);
        return;
    }
    int echo = !span_is(r.method, "OPTIONS");
    build_200(&r, echo, &b);
    /* A reply the runtime refuses (connection gone, peer too slow) counts as dropped. */
    if (b.failed || send(rt, msg, (const uint8_t *)b.p, b.n) != SIPWIRE_RESULT_OK)
        atomic_fetch_add(&c->dropped, 1);
    else
        atomic_fetch_add(echo ? &c->echoed : &c->answered, 1);
    free(b.p);
}

/* ---- Mode "callbacks" ---- */

static int on_message(void *userdata, const sipwire_message *msg)
{
    handle_message(userdata, NULL, msg, send_reply); /* sipwire_reply needs no runtime */
    return 0; /* handled (even when dropped: returning non-zero would close the connection) */
}

/* With no on_event / on_unsent the items would pile up in the queue nobody drains. */
static void on_event(void *userdata, const sipwire_event *ev) { (void)userdata; (void)ev; }
static void on_unsent(void *userdata, const sipwire_unsent *u) { (void)userdata; (void)u; }

/* ---- Mode "epoll" ---- */

/* Takes up to `max` items; 0 once the queue is empty, 1 when items may be left, -1 on error. */
static int drain(counters *c, const sipwire_runtime *rt, int max, int answer)
{
    for (int i = 0; i < max; i++) {
        sipwire_item *item = NULL;
        sipwire_result res = sipwire_next(rt, &item);
        if (res == SIPWIRE_RESULT_EMPTY) return 0;
        if (res != SIPWIRE_RESULT_OK) return -1;
        /* Items are messages, close events or unsent messages: only messages matter here. */
        const sipwire_message *msg = sipwire_item_message(item);
        if (msg != NULL && answer) handle_message(c, rt, msg, send_conid);
        else if (msg != NULL) atomic_fetch_add(&c->dropped, 1); /* after shutdown */
        sipwire_item_free(item);
    }
    return 1;
}

static int epoll_loop(counters *c, const sipwire_runtime *rt, const sigset_t *sigs)
{
    int sfd = signalfd(-1, sigs, SFD_CLOEXEC), ep = epoll_create1(EPOLL_CLOEXEC), rc = 1;
    struct epoll_event ev = {.events = EPOLLIN}, got[2];
    if (sfd < 0 || ep < 0) goto out;
    ev.data.fd = sfd;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev) != 0) goto out;
    ev.data.fd = sipwire_runtime_fd(rt); /* readable while items wait; never read it */
    if (ev.data.fd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev) != 0) goto out;
    for (;;) {
        int n = epoll_wait(ep, got, 2, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) goto out;
        for (int i = 0; i < n; i++) {
            if (got[i].data.fd == sfd) { rc = 0; goto out; } /* SIGINT or SIGTERM */
            /* Level-triggered: a batch at a time keeps the signal responsive under load. */
            if (drain(c, rt, 256, 1) < 0) goto out;
        }
    }
out:
    if (rc != 0) perror("sipwire_responder: epoll loop");
    if (ep >= 0) close(ep);
    if (sfd >= 0) close(sfd);
    return rc;
}

/* ---- main ---- */

static int fail(const char *what, sipwire_result res, const sipwire_config *cfg)
{
    char msg[256], detail[512] = "";
    sipwire_result_message((uint32_t)res, msg, sizeof msg, NULL);
    if (cfg != NULL) sipwire_config_error(cfg, detail, sizeof detail, NULL);
    fprintf(stderr, "sipwire_responder: %s: %s%s%s\n", what, msg, *detail ? ": " : "", detail);
    return 1;
}

int main(int argc, char **argv)
{
    const char *mode = "callbacks", *listen = NULL, *config = NULL;
    for (int i = 1; i < argc; i++) {
        const char **opt = NULL;
        if (!strcmp(argv[i], "--mode")) opt = &mode;
        else if (!strcmp(argv[i], "--listen")) opt = &listen;
        else if (!strcmp(argv[i], "--config")) opt = &config;
        if (opt == NULL || i + 1 >= argc) {
            fprintf(stderr, "usage: %s [--mode callbacks|epoll] [--listen 127.0.0.1:5060]"
                            " [--config FILE]\n", argv[0]);
            return 2;
        }
        *opt = argv[++i];
    }
    int use_epoll = !strcmp(mode, "epoll");
    if (!use_epoll && strcmp(mode, "callbacks") != 0) {
        fprintf(stderr, "sipwire_responder: unknown mode %s\n", mode);
        return 2;
    }

    /* Block SIGINT/SIGTERM before the runtime starts its threads (they inherit the mask), so
     * the signals reach only our sigwait / signalfd. A closed peer must not kill us either. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The configuration: Kamailio's defaults, then the file, then our listen address. */
    sipwire_config *cfg = NULL;
    sipwire_runtime *rt = NULL;
    char where[300];
    const char *step = "config";
    sipwire_result res = sipwire_config_new(&cfg);
    if (res == SIPWIRE_RESULT_OK && config != NULL) {
        step = config;
        res = sipwire_config_load_file(cfg, config, 0);
    }
    /* "listen" adds an address: keep the file's own unless --listen is given. */
    if (res == SIPWIRE_RESULT_OK && (listen != NULL || config == NULL)) {
        snprintf(where, sizeof where, "tcp:%s", listen ? listen : "127.0.0.1:5060");
        step = where;
        res = sipwire_config_set(cfg, "listen", where);
    }

    /* callbacks mode: every callback gets `userdata` first, here our counters. */
    static counters count;
    sipwire_callbacks cbs = {&count, on_message, on_event, on_unsent};
    if (res == SIPWIRE_RESULT_OK) {
        step = "start";
        res = sipwire_runtime_new(cfg, use_epoll ? NULL : &cbs, &rt);
    }
    if (res != SIPWIRE_RESULT_OK) {
        fail(step, res, cfg); /* sipwire_config_error(cfg) says why */
        sipwire_config_free(cfg);
        return 1;
    }
    sipwire_config_free(cfg); /* the runtime keeps its own copy */

    /* One line a test (or a user) can read: the first address, with the port the OS chose
     * for port 0. */
    sipwire_addr addrs[8];
    size_t n = 0;
    char text[48] = "?";
    memset(addrs, 0, sizeof addrs);
    res = sipwire_runtime_listen_addrs(rt, addrs, 8, &n);
    if ((res == SIPWIRE_RESULT_OK || res == SIPWIRE_RESULT_INSUFFICIENT_SIZE) && n > 0)
        sipwire_addr_format(&addrs[0], text, sizeof text, NULL);
    printf("listening on %s\n", text);
    fflush(stdout);

    int rc = 0, sig = 0;
    if (use_epoll) {
        rc = epoll_loop(&count, rt, &sigs);
    } else {
        while (sigwait(&sigs, &sig) != 0) {
            /* retry */
        }
    }

    /* Shutdown: stop accepting, close connections, join threads; then what is still queued
     * (epoll mode: messages that came during shutdown, close events) is taken and freed. */
    if ((res = sipwire_runtime_shutdown(rt)) != SIPWIRE_RESULT_OK)
        rc = fail("shutdown", res, NULL);
    while (drain(&count, rt, 1024, 0) > 0) {
        /* more */
    }
    sipwire_runtime_free(rt);
    fprintf(stderr, "answered %lu, echoed %lu, dropped %lu\n", atomic_load(&count.answered),
            atomic_load(&count.echoed), atomic_load(&count.dropped));
    return rc;
}
