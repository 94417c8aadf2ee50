/* view.c - one line per record, values escaped so a line stays a line. */
#include "view.h"

#include "seal.h"

#include <string.h>

void fs_value_print(FILE *out, const uint8_t *v, size_t len) {
  if (fs_value_sealed(v, len)) {
    fputs("<sealed>", out); /* ciphertext: nobody here can read it */
    return;
  }
  bool quote = len == 0;
  for (size_t i = 0; i < len && !quote; i++)
    quote = v[i] <= ' ' || v[i] == '"' || v[i] == '\\' || v[i] == 0x7f;
  if (quote)
    fputc('"', out);
  for (size_t i = 0; i < len; i++) {
    uint8_t c = v[i];
    if (c == '"' || c == '\\')
      fprintf(out, "\\%c", c);
    else if (c == '\n')
      fputs("\\n", out);
    else if (c < ' ' || c == 0x7f)
      fprintf(out, "\\x%02x", c);
    else
      fputc(c, out); /* UTF-8 passes through byte for byte */
  }
  if (quote)
    fputc('"', out);
}

int fs_record_print(void *arg, const fs_record *r) {
  const fs_view_opts *o = arg;
  bool visible = fs_record_visible(r);
  if (!visible && !o->all)
    return 0;
  if (o->type && (!r->type || strcmp(o->type, r->type) != 0))
    return 0;
  fprintf(o->out, "%s %s %s", r->area, r->id, r->type ? r->type : "-");
  if (!visible)
    fputs(" deleted", o->out);
  for (size_t i = 0; i < r->nfields; i++) {
    const fs_field *f = &r->fields[i];
    if (!fs_field_visible(r, f))
      continue;
    fprintf(o->out, " %s=", f->name);
    fs_value_print(o->out, f->value, f->value_len);
  }
  fputc('\n', o->out);
  return 0;
}
