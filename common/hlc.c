/* hlc.c - hybrid logical clock arithmetic. */
#include "hlc.h"

#include <time.h>

uint64_t fs_hlc_tick(uint64_t last, uint64_t now_ms) {
  uint64_t last_ms = fs_hlc_ms(last);
  if (now_ms > last_ms)
    return fs_hlc_make(now_ms, 0);
  if (fs_hlc_logical(last) == FS_HLC_LOGICAL_MAX)
    return fs_hlc_make(last_ms + 1, 0); /* borrow the next millisecond */
  return last + 1;
}

uint64_t fs_hlc_observe(uint64_t local, uint64_t received) {
  return received > local ? received : local;
}

uint64_t fs_hlc_observe_bounded(uint64_t local, uint64_t received, uint64_t now_ms) {
  uint64_t bound = fs_hlc_make(now_ms + FS_HLC_MAX_SKEW_MS, FS_HLC_LOGICAL_MAX);
  return received > bound ? local : fs_hlc_observe(local, received);
}

uint64_t fs_hlc_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
