/* admin.c - a small HTTP/1.1 server on the node's loop (http-parser). */
#include "admin.h"

#include "conflicts.h"
#include "conn.h"
#include "error.h"
#include "hex.h"
#include "keys.h"
#include "log.h"
#include "report.h" /* records issue: /api/report, /report */
#include "server.h"
#include "status.h"
#include "strbuf.h"

#include <http_parser.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ADMIN_REQ_MAX 16384
#define ADMIN_URL_MAX 2048
#define ADMIN_TIMEOUT_MS 10000
/* Reports and conflict lists read every record of their area (about a
 * second for 200,000 records): on the loop that would hold every peer's
 * Acks, so they run on the thread pool, one at a time (verification keeps
 * the other threads), the next ones waiting in order. */
#define ADMIN_JOBS_WAITING 8
#define ADMIN_JOB_TIMEOUT_MS 300000 /* from the request to its answer */
/* "Bearer " and a token, with room; a longer Authorization is simply wrong. */
#define ADMIN_AUTH_MAX (FS_ADMIN_TOKEN_MAX + 64)

extern const char fs_dashboard_html[];

typedef struct admin_job admin_job;

struct fs_admin {
  uv_tcp_t listener;
  fs_server *srv;
  struct http_req *reqs; /* open requests, to close them at stop */
  admin_job *running;    /* on the pool, or NULL */
  admin_job *waiting, *waiting_tail;
  unsigned nwaiting;
  bool listener_closed;  /* a is freed then, or when running ends after it */
  /* BLAKE2b of the token, not the token: compared in constant time with the
   * hash of what a request sends, whatever its length. */
  uint8_t token_hash[crypto_generichash_BYTES];
  bool has_token;
  bool stopping;
};

typedef struct http_req {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t write;
  fs_admin *admin;
  http_parser parser;
  char url[ADMIN_URL_MAX];
  size_t url_len, received;
  /* Headers arrive in pieces: the name of the current one, then its value;
   * only Authorization's value is kept (a secret: wiped once checked). */
  char field[16];
  size_t field_len;
  bool field_long, in_value, in_auth;
  char auth[ADMIN_AUTH_MAX];
  size_t auth_len;
  unsigned auth_headers;
  bool auth_long;
  fs_strbuf out;
  int open_handles;
  bool done, closing;
  admin_job *job;        /* waiting or running for this request, or NULL */
  struct http_req *prev, *next;
} http_req;

/* One request's work on the pool: fn reads the store in a transaction of
 * its own and fills body, type and code; it touches nothing of the loop's. */
struct admin_job {
  uv_work_t work;
  fs_admin *a;
  http_req *r;           /* its request (freed after the job if closed meanwhile) */
  int (*fn)(admin_job *j); /* reads a->srv's store and configuration only */
  char area[256], from[32], to[32], lang[8], fmt[16];
  fs_strbuf body;
  const char *type;
  int code;
  admin_job *next;       /* in a->waiting */
};

static void req_free(http_req *r) {
  fs_admin *a = r->admin; /* NULL once fs_admin_stop let go of the list */
  if (r->prev)
    r->prev->next = r->next;
  else if (a)
    a->reqs = r->next;
  if (r->next)
    r->next->prev = r->prev;
  fs_strbuf_free(&r->out);
  sodium_memzero(r->auth, sizeof r->auth); /* also when the request never finished */
  free(r);
}

static void job_free(admin_job *j) {
  fs_strbuf_free(&j->body);
  free(j);
}

static void req_handle_closed(uv_handle_t *h) {
  http_req *r = h->data;
  if (--r->open_handles > 0 || r->job) /* a running job frees it when it ends */
    return;
  req_free(r);
}

/* A job still waiting is dropped with its request. */
static void job_unqueue(fs_admin *a, admin_job *j) {
  admin_job *prev = NULL;
  for (admin_job *q = a->waiting; q; prev = q, q = q->next) {
    if (q != j)
      continue;
    if (prev)
      prev->next = q->next;
    else
      a->waiting = q->next;
    if (a->waiting_tail == q)
      a->waiting_tail = prev;
    a->nwaiting--;
    return;
  }
}

