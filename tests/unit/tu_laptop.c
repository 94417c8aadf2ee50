/* tu_laptop.c - see tu_laptop.h. */
#include "tu_laptop.h"

#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

tu_laptop *tu_laptop_new(const char *scope) {
  tu_laptop *l = calloc(1, sizeof *l);
  if (!l)
    return NULL;
  l->tmp = tu_mkdtemp();
  l->dir = tu_path(l->tmp, "laptop");
  uint8_t pk[FS_PK_LEN];
  if (fs_device_create(l->dir, scope, "Nguyễn Văn An", pk) != 0 ||
      fs_device_open(&l->d, l->dir) != 0)
    return NULL;
  mdb_env_set_flags(l->d.store.env, MDB_NOSYNC, 1);
  return l;
}

void tu_laptop_free(tu_laptop *l) {
  fs_device_close(&l->d);
  tu_rmtree(l->tmp);
  free(l->dir);
  free(l->tmp);
  free(l);
}
