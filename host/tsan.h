#pragma once
// ThreadSanitizer cannot see synchronization inside libraries it did not
// instrument. Poco's reference counts are such: whichever thread drops the last
// reference to a socket frees it after every other user, but TSan cannot see
// that order. Users of an object Poco counts say they are done with
// handOver(object) before dropping their reference; its destructor calls
// takeOver(this). Nothing is done in builds without ThreadSanitizer.

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace plughost::tsan {

inline void handOver([[maybe_unused]] const void* object) {
#if defined(__SANITIZE_THREAD__)
    __tsan_release(const_cast<void*>(object));
#endif
}

inline void takeOver([[maybe_unused]] const void* object) {
#if defined(__SANITIZE_THREAD__)
    __tsan_acquire(const_cast<void*>(object));
#endif
}

}  // namespace plughost::tsan