static void req_close(http_req *r) {
  if (r->closing)
    return;
  r->closing = true;
  if (r->job && r->job != r->job->a->running) {
    job_unqueue(r->job->a, r->job);
    job_free(r->job);
    r->job = NULL;
  }
  uv_close((uv_handle_t *)&r->tcp, req_handle_closed);
  uv_close((uv_handle_t *)&r->timer, req_handle_closed);
}

static void on_written(uv_write_t *w, int status) {
  (void)status;
  req_close(w->data);
}

/* extra: more header lines, each ending in CRLF, or "". */
static void respond_with(http_req *r, int code, const char *type, const char *extra,
                         const fs_strbuf *body) {
  const char *reason = code == 200 ? "OK" : code == 404 ? "Not Found"
                     : code == 405 ? "Method Not Allowed" : code == 400 ? "Bad Request"
                     : code == 401 ? "Unauthorized"
                     : code == 413 ? "Payload Too Large"
                     : code == 503 ? "Service Unavailable" : "Internal Server Error";
  fs_strbuf_printf(&r->out,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                   "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
                   code, reason, type, body ? body->len : 0, extra);
  if (body && body->len)
    fs_strbuf_add(&r->out, body->p, body->len);
  if (r->out.err) {
    req_close(r);
    return;
  }
  r->done = true;
  uv_read_stop((uv_stream_t *)&r->tcp);
  uv_buf_t buf = uv_buf_init(r->out.p, (unsigned)r->out.len);
  r->write.data = r;
  if (uv_write(&r->write, (uv_stream_t *)&r->tcp, &buf, 1, on_written) != 0)
    req_close(r);
}

static void respond(http_req *r, int code, const char *type, const fs_strbuf *body) {
  respond_with(r, code, type, "", body);
}

static void respond_text(http_req *r, int code, const char *text) {
  fs_strbuf b;
  fs_strbuf_init(&b);
  fs_strbuf_puts(&b, text);
  respond(r, code, "text/plain; charset=utf-8", &b);
  fs_strbuf_free(&b);
}

/* Value of a query parameter, URL-decoded into out; false when absent or
 * malformed. */
static bool query_param(const char *url, const char *name, char *out, size_t cap) {
  const char *q = strchr(url, '?');
  size_t nlen = strlen(name);
  while (q && *q) {
    q++;
    if (strncmp(q, name, nlen) == 0 && q[nlen] == '=') {
      const char *v = q + nlen + 1;
      size_t o = 0;
      while (*v && *v != '&') {
        if (o + 1 >= cap)
          return false;
        if (*v == '%' && v[1] && v[2]) {
          uint8_t byte;
          char hx[3] = {v[1], v[2], 0};
          if (fs_hex_decode(&byte, 1, hx) != 0)
            return false;
          out[o++] = (char)byte;
          v += 3;
        } else {
          out[o++] = *v == '+' ? ' ' : *v;
          v++;
        }
      }
      out[o] = '\0';
      return true;
    }
    q = strchr(q, '&');
  }
  return false;
}

static void route_digest(http_req *r, fs_server *srv) {
  char area[FS_MAX_AREA + 1];
  if (!query_param(r->url, "area", area, sizeof area) || !fs_area_valid(area)) {
    respond_text(r, 400, "area=PREFIX is required and must be an area code like KT.KPL\n");
    return;
  }
  MDB_txn *txn;
  uint8_t d[FS_HASH_LEN];
  uint64_t n = 0;
  int rc = fs_store_begin(&srv->store, false, &txn);
  if (rc == 0) {
    rc = fs_store_digest(&srv->store, txn, area, d, &n);
    mdb_txn_abort(txn);
  }
  if (rc) {
    respond_text(r, 500, fs_strerror(rc));
    return;
  }
  fs_strbuf b;
  fs_strbuf_init(&b);
  fs_strbuf_puts(&b, "{\"node\":");
  fs_strbuf_json(&b, srv->cfg->id);
  fs_strbuf_puts(&b, ",\"area\":");
  fs_strbuf_json(&b, area);
  fs_strbuf_puts(&b, ",\"digest\":\"");
  fs_strbuf_hex(&b, d, sizeof d);
  fs_strbuf_printf(&b, "\",\"records\":%llu}\n", (unsigned long long)n);
  respond(r, 200, "application/json", &b);
  fs_strbuf_free(&b);
}

static void on_timeout(uv_timer_t *t);

