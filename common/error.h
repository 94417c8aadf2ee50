/* error.h - one error convention for the whole project.
 *
 * Every function that can fail returns int: 0 on success, a negative code
 * otherwise. libuv's negative errno values pass through unchanged; the
 * project's own codes live in [-9999, -9000], generated with their names from
 * one X-macro so fs_strerror() and fs_errname() cover all of them. LMDB's
 * positive codes, libsodium's -1 and protobuf-c's NULL are converted at the
 * call site. The numeric value of a project code is also the code carried in
 * an Error frame (negated), so both ends print the same name.
 */
#ifndef FS_ERROR_H
#define FS_ERROR_H

#define FS_ERRORS(X)                                                          \
  X(NOMEM, 9001, "out of memory")                                             \
  X(DECODE, 9002, "malformed message")                                        \
  X(TOOBIG, 9003, "message exceeds the size limit")                           \
  X(BADSIG, 9004, "signature does not verify")                                \
  X(CHAIN, 9005, "change set does not extend the device's hash chain")        \
  X(FORK, 9006, "a different change set already has this device sequence")   \
  X(GAP, 9007, "change set sequence leaves a gap")                            \
  X(SCOPE, 9008, "area lies outside the permitted scope")                     \
  X(UNKNOWN_PEER, 9009, "key is not enrolled at this server")                 \
  X(PROTOCOL, 9010, "unexpected message for this state of the protocol")      \
  X(STORE, 9011, "storage error")                                             \
  X(MAPFULL, 9012, "storage map is full (on a node: raise map_max_mb)")       \
  X(INVAL, 9013, "invalid argument")                                          \
  X(NOTFOUND, 9014, "not found")                                              \
  X(KEYPERM, 9015, "key file is readable by other users")                     \
  X(KEYFILE, 9016, "key file is missing or malformed")                        \
  X(CONFIG, 9017, "invalid configuration")                                    \
  X(CRYPTO, 9018, "cryptographic library failure")                            \
  X(TIMEOUT, 9019, "peer did not answer in time")                             \
  X(VERSION, 9020, "unsupported protocol or storage format version")          \
  X(LIMIT, 9021, "a bound on counts or lengths was exceeded")                 \
  X(BACKPRESSURE, 9022, "peer does not read; its output queue is full")       \
  X(REFUSED, 9023, "refused by the peer")                                     \
  X(CLOCK, 9024, "clock value is out of range")                               \
  X(SHUTDOWN, 9025, "server is shutting down")                               \
  X(UNTRUSTED, 9026, "certificate does not chain to the deployment root")     \
  X(EXPIRED, 9027, "certificate is not valid at this time")                   \
  X(REVOKED, 9028, "key has been revoked")                                    \
  X(HANDSHAKE, 9029, "secure handshake failed (wrong network key?)")         \
  X(NOSEALKEY, 9030, "no sealing key: a sealed field cannot be recorded")

enum fs_error {
#define FS_ERR_ENUM(name, num, text) FS_E##name = -(num),
  FS_ERRORS(FS_ERR_ENUM)
#undef FS_ERR_ENUM
};

/* Human sentence for any code: project codes, libuv/errno codes, 0. */
const char *fs_strerror(int err);

/* Short symbolic name ("E_BADSIG", "ECONNREFUSED"); never NULL. */
const char *fs_errname(int err);

/* Converts an LMDB return code (0, positive MDB_ codes or errno values) to a
 * project code; logs nothing. MDB_MAP_FULL becomes FS_EMAPFULL, MDB_NOTFOUND
 * FS_ENOTFOUND, ENOSPC UV_ENOSPC, other failures FS_ESTORE. */
int fs_err_from_mdb(int rc);

#endif
