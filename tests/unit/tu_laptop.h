/* tu_laptop.h - a laptop's device directory in a fresh temporary directory,
 * for unit tests of the client library (test_local, test_report). */
#ifndef TU_LAPTOP_H
#define TU_LAPTOP_H

#include "local.h"

typedef struct tu_laptop {
  char *tmp, *dir;
  fs_device d;
} tu_laptop;

/* Creates and opens a device of scope in a new temporary directory, with
 * MDB_NOSYNC (durability is not what these tests examine). Returns a
 * laptop to free with tu_laptop_free, or NULL. */
tu_laptop *tu_laptop_new(const char *scope);
void tu_laptop_free(tu_laptop *l);

#endif