static void admin_free(fs_admin *a) {
  sodium_memzero(a->token_hash, sizeof a->token_hash);
  free(a);
}

static void job_work(uv_work_t *w) {
  admin_job *j = container_of(w, admin_job, work);
  j->code = j->fn(j);
}

static void job_start(fs_admin *a, admin_job *j);

static void job_done(uv_work_t *w, int status) {
  admin_job *j = container_of(w, admin_job, work);
  fs_admin *a = j->a;
  fs_server *srv = a->srv;
  a->running = NULL;
  if (--srv->store.pool_readers == 0)
    fs_ingest_grow_pending(&srv->ingest); /* before the next report starts */
  http_req *r = j->r;
  r->job = NULL;
  if (r->closing) {
    if (r->open_handles == 0)
      req_free(r);
  } else if (status != 0) {
    respond_text(r, 500, fs_strerror(status));
  } else {
    respond(r, j->code, j->type, &j->body);
  }
  job_free(j);
  while (!a->running && a->waiting) {
    admin_job *next = a->waiting;
    a->waiting = next->next;
    if (!a->waiting)
      a->waiting_tail = NULL;
    a->nwaiting--;
    job_start(a, next);
  }
  if (!a->running && a->stopping && a->listener_closed)
    admin_free(a);
}

/* Leaves a->running NULL, and j answered and freed, if the pool refuses. */
static void job_start(fs_admin *a, admin_job *j) {
  a->running = j;
  a->srv->store.pool_readers++;
  int rc = uv_queue_work(a->srv->loop, &j->work, job_work, job_done);
  if (rc) {
    a->running = NULL;
    a->srv->store.pool_readers--;
    j->r->job = NULL;
    respond_text(j->r, 500, fs_strerror(rc));
    job_free(j);
  }
}

/* Runs fn for r on the pool, now or after the jobs before it; the
 * parameters go into the job it returns (NULL: r is already answered). */
static admin_job *job_new(http_req *r, int (*fn)(admin_job *j)) {
  fs_admin *a = r->admin;
  if (a->running && a->nwaiting >= ADMIN_JOBS_WAITING) {
    fs_strbuf b;
    fs_strbuf_init(&b);
    fs_strbuf_printf(&b, "%u reports or conflict lists wait for the one being computed; "
                         "try again in a few seconds\n", a->nwaiting);
    respond_with(r, 503, "text/plain; charset=utf-8", "Retry-After: 5\r\n", &b);
    fs_strbuf_free(&b);
    return NULL;
  }
  admin_job *j = calloc(1, sizeof *j);
  if (!j) {
    respond_text(r, 500, fs_strerror(FS_ENOMEM));
    return NULL;
  }
  j->a = a;
  j->r = r;
  j->fn = fn;
  j->type = "text/plain; charset=utf-8";
  fs_strbuf_init(&j->body);
  return j;
}

static void job_submit(admin_job *j) {
  fs_admin *a = j->a;
  j->r->job = j;
  /* The request is complete: its answer comes from the job. Reading goes
   * on (on_read discards what comes) so that a client that hangs up takes
   * its waiting job with it (req_close). */
  j->r->done = true;
  uv_timer_start(&j->r->timer, on_timeout, ADMIN_JOB_TIMEOUT_MS, 0);
  if (!a->running) {
    job_start(a, j);
    return;
  }
  if (a->waiting_tail)
    a->waiting_tail->next = j;
  else
    a->waiting = j;
  a->waiting_tail = j;
  a->nwaiting++;
}

/* GET /api/conflicts?area=PREFIX[&format=text] (conflicts.h). */
static int conflicts_job(admin_job *j) {
  fs_server *srv = j->a->srv;
  bool text = strcmp(j->fmt, "text") == 0;
  MDB_txn *txn;
  int rc = fs_store_begin(&srv->store, false, &txn);
  if (rc == 0) {
    rc = fs_conflicts_render(&srv->store, txn, srv->cfg->id, j->area, !text, &j->body);
    mdb_txn_abort(txn);
  }
  if (rc) {
    fs_strbuf_free(&j->body); /* what was rendered before the error */
    fs_strbuf_init(&j->body);
    fs_strbuf_puts(&j->body, fs_strerror(rc));
    return 500;
  }
  j->type = text ? "text/plain; charset=utf-8" : "application/json";
  return 200;
}

