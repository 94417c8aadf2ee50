/* hlc.h - hybrid logical clocks.
 *
 * A clock is one uint64: physical milliseconds since the Unix epoch in the
 * high 48 bits, a logical counter in the low 16. Comparing two clocks as
 * integers orders them; ties between devices are broken by the device key
 * (see merge.h). A clock never goes backwards on one device even when the
 * wall clock does, and it absorbs clocks it receives so that a later edit of
 * a pulled value always carries a greater clock than the value it replaces;
 * a laptop absorbs only those up to its wall clock + FS_HLC_MAX_SKEW_MS
 * (fs_hlc_observe_bounded), so one device with a wrong date cannot drag
 * every laptop's clock after its own.
 */
#ifndef FS_HLC_H
#define FS_HLC_H

#include <stdint.h>

#define FS_HLC_LOGICAL_BITS 16
#define FS_HLC_LOGICAL_MAX 0xffffu

/* Clocks at or beyond FS_HLC_LIMIT (year 6429) are malformed: refusing them
 * keeps fs_hlc_tick from ever wrapping. */
#define FS_HLC_LIMIT ((uint64_t)1 << 63)
/* A laptop's clock may run at most this far ahead of the commune's (servers
 * report a set beyond it), and takes a pulled clock at most this far ahead
 * of its own wall clock. */
#define FS_HLC_MAX_SKEW_MS (24ull * 3600 * 1000)

static inline uint64_t fs_hlc_make(uint64_t ms, uint32_t logical) {
  return ms << FS_HLC_LOGICAL_BITS | (logical & FS_HLC_LOGICAL_MAX);
}
static inline uint64_t fs_hlc_ms(uint64_t hlc) { return hlc >> FS_HLC_LOGICAL_BITS; }
static inline uint32_t fs_hlc_logical(uint64_t hlc) { return hlc & FS_HLC_LOGICAL_MAX; }

/* Returns the next clock after last for an event at wall time now_ms:
 * max(now, last.ms) with the counter bumped when the milliseconds did not
 * advance; a full counter borrows the next millisecond. Always > last. */
uint64_t fs_hlc_tick(uint64_t last, uint64_t now_ms);

/* Folds a received clock into the local one: the result is >= both. */
uint64_t fs_hlc_observe(uint64_t local, uint64_t received);

/* fs_hlc_observe for a clock a laptop pulled, at wall time now_ms: one
 * beyond now_ms + FS_HLC_MAX_SKEW_MS is left out (the result is local), as
 * it comes from a device whose date is wrong. Taking it would stamp every
 * later edit of this laptop with it: beyond its enrolment, where servers
 * refuse the sets, or at FS_HLC_LIMIT, where no edit can be made at all.
 * The result is >= local and, unless local already was, within the bound. */
uint64_t fs_hlc_observe_bounded(uint64_t local, uint64_t received, uint64_t now_ms);

/* Wall clock in milliseconds since the epoch. */
uint64_t fs_hlc_now_ms(void);

#endif
