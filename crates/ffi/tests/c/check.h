/*
 * check.h: a tiny assertion framework for the C tests of libsipwire.
 *
 * CHECK(cond) counts a check and, when cond is false, prints file:line and the expression and
 * counts a failure; the test goes on. CHECK_EQ(a, b) does the same for two integers and prints
 * both values. REQUIRE(cond) is CHECK that also leaves the current (void) function when cond
 * is false, for checks whose failure would make the rest meaningless (a NULL handle). All of
 * them may be used from any thread and from any file of a program. check_summary() prints
 * the totals and gives the exit status: non-zero when any check failed.
 */
#ifndef SIPWIRE_TEST_CHECK_H
#define SIPWIRE_TEST_CHECK_H

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>

/* The totals, one set for the whole program: declared here, defined once by the program
 * (support.c: `atomic_long check_total; atomic_long check_failed;`, zero at start). */
extern atomic_long check_total;
extern atomic_long check_failed;

static inline int check_one(int ok, const char *expr, const char *file, int line) {
    atomic_fetch_add(&check_total, 1);
    if (!ok) {
        atomic_fetch_add(&check_failed, 1);
        fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, expr);
    }
    return ok;
}

static inline int check_eq(long long a, long long b, const char *ea, const char *eb, const char *file,
                    int line) {
    atomic_fetch_add(&check_total, 1);
    if (a != b) {
        atomic_fetch_add(&check_failed, 1);
        fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", file, line, ea, eb, a, b);
        return 0;
    }
    return 1;
}

#define CHECK(cond) ((void)check_one(!!(cond), #cond, __FILE__, __LINE__))
#define CHECK_EQ(a, b) \
    ((void)check_eq((long long)(a), (long long)(b), #a, #b, __FILE__, __LINE__))
#define REQUIRE(cond)                                        \
    do {                                                     \
        if (!check_one(!!(cond), #cond, __FILE__, __LINE__)) \
            return;                                          \
    } while (0)

/* The number of failed checks so far. */
static inline long check_failures(void) { return atomic_load(&check_failed); }

/* Prints the totals; returns the process exit status. */
static inline int check_summary(const char *name) {
    long total = atomic_load(&check_total), failed = atomic_load(&check_failed);
    printf("%s: %ld checks, %ld failed\n", name, total, failed);
    fflush(stdout);
    return failed == 0 ? 0 : 1;
}

#endif /* SIPWIRE_TEST_CHECK_H */