static void route_conflicts(http_req *r, fs_server *srv) {
  char area[FS_MAX_AREA + 1];
  if (!query_param(r->url, "area", area, sizeof area) || !area[0])
    snprintf(area, sizeof area, "%s", srv->cfg->area);
  if (!fs_area_valid(area)) {
    respond_text(r, 400, "area=PREFIX must be an area code like KT.KPL\n");
    return;
  }
  admin_job *j = job_new(r, conflicts_job);
  if (!j)
    return;
  snprintf(j->area, sizeof j->area, "%s", area);
  if (!query_param(r->url, "format", j->fmt, sizeof j->fmt))
    j->fmt[0] = '\0';
  job_submit(j);
}

/* Records issue: GET /api/report?area=&from=&to=&lang=&format= (report.h). */
static int report_job(admin_job *j) {
  fs_server *srv = j->a->srv;
  int rc = fs_report_http(&srv->store, srv->cfg->id, srv->cfg->area, j->area, j->from, j->to,
                          j->lang, j->fmt, &j->body, &j->type);
  if (rc && rc != FS_EINVAL)
    fs_strbuf_printf(&j->body, "%s\n", fs_strerror(rc));
  return rc == 0 ? 200 : rc == FS_EINVAL ? 400 : 500;
}

static void route_report(http_req *r) {
  admin_job *j = job_new(r, report_job);
  if (!j)
    return;
  if (!query_param(r->url, "area", j->area, sizeof j->area)) j->area[0] = '\0';
  if (!query_param(r->url, "from", j->from, sizeof j->from)) j->from[0] = '\0';
  if (!query_param(r->url, "to", j->to, sizeof j->to)) j->to[0] = '\0';
  if (!query_param(r->url, "lang", j->lang, sizeof j->lang)) j->lang[0] = '\0';
  if (!query_param(r->url, "format", j->fmt, sizeof j->fmt)) j->fmt[0] = '\0';
  job_submit(j);
}

/* The two pages are the same bytes in every build and hold no data; they
 * must load without a header (a browser cannot add one to a navigation)
 * so that they can send the token with their own requests. */
static bool is_page(const char *url, size_t plen) {
  return (plen == 1 && url[0] == '/') || (plen == 7 && strncmp(url, "/report", 7) == 0);
}

/* What is wrong with the Authorization a request sent: NULL when it
 * carries the node's token, else "missing", "malformed" or "wrong". */
static const char *token_problem(const http_req *r) {
  if (r->auth_headers == 0)
    return "missing";
  size_t n = r->auth_len;
  while (n && (r->auth[n - 1] == ' ' || r->auth[n - 1] == '\t'))
    n--;
  if (r->auth_headers > 1 || r->auth_long || n < 7 || strncasecmp(r->auth, "Bearer ", 7) != 0)
    return "malformed";
  size_t off = 7;
  while (off < n && r->auth[off] == ' ')
    off++;
  uint8_t h[crypto_generichash_BYTES];
  crypto_generichash(h, sizeof h, (const uint8_t *)r->auth + off, n - off, NULL, 0);
  bool same = sodium_memcmp(h, r->admin->token_hash, sizeof h) == 0;
  sodium_memzero(h, sizeof h);
  return same ? NULL : "wrong";
}

/* True when the request may go on; otherwise it has been answered 401
 * (RFC 6750) and logged. */
static bool token_ok(http_req *r) {
  const char *why = token_problem(r);
  sodium_memzero(r->auth, sizeof r->auth);
  if (!why)
    return true;
  bool missing = r->auth_headers == 0;
  struct sockaddr_storage ss;
  int sl = sizeof ss;
  char host[64] = "?";
  if (uv_tcp_getpeername(&r->tcp, (struct sockaddr *)&ss, &sl) == 0)
    uv_ip_name((struct sockaddr *)&ss, host, sizeof host);
  /* A browser's first try has no header: only a bad token is news. The
   * path alone, up to anything that would end a logfmt value. */
  int plen = (int)strcspn(r->url, "?\" \\");
  fs_log(missing ? FS_LOG_DEBUG : FS_LOG_WARN, "admin.unauthorized",
         "peer=%s token=%s path=%.*s", host, why, plen < 100 ? plen : 100, r->url);
  fs_strbuf b;
  fs_strbuf_init(&b);
  fs_strbuf_puts(&b, missing ? "This admin port needs its token: send the header "
                               "'Authorization: Bearer TOKEN', TOKEN being the content of "
                               "the node's admin_token_file.\n"
                             : "The token sent is not this node's admin token (the content "
                               "of its admin_token_file).\n");
  respond_with(r, 401, "text/plain; charset=utf-8",
               missing ? "WWW-Authenticate: Bearer realm=\"fieldsync\"\r\n"
                       : "WWW-Authenticate: Bearer realm=\"fieldsync\", "
                         "error=\"invalid_token\"\r\n",
               &b);
  fs_strbuf_free(&b);
  return false;
}

