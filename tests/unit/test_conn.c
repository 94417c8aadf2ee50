/* test_conn.c - how a framed connection ends (common/conn.c), on a real
 * loopback socket pair in one libuv loop.
 *
 * The case that matters to an officer: the laptop is in the middle of a
 * large push when the server stops or refuses. The server's last frame
 * says why (an Error); the laptop must show that sentence, not "broken
 * pipe". Two ways the connection can end are covered:
 *   - the server finishes properly (fs_conn_fail): it must not reset the
 *     connection while the laptop's unread pushes sit in its buffer;
 *   - the server resets it anyway (closes at once on unread input, as a
 *     crashing or foreign peer would): the laptop's failed write must not
 *     hide the Error frame already in its receive buffer.
 * Plus: an orderly finish by both sides closes with reason 0. */
#include "conn.h"
#include "error.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define BIG_TEXT (60u << 10) /* one frame of the flood */
#define FLOOD_FRAMES 200     /* 12 MB: more than both kernel buffers can hold */
#define SMALL_FRAMES 4       /* 240 KB: fits in them, so libuv's queue is empty */

enum server_end { END_FAIL, END_RESET, END_FINISH };

typedef struct pair {
  uv_loop_t loop;
  uv_tcp_t listener;
  uv_timer_t timer, guard;
  fs_conn server, client;
  uint8_t netkey[FS_NETKEY_LEN];
  enum server_end how;
  char *text;
  int secure;
  /* what the client saw */
  int client_error_code, client_frames, client_closed, client_reason;
  int server_closed, server_reason;
  bool timed_out;
} pair;

static void send_text(fs_conn *c, const char *text) {
  Fs__Error err = FS__ERROR__INIT;
  err.code = 1;
  err.message = (char *)text;
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_ERROR;
  env.error = &err;
  assert_int_equal(fs_conn_send(c, &env), 0);
}

/* The server's end, once the client's flood is queued. */
static void on_end_timer(uv_timer_t *t) {
  pair *p = t->data;
  switch (p->how) {
  case END_FAIL:
    fs_conn_fail(&p->server, FS_ESHUTDOWN, "server is shutting down; sync again later");
    break;
  case END_RESET: {
    Fs__Error err = FS__ERROR__INIT;
    err.code = (uint32_t)-FS_ESHUTDOWN;
    err.message = "going away";
    Fs__Envelope env = FS__ENVELOPE__INIT;
    env.msg_case = FS__ENVELOPE__MSG_ERROR;
    env.error = &err;
    assert_int_equal(fs_conn_send(&p->server, &env), 0);
    fs_conn_close(&p->server, 0); /* unread input: the kernel sends a reset */
    /* The client writes before it reads again, as a laptop answering an
     * Ack does: the write fails at once, and libuv reports that before
     * the next read. */
    send_text(&p->client, "one more push");
    break;
  }
  case END_FINISH:
    fs_conn_finish(&p->server);
    break;
  }
}

static void on_server_frame(fs_conn *c, Fs__Envelope *env) {
  (void)c;
  fs__envelope__free_unpacked(env, NULL);
}

static void on_server_secure(fs_conn *c) {
  pair *p = container_of(c, pair, server);
  if (p->how != END_FINISH)
    fs_conn_pause(c); /* the client's pushes wait, unread, in the kernel */
  uv_timer_start(&p->timer, on_end_timer, p->how == END_FINISH ? 0 : 100, 0);
}

static void on_server_closed(fs_conn *c, int reason) {
  pair *p = container_of(c, pair, server);
  p->server_closed++;
  p->server_reason = reason;
}

static void on_client_frame(fs_conn *c, Fs__Envelope *env) {
  pair *p = container_of(c, pair, client);
  p->client_frames++;
  if (env->msg_case == FS__ENVELOPE__MSG_ERROR) {
    p->client_error_code = -(int)env->error->code;
    if (p->how == END_FAIL)
      fs_conn_finish(c); /* its queued pushes go, then an orderly end */
    else
      fs_conn_close(c, p->client_error_code);
  }
  fs__envelope__free_unpacked(env, NULL);
}

static void on_client_secure(fs_conn *c) {
  pair *p = container_of(c, pair, client);
  if (p->how == END_FINISH) {
    fs_conn_finish(c);
    return;
  }
  int frames = p->how == END_FAIL ? FLOOD_FRAMES : SMALL_FRAMES;
  for (int i = 0; i < frames; i++)
    send_text(c, p->text);
}

static void on_client_closed(fs_conn *c, int reason) {
  pair *p = container_of(c, pair, client);
  p->client_closed++;
  p->client_reason = reason;
}

