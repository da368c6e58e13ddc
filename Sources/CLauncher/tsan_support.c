// Only in builds with the thread sanitizer (`swift build --sanitize=thread`, see .ci/run):
// where its reports go, and what it must be told about Swift's Mutex. Normal builds compile
// this file to nothing.
//
// Reports.
// The end-to-end tests run mpm-run with an environment of their own making, so TSAN_OPTIONS
// does not reach it, and a report printed on its stderr would be read as the agent's output
// or lost. Every instrumented process of this package (mpm-run and the test bundle) writes its
// reports instead to `tsan-reports/report.<pid>` in the folder of its own executable, which
// CI creates (mode 1777: the unprivileged runs write there too) and requires to be empty at
// the end. Should the folder be missing, the sanitizer cannot open the file and exits with
// an error: a report is never silently dropped. The known, tracked findings that are not yet
// fixed are listed in .ci/tsan-suppressions (used when it is readable). TSAN_OPTIONS, when
// set, still overrides all of this.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)

#include <dlfcn.h>
#include <fcntl.h>
#include <sanitizer/tsan_interface.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

// Called while the sanitizer starts: no libc function it intercepts, no allocation.
__attribute__((disable_sanitizer_instrumentation))
static long append(char *out, long at, long size, const char *text, long n) {
    for (long i = 0; (n < 0 ? text[i] != 0 : i < n) && at < size - 1; i++) out[at++] = text[i];
    out[at] = 0;
    return at;
}

__attribute__((disable_sanitizer_instrumentation))
static long folder_length(const char *path, long n) {
    while (n > 0 && path[n - 1] != '/') n--;
    return n;  // up to and with the last '/'
}

__attribute__((disable_sanitizer_instrumentation))
const char *__tsan_default_options(void) {
    static char options[8192];
    long size = sizeof options, at = 0;
    char exe[3072];
    long n = syscall(SYS_readlink, "/proc/self/exe", exe, sizeof exe);
    if (n > 0 && n < (long)sizeof exe && folder_length(exe, n) > 0) {
        at = append(options, at, size, "log_path=\"", -1);
        at = append(options, at, size, exe, folder_length(exe, n));
        at = append(options, at, size, "tsan-reports/report\"", -1);
    }
    // This file is <package>/Sources/CLauncher/tsan_options.c (SwiftPM compiles it by its
    // absolute path).
    static const char here[] = __FILE__;
    char suppressions[3072];
    long s = 0;
    s = append(suppressions, s, sizeof suppressions, here, folder_length(here, sizeof here - 1));
    s = append(suppressions, s, sizeof suppressions, "../../.ci/tsan-suppressions", -1);
    if (here[0] == '/' && syscall(SYS_faccessat, AT_FDCWD, suppressions, R_OK, 0) == 0) {
        at = append(options, at, size, " suppressions=\"", -1);
        at = append(options, at, size, suppressions, -1);
        at = append(options, at, size, "\"", -1);
    }
    return options;
}

// Swift's Mutex (Synchronization) on Linux. Its uncontended lock and unlock are inlined into
// our code, so the sanitizer sees their atomics; the contended paths, _lockSlow and
// _unlockSlow, are in libswiftSynchronization.so, which is not instrumented (they spin with
// atomics the sanitizer does not see, then sleep in FUTEX_LOCK_PI / FUTEX_UNLOCK_PI). Every
// lock taken after contention would then look unsynchronised, and the sanitizer reports races
// on what the mutex protects. These two definitions take the place of the library's for
// calls from this package's code: each calls the library's own (found with RTLD_NEXT) and
// tells the sanitizer of the acquire or release, on the address of the mutex's word, which
// is where the inlined atomics synchronise too. Swift passes `self` (here the address of the
// word) in the context register: swiftcall with swift_context.
typedef __attribute__((swiftcall)) void (*mpm_lock_slow)(uint32_t, __attribute__((swift_context)) void *);
typedef __attribute__((swiftcall)) void (*mpm_unlock_slow)(__attribute__((swift_context)) void *);

__attribute__((swiftcall)) void mpm_tsan_lock_slow(uint32_t owner, __attribute__((swift_context)) void *word)
    __asm__("$s15Synchronization12_MutexHandleV9_lockSlowyys6UInt32VF");
__attribute__((swiftcall)) void mpm_tsan_unlock_slow(__attribute__((swift_context)) void *word)
    __asm__("$s15Synchronization12_MutexHandleV11_unlockSlowyyF");

__attribute__((swiftcall)) void mpm_tsan_lock_slow(uint32_t owner, __attribute__((swift_context)) void *word) {
    static mpm_lock_slow real;
    mpm_lock_slow f = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
    if (!f) {
        f = (mpm_lock_slow)dlsym(RTLD_NEXT, "$s15Synchronization12_MutexHandleV9_lockSlowyys6UInt32VF");
        __atomic_store_n(&real, f, __ATOMIC_RELEASE);
    }
    f(owner, word);
    __tsan_acquire(word);
}

__attribute__((swiftcall)) void mpm_tsan_unlock_slow(__attribute__((swift_context)) void *word) {
    static mpm_unlock_slow real;
    mpm_unlock_slow f = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
    if (!f) {
        f = (mpm_unlock_slow)dlsym(RTLD_NEXT, "$s15Synchronization12_MutexHandleV11_unlockSlowyyF");
        __atomic_store_n(&real, f, __ATOMIC_RELEASE);
    }
    __tsan_release(word);
    f(word);
}

#endif
#endif