static void route(http_req *r) {
  fs_server *srv = r->admin->srv;
  size_t plen = strcspn(r->url, "?");
  if (r->admin->has_token && !is_page(r->url, plen) && !token_ok(r))
    return;
  if (r->parser.method != HTTP_GET && r->parser.method != HTTP_HEAD) {
    respond_text(r, 405, "only GET\n");
    return;
  }
  fs_strbuf b;
  fs_strbuf_init(&b);
  int rc = 0;
  if (plen == 1 && r->url[0] == '/') {
    fs_strbuf_puts(&b, fs_dashboard_html);
    respond(r, 200, "text/html; charset=utf-8", &b);
  } else if (plen == 11 && strncmp(r->url, "/api/status", 11) == 0) {
    char fmt[16];
    if (query_param(r->url, "format", fmt, sizeof fmt) && strcmp(fmt, "text") == 0) {
      if ((rc = fs_status_text(srv, &b)) == 0)
        respond(r, 200, "text/plain; charset=utf-8", &b);
    } else if ((rc = fs_status_json(srv, &b)) == 0) {
      respond(r, 200, "application/json", &b);
    }
  } else if (plen == 8 && strncmp(r->url, "/metrics", 8) == 0) {
    if ((rc = fs_status_metrics(srv, &b)) == 0)
      respond(r, 200, "text/plain; version=0.0.4", &b);
  } else if (plen == 14 && strncmp(r->url, "/api/conflicts", 14) == 0) {
    route_conflicts(r, srv);
  } else if (plen == 11 && strncmp(r->url, "/api/digest", 11) == 0) {
    route_digest(r, srv);
  } else if (plen == 11 && strncmp(r->url, "/api/report", 11) == 0) { /* records issue */
    route_report(r);
  } else if (plen == 7 && strncmp(r->url, "/report", 7) == 0) { /* records issue */
    fs_strbuf_puts(&b, fs_report_html);
    respond(r, 200, "text/html; charset=utf-8", &b);
  } else {
    respond_text(r, 404, "not found: try /, /report, /api/status, /api/conflicts?area=KT, "
                         "/api/digest?area=KT, /api/report?area=KT or /metrics\n");
  }
  if (rc)
    respond_text(r, 500, fs_strerror(rc));
  fs_strbuf_free(&b);
}

static int on_url(http_parser *p, const char *at, size_t len) {
  http_req *r = p->data;
  if (r->url_len + len >= sizeof r->url)
    return 1; /* too long: the parser stops with an error */
  memcpy(r->url + r->url_len, at, len);
  r->url_len += len;
  r->url[r->url_len] = '\0';
  return 0;
}

static int on_complete(http_parser *p) {
  http_req *r = p->data;
  if (!r->done)
    route(r);
  return 1; /* one request per connection: ignore anything after it */
}

static int on_header_field(http_parser *p, const char *at, size_t len) {
  http_req *r = p->data;
  if (r->in_value) { /* a new header begins */
    r->in_value = false;
    r->field_len = 0;
    r->field_long = false;
  }
  if (r->field_len + len > sizeof r->field) {
    r->field_long = true; /* longer than any name we look for */
  } else {
    memcpy(r->field + r->field_len, at, len);
    r->field_len += len;
  }
  return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
  http_req *r = p->data;
  if (!r->in_value) {
    r->in_value = true;
    r->in_auth = !r->field_long && r->field_len == 13 &&
                 strncasecmp(r->field, "Authorization", 13) == 0;
    if (r->in_auth) {
      r->auth_headers++;
      r->auth_len = 0;
    }
  }
  if (!r->in_auth)
    return 0;
  if (r->auth_len + len >= sizeof r->auth) {
    r->auth_long = true;
  } else {
    memcpy(r->auth + r->auth_len, at, len);
    r->auth_len += len;
  }
  return 0;
}

