/*
 * alloc_count.so: counts the heap allocations of a process, for the benchmark's
 * "allocations per request" figure (integration/bench/allocs.sh).
 *
 * LD_PRELOAD it with ALLOC_COUNT_FILE=path: the file holds two 64-bit counters
 * (allocations: malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign;
 * and bytes requested) in a shared mapping the process updates atomically, so a
 * reader sees them change live, without stopping the process. Allocation counts
 * repeat from run to run on a noisy machine where CPU time does not.
 *
 * Forwarding uses glibc's __libc_* entry points (no dlsym, which itself allocates).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static volatile uint64_t *counters; /* [0] allocations, [1] bytes */

__attribute__((constructor)) static void alloc_count_init(void) {
    const char *path = getenv("ALLOC_COUNT_FILE");
    if (path == NULL) return;
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return;
    if (ftruncate(fd, 16) == 0) {
        void *page = mmap(NULL, 16, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (page != MAP_FAILED) counters = page;
    }
    close(fd);
}

static inline void count(size_t bytes) {
    if (counters == NULL) return;
    __atomic_add_fetch(&counters[0], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&counters[1], bytes, __ATOMIC_RELAXED);
}

void *malloc(size_t size) { count(size); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { count(n * size); return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { count(size); return __libc_realloc(p, size); }
void *memalign(size_t alignment, size_t size) { count(size); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { count(size); return __libc_memalign(alignment, size); }
int posix_memalign(void **out, size_t alignment, size_t size) {
    count(size);
    void *p = __libc_memalign(alignment, size);
    if (p == NULL) return 12; /* ENOMEM */
    *out = p;
    return 0;
}
