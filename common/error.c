/* error.c - names and sentences for the project's error codes. */
#include "error.h"

#include <errno.h>
#include <lmdb.h>
#include <uv.h>

const char *fs_strerror(int err) {
  switch (err) {
  case 0:
    return "success";
#define FS_ERR_CASE(name, num, text)                                          \
  case FS_E##name:                                                            \
    return text;
    FS_ERRORS(FS_ERR_CASE)
#undef FS_ERR_CASE
  default:
    return uv_strerror(err);
  }
}

const char *fs_errname(int err) {
  switch (err) {
  case 0:
    return "OK";
#define FS_ERR_NAME(name, num, text)                                          \
  case FS_E##name:                                                            \
    return "E_" #name;
    FS_ERRORS(FS_ERR_NAME)
#undef FS_ERR_NAME
  default:
    return uv_err_name(err);
  }
}

int fs_err_from_mdb(int rc) {
  switch (rc) {
  case MDB_SUCCESS:
    return 0;
  case MDB_NOTFOUND:
    return FS_ENOTFOUND;
  case MDB_MAP_FULL:
    return FS_EMAPFULL;
  case MDB_VERSION_MISMATCH:
  case MDB_INVALID:
    return FS_EVERSION;
  case ENOMEM:
    return FS_ENOMEM;
  case ENOSPC: /* the disk is full: say so, not "storage error" */
    return UV_ENOSPC;
  default:
    return FS_ESTORE;
  }
}