static void on_client_connect(fs_conn *c, int status) {
  assert_int_equal(status, 0);
  (void)c;
}

static void on_accept(uv_stream_t *l, int status) {
  pair *p = l->data;
  assert_int_equal(status, 0);
  assert_int_equal(fs_conn_init(&p->loop, &p->server, p->netkey, on_server_frame,
                                on_server_secure, on_server_closed),
                   0);
  p->server.data = p;
  assert_int_equal(fs_conn_accept(&p->server, l, 0), 0);
  uv_close((uv_handle_t *)&p->listener, NULL); /* one connection only */
}

static void on_guard(uv_timer_t *t) {
  pair *p = t->data;
  p->timed_out = true;
  fs_conn_close(&p->client, FS_ETIMEOUT);
  fs_conn_close(&p->server, FS_ETIMEOUT);
}

static void run_pair(pair *p, enum server_end how) {
  memset(p, 0, sizeof *p);
  p->how = how;
  p->text = malloc(BIG_TEXT + 1);
  assert_non_null(p->text);
  memset(p->text, 'x', BIG_TEXT);
  p->text[BIG_TEXT] = '\0';
  memset(p->netkey, 7, sizeof p->netkey);
  assert_int_equal(uv_loop_init(&p->loop), 0);
  assert_int_equal(uv_tcp_init(&p->loop, &p->listener), 0);
  p->listener.data = p;
  struct sockaddr_in a;
  assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &a), 0);
  assert_int_equal(uv_tcp_bind(&p->listener, (const struct sockaddr *)&a, 0), 0);
  assert_int_equal(uv_listen((uv_stream_t *)&p->listener, 4, on_accept), 0);
  int len = sizeof a;
  assert_int_equal(uv_tcp_getsockname(&p->listener, (struct sockaddr *)&a, &len), 0);
  assert_int_equal(uv_timer_init(&p->loop, &p->timer), 0);
  assert_int_equal(uv_timer_init(&p->loop, &p->guard), 0);
  p->timer.data = p->guard.data = p;
  uv_timer_start(&p->guard, on_guard, 10000, 0);
  uv_unref((uv_handle_t *)&p->guard);
  assert_int_equal(fs_conn_init(&p->loop, &p->client, p->netkey, on_client_frame,
                                on_client_secure, on_client_closed),
                   0);
  p->client.data = p;
  assert_int_equal(fs_conn_connect(&p->client, (const struct sockaddr *)&a, 0,
                                   on_client_connect),
                   0);
  assert_int_equal(uv_run(&p->loop, UV_RUN_DEFAULT), 0);
  uv_close((uv_handle_t *)&p->timer, NULL);
  uv_close((uv_handle_t *)&p->guard, NULL);
  uv_run(&p->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&p->loop), 0);
  free(p->text);
  assert_false(p->timed_out);
  assert_int_equal(p->client_closed, 1);
  assert_int_equal(p->server_closed, 1);
}

/* The server ends properly while megabytes of the client's pushes are
 * unread: the client reads the Error (code and all), and the server takes
 * the rest of its input rather than resetting, so the client's own
 * orderly end succeeds (reason 0, not a failed write). */
static void test_fail_reaches_a_pushing_client(void **state) {
  (void)state;
  pair p;
  run_pair(&p, END_FAIL);
  assert_int_equal(p.client_error_code, FS_ESHUTDOWN);
  assert_int_equal(p.client_reason, 0);
  assert_int_equal(p.server_reason, FS_ESHUTDOWN);
}

/* The server resets: the client's writes fail, yet the Error it had
 * already received is still handed over. */
static void test_error_survives_a_reset(void **state) {
  (void)state;
  pair p;
  run_pair(&p, END_RESET);
  assert_int_equal(p.client_error_code, FS_ESHUTDOWN);
  assert_int_equal(p.client_frames, 1);
  assert_int_equal(p.client_reason, FS_ESHUTDOWN);
}

/* Both sides finish: each closes with reason 0 once the other's end
 * arrives, with no timeout involved. */
static void test_orderly_finish(void **state) {
  (void)state;
  pair p;
  run_pair(&p, END_FINISH);
  assert_int_equal(p.client_frames, 0);
  assert_int_equal(p.client_reason, 0);
  assert_int_equal(p.server_reason, 0);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN); /* as in both programs: a reset is an error code */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fail_reaches_a_pushing_client),
      cmocka_unit_test(test_error_survives_a_reset),
      cmocka_unit_test(test_orderly_finish),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