static const http_parser_settings parser_settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_message_complete = on_complete,
};

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)h;
  (void)hint;
  static char slab[8192];
  buf->base = slab;
  buf->len = sizeof slab;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  http_req *r = s->data;
  if (n < 0) {
    req_close(r);
    return;
  }
  if (n == 0 || r->done)
    return;
  r->received += (size_t)n;
  if (r->received > ADMIN_REQ_MAX) {
    respond_text(r, 413, "request too large\n");
    return;
  }
  size_t used = http_parser_execute(&r->parser, &parser_settings, buf->base, (size_t)n);
  if (!r->done && (HTTP_PARSER_ERRNO(&r->parser) != HPE_OK || used != (size_t)n))
    respond_text(r, 400, "malformed HTTP request\n");
}

static void on_timeout(uv_timer_t *t) { req_close(t->data); }

static void on_connection(uv_stream_t *l, int status) {
  fs_admin *a = l->data;
  if (status < 0 || a->stopping)
    return;
  http_req *r = calloc(1, sizeof *r);
  if (!r)
    return;
  r->admin = a;
  fs_strbuf_init(&r->out);
  if (uv_tcp_init(l->loop, &r->tcp) != 0) {
    free(r);
    return;
  }
  r->tcp.data = r;
  r->open_handles = 1;
  r->next = a->reqs;
  if (a->reqs)
    a->reqs->prev = r;
  a->reqs = r;
  if (uv_timer_init(l->loop, &r->timer) != 0) {
    r->closing = true;
    uv_close((uv_handle_t *)&r->tcp, req_handle_closed);
    return;
  }
  r->timer.data = r;
  r->open_handles = 2;
  http_parser_init(&r->parser, HTTP_REQUEST);
  r->parser.data = r;
  if (uv_accept(l, (uv_stream_t *)&r->tcp) != 0 ||
      uv_read_start((uv_stream_t *)&r->tcp, on_alloc, on_read) != 0) {
    req_close(r);
    return;
  }
  uv_timer_start(&r->timer, on_timeout, ADMIN_TIMEOUT_MS, 0);
}

static void on_listener_closed(uv_handle_t *h) {
  fs_admin *a = h->data;
  a->listener_closed = true;
  if (!a->running) /* else the job's end frees it */
    admin_free(a);
}

void fs_admin_jobs(const fs_admin *a, unsigned *running, unsigned *waiting) {
  *running = a && a->running ? 1 : 0;
  *waiting = a ? a->nwaiting : 0;
}

bool fs_admin_addr_local(const char *addr) {
  struct sockaddr_storage ss;
  if (fs_addr_parse(addr, &ss) != 0)
    return false;
  if (ss.ss_family == AF_INET) {
    const uint8_t *ip = (const uint8_t *)&((struct sockaddr_in *)&ss)->sin_addr;
    return ip[0] == 127;
  }
  const struct in6_addr *ip6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;
  return IN6_IS_ADDR_LOOPBACK(ip6) || (IN6_IS_ADDR_V4MAPPED(ip6) && ip6->s6_addr[12] == 127);
}

bool fs_admin_token_valid(const char *tok) {
  size_t n = strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/");
  n += strspn(tok + n, "=");
  return tok[n] == '\0' && n >= FS_ADMIN_TOKEN_MIN && n <= FS_ADMIN_TOKEN_MAX;
}

int fs_admin_token_read(const char *path, char *tok, size_t cap) {
  enum { BUF = 1024 }; /* a comment line and the longest token, with room */
  /* Configuration parsing reads token files, also in tools and tests that
   * never initialised libsodium; sodium_malloc aborts without it. */
  if (fs_crypto_init() != 0)
    return FS_ECRYPTO;
  char *buf = sodium_malloc(BUF), *line = NULL;
  if (!buf)
    return FS_ENOMEM;
  int rc = fs_secret_file_read(path, buf, BUF, &line);
  /* A full buffer may have cut the file short: too long to be a token. */
  if (rc == 0 && (!line || strlen(buf) >= BUF - 1 || !fs_admin_token_valid(line) ||
                  strlen(line) >= cap))
    rc = FS_EINVAL;
  if (rc == 0)
    memcpy(tok, line, strlen(line) + 1);
  sodium_free(buf); /* wipes */
  return rc;
}

