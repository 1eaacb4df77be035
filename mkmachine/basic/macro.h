/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#define _printf_(a, b) __attribute__((__format__(printf, a, b)))
#define _noreturn_ __attribute__((__noreturn__))
#define _unused_ __attribute__((__unused__))
#define _pure_ __attribute__((__pure__))
#define _likely_(x) (__builtin_expect(!!(x), 1))
#define _unlikely_(x) (__builtin_expect(!!(x), 0))
#define _section_(x) __attribute__((__section__(x)))
#define _used_ __attribute__((__used__))
#define _retain_ __attribute__((__retain__))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define _cleanup_(f) __attribute__((__cleanup__(f)))

static inline void freep(void *p) {
        free(*(void**) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void* mfree(void *p) {
        free(p);
        return NULL;
}

/* For our own destructors, which follow the "accept NULL, return NULL" rule:
 * generates foo_freep() for use with _cleanup_(foo_freep). */
#define DEFINE_POINTER_CLEANUP(type, func)                      \
        static inline void func##p(type *p) {                   \
                if (*p)                                         \
                        *p = func(*p);                          \
        }

/* For destructors from other libraries that return void or a status code. */
#define DEFINE_POINTER_CLEANUP_RENAME(type, func, name)         \
        static inline void name(type *p) {                      \
                if (*p)                                         \
                        (void) func(*p);                        \
                *p = NULL;                                      \
        }

/* Hand ownership over: returns the value and resets the variable, which disarms its cleanup. */
#define TAKE_GENERIC(var, null)                                 \
        ({                                                      \
                __typeof__(var) *_pvar_ = &(var);               \
                __typeof__(var) _val_ = *_pvar_;                \
                *_pvar_ = (null);                               \
                _val_;                                          \
        })
#define TAKE_PTR(p) TAKE_GENERIC(p, NULL)
#define TAKE_FD(fd) TAKE_GENERIC(fd, -EBADF)

/* Converts a libc-style "-1 and errno" result into our "negative errno" convention. */
#define RET_NERRNO(expr)                                        \
        ({                                                      \
                int _r_ = (expr);                               \
                _r_ < 0 ? -errno : _r_;                         \
        })

/* Keeps the first error seen in a sequence of cleanup steps that all must run. */
#define RET_GATHER(ret, step)                                   \
        ({                                                      \
                int _s_ = (step);                               \
                if (_s_ < 0 && (ret) >= 0)                      \
                        (ret) = _s_;                            \
                _s_;                                            \
        })

static inline bool size_multiply_overflow(size_t size, size_t need) {
        return need != 0 && size > SIZE_MAX / need;
}

/* Makes room for at least need elements of size bytes in *p, doubling; *allocated counts elements.
 * Returns 0 or -ENOMEM (then *p is unchanged). */
static inline int greedy_realloc(void **p, size_t *allocated, size_t need, size_t size) {
        size_t n;
        void *q;

        if (need <= *allocated)
                return 0;
        n = MAX(need * 2, (size_t) 16);
        if (size_multiply_overflow(size, n))
                return -ENOMEM;
        q = realloc(*p, n * size);
        if (!q)
                return -ENOMEM;
        *p = q;
        *allocated = n;
        return 0;
}
#define GREEDY_REALLOC(array, allocated, need) \
        greedy_realloc((void**) &(array), &(allocated), (need), sizeof((array)[0]))

/* True if the character c is one of the listed ones. */
#define IN_SET_CHAR(c, ...)                                             \
        ({                                                              \
                const char _set_[] = { __VA_ARGS__ };                   \
                bool _found_ = false;                                   \
                for (size_t _i_ = 0; _i_ < sizeof(_set_); _i_++)        \
                        if (_set_[_i_] == (c))                          \
                                _found_ = true;                         \
                _found_;                                                \
        })