int fs_admin_token_create(const char *path) {
  uint8_t raw[32];
  char text[2 * sizeof raw + 2];
  randombytes_buf(raw, sizeof raw);
  fs_hex_encode(text, raw, sizeof raw);
  strcat(text, "\n");
  int rc = fs_secret_file_write(path, text);
  sodium_memzero(raw, sizeof raw);
  sodium_memzero(text, sizeof text);
  return rc;
}

const char *fs_admin_token_problem(int rc) {
  switch (rc) {
  case FS_EKEYPERM:
    return "is readable by group or others; run chmod 600 on it";
  case FS_EKEYFILE:
    return "cannot be read (missing, or not a regular file)";
  case FS_EINVAL:
    return "holds no token: one line of 16 to 256 characters from A-Z a-z 0-9 - . _ ~ + / "
           "(make one with: fieldsyncd admin token --out FILE)";
  default:
    return fs_strerror(rc);
  }
}

int fs_admin_start(fs_admin **out, fs_server *srv, const char *addr, const char *token_file) {
  struct sockaddr_storage ss;
  int rc = fs_addr_parse(addr, &ss);
  if (rc)
    return rc;
  bool has_token = token_file && token_file[0];
  if (!has_token && !fs_admin_addr_local(addr)) {
    fs_log(FS_LOG_ERROR, "admin.listen", "addr=%s msg=\"beyond loopback the admin port "
           "needs admin_token_file\"", addr);
    return FS_ECONFIG;
  }
  fs_admin *a = calloc(1, sizeof *a);
  if (!a)
    return FS_ENOMEM;
  a->srv = srv;
  if (has_token) {
    char tok[FS_ADMIN_TOKEN_MAX + 1];
    if ((rc = fs_admin_token_read(token_file, tok, sizeof tok))) {
      fs_log(FS_LOG_ERROR, "admin.token", "path=%s err=%s msg=\"%s\"", token_file,
             fs_errname(rc), fs_admin_token_problem(rc));
      free(a);
      return rc;
    }
    crypto_generichash(a->token_hash, sizeof a->token_hash, (const uint8_t *)tok,
                       strlen(tok), NULL, 0);
    sodium_memzero(tok, sizeof tok);
    a->has_token = true;
  }
  if ((rc = uv_tcp_init(srv->loop, &a->listener))) {
    free(a);
    return rc;
  }
  a->listener.data = a;
  if ((rc = uv_tcp_bind(&a->listener, (struct sockaddr *)&ss, 0)) ||
      (rc = uv_listen((uv_stream_t *)&a->listener, 64, on_connection))) {
    fs_log(FS_LOG_ERROR, "admin.listen", "addr=%s err=%s msg=\"%s\"", addr,
           fs_errname(rc), fs_strerror(rc));
    uv_close((uv_handle_t *)&a->listener, on_listener_closed);
    return rc;
  }
  fs_log(FS_LOG_INFO, "admin.started", "url=http://%s/ token=%s", addr,
         a->has_token ? "required" : "none");
  *out = a;
  return 0;
}

void fs_admin_stop(fs_admin *a) {
  if (a->stopping)
    return;
  a->stopping = true;
  /* Waiting jobs are dropped; the running one ends on the pool and frees
   * its request (and a, when the listener has closed by then). */
  for (admin_job *j = a->waiting, *next; j; j = next) {
    next = j->next;
    j->r->job = NULL;
    job_free(j);
  }
  a->waiting = a->waiting_tail = NULL;
  a->nwaiting = 0;
  /* Requests free themselves, in close callbacks that libuv may run after
   * the listener's has freed a: they are let go of first. */
  http_req *next;
  for (http_req *r = a->reqs; r; r = next) {
    next = r->next;
    r->admin = NULL;
    r->prev = r->next = NULL;
    req_close(r);
  }
  a->reqs = NULL;
  uv_close((uv_handle_t *)&a->listener, on_listener_closed);
}
