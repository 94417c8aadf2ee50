/* gen_names.c - Kon Tum places and Vietnamese names for the sample data,
 * and the tree printer of fieldsync-gen. */
#include "gen.h"
#include "gen_impl.h"

#include "changeset.h"
#include "error.h"

#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------- Kon Tum names */

typedef struct place {
  const char *code, *name;
} place;

typedef struct district {
  const char *code, *name;
  place communes[8];
} district;

static const district kontum[] = {
    {"KPL", "huyện Kon Plông",
     {{"DAKNEN", "xã Đăk Nên"}, {"HIEU", "xã Hiếu"}, {"MANGCANH", "xã Măng Cành"},
      {"DAKLONG", "xã Đăk Long"}, {"DAKTANG", "xã Đăk Tăng"}, {"NGOKTEM", "xã Ngọk Tem"},
      {"POE", "xã Pờ Ê"}, {"MANGDEN", "thị trấn Măng Đen"}}},
    {"DH", "huyện Đăk Hà",
     {{"DAKMAR", "xã Đăk Mar"}, {"HAMON", "xã Hà Mòn"}, {"DAKHRING", "xã Đăk Hring"},
      {"DAKPXI", "xã Đăk Pxi"}, {"DAKLA", "xã Đăk La"}, {"NGOKWANG", "xã Ngọk Wang"},
      {"NGOKREO", "xã Ngọk Réo"}, {"DAKUI", "xã Đăk Ui"}}},
    {"DT", "huyện Đăk Tô",
     {{"DIENBINH", "xã Diên Bình"}, {"KONDAO", "xã Kon Đào"}, {"NGOKTU", "xã Ngọk Tụ"},
      {"TANCANH", "xã Tân Cảnh"}, {"POKO", "xã Pô Kô"}, {"DAKRONGA", "xã Đăk Rơ Nga"},
      {"VANLEM", "xã Văn Lem"}, {"DAKTRAM", "xã Đăk Trăm"}}},
    {"KTM", "thành phố Kon Tum",
     {{"QUYETTHANG", "phường Quyết Thắng"}, {"THANGLOI", "phường Thắng Lợi"},
      {"NGOMAY", "phường Ngô Mây"}, {"DAKCAM", "xã Đăk Cấm"}, {"IACHIM", "xã Ia Chim"},
      {"CHUHRENG", "xã Chư Hreng"}, {"DAKBLA", "xã Đăk Blà"}, {"VINHQUANG", "xã Vinh Quang"}}},
    {"NH", "huyện Ngọc Hồi",
     {{"PLEIKAN", "thị trấn Plei Kần"}, {"DAKDUC", "xã Đăk Dục"}, {"DAKNONG", "xã Đăk Nông"},
      {"BOY", "xã Bờ Y"}, {"SALOONG", "xã Sa Loong"}, {"DAKANG", "xã Đăk Ang"},
      {"DAKXU", "xã Đăk Xú"}, {"DAKKAN", "xã Đăk Kan"}}},
    {"ST", "huyện Sa Thầy",
     {{"SANHON", "xã Sa Nhơn"}, {"SABINH", "xã Sa Bình"}, {"SASON", "xã Sa Sơn"},
      {"ROKOI", "xã Rờ Kơi"}, {"MORAI", "xã Mô Rai"}, {"YAXIER", "xã Ya Xiêr"},
      {"YALY", "xã Ya Ly"}, {"HOMOONG", "xã Hơ Moong"}}},
    {"KR", "huyện Kon Rẫy",
     {{"DAKRUONG", "xã Đăk Ruồng"}, {"TANLAP", "xã Tân Lập"}, {"DAKTOLUNG", "xã Đăk Tơ Lung"},
      {"DAKKOI", "xã Đăk Kôi"}, {"DAKPNE", "xã Đăk Pne"}, {"DAKTORE", "xã Đăk Tờ Re"},
      {"DAKRVE", "thị trấn Đăk Rve"}, {"DAKRUONG2", "xã Đăk Ruồng 2"}}},
    {"DG", "huyện Đăk Glei",
     {{"DAKPEK", "xã Đăk Pék"}, {"DAKCHOONG", "xã Đăk Choong"}, {"XOP", "xã Xốp"},
      {"DAKMAN", "xã Đăk Man"}, {"DAKPLO", "xã Đăk Plô"}, {"DAKNHOONG", "xã Đăk Nhoong"},
      {"MUONGHOONG", "xã Mường Hoong"}, {"NGOCLINH", "xã Ngọc Linh"}}},
    {"TMR", "huyện Tu Mơ Rông",
     {{"DAKHA", "xã Đăk Hà"}, {"TUMORONG", "xã Tu Mơ Rông"}, {"MANGRI", "xã Măng Ri"},
      {"NGOKLAY", "xã Ngọk Lây"}, {"DAKNA", "xã Đăk Na"}, {"DAKSAO", "xã Đăk Sao"},
      {"TEXANG", "xã Tê Xăng"}, {"VANXUOI", "xã Văn Xuôi"}}},
    {"IHD", "huyện Ia H'Drai",
     {{"IATOI", "xã Ia Tơi"}, {"IADOM", "xã Ia Dom"}, {"IADAL", "xã Ia Dal"}}},
};

static const char *const villages[] = {
    "thôn 1", "thôn 2", "thôn 3", "thôn 4", "thôn 5", "thôn 6", "làng Kon Klor",
    "làng Plei Đôn", "thôn Kon Pring", "làng Đăk Rơ Wa", "thôn Kon Tu Dốp", "làng Kon Jơ Ri",
    "thôn Đăk Xế", "làng Plei Krông", "thôn Măng Khênh", "làng Tu Rang", "thôn Vi Klâng",
    "làng Đăk Lấp", "thôn Kon Hia", "làng Kon Brai", "thôn Ngọc Hoàng", "làng Đăk Kơ Đem",
};

static const char *families[] = {"Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan",
                                 "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Đinh"};
static const char *middles_m[] = {"Văn", "Đức", "Minh", "Hữu", "Quang", "Thanh"};
static const char *middles_f[] = {"Thị", "Ngọc", "Thu", "Thanh", "Thị", "Thị"};
static const char *given_m[] = {"An", "Bình", "Cường", "Dũng", "Hùng", "Khánh", "Long", "Nam",
                                "Phúc", "Quân", "Sơn", "Tâm", "Thắng", "Trung", "Tuấn", "Việt"};
static const char *given_f[] = {"Anh", "Dung", "Hà", "Hạnh", "Hoa", "Hương", "Lan", "Linh",
                                "Mai", "Nga", "Nhung", "Phương", "Thảo", "Trang", "Vy", "Yến"};
/* Xơ Đăng and Ba Na names (A for men, Y for women); Gia Rai clan names. */
static const char *minority_m[] = {"Phiên", "Thút", "Nhô", "Tâm", "Sang", "Khoa", "Hmưn",
                                   "Blong", "Đeo", "Kiên", "Rin", "Thái", "Quý", "Nuôi"};
static const char *minority_f[] = {"Lan", "Hoa", "Bích", "Đêl", "Nguyệt", "Hên", "Blin",
                                   "Khuyên", "Thư", "Mai", "Xuân", "Nhi", "Lúy"};
static const char *jarai[] = {"Siu Thu", "Rơ Mah Hương", "Ksor Vai", "Nay Blưm", "Rơ Châm Pếch",
                              "Kpă Thuyên", "Siu H'Nga", "Rơ Lan Glin"};

void gen_person(rng *g, char *out, size_t cap) {
  unsigned k = below(g, 10);
  bool male = chance(g, 55);
  if (k < 6)
    snprintf(out, cap, "%s %s %s", PICK(g, families),
             male ? PICK(g, middles_m) : PICK(g, middles_f),
             male ? PICK(g, given_m) : PICK(g, given_f));
  else if (k < 9)
    snprintf(out, cap, "%s %s", male ? "A" : "Y",
             male ? PICK(g, minority_m) : PICK(g, minority_f));
  else
    snprintf(out, cap, "%s", PICK(g, jarai));
}

const char *gen_village(rng *g) { return PICK(g, villages); }

const char *fs_gen_area_name(const char *area) {
  const char *dot = strchr(area, '.');
  if (!dot)
    return strcmp(area, "KT") == 0 ? "tỉnh Kon Tum" : NULL;
  for (size_t i = 0; i < N(kontum); i++) {
    size_t n = strlen(kontum[i].code);
    if (strncmp(dot + 1, kontum[i].code, n) != 0)
      continue;
    const char *rest = dot + 1 + n;
    if (*rest == '\0')
      return kontum[i].name;
    if (*rest != '.')
      continue;
    for (size_t k = 0; k < N(kontum[i].communes) && kontum[i].communes[k].code; k++) {
      size_t cn = strlen(kontum[i].communes[k].code);
      if (strncmp(rest + 1, kontum[i].communes[k].code, cn) == 0 &&
          (rest[1 + cn] == '\0' || rest[1 + cn] == '.'))
        return kontum[i].communes[k].name;
    }
  }
  return NULL;
}

/* -------------------------------------------------------------------- tree */

int fs_gen_tree(FILE *out, const char *province, unsigned districts, unsigned communes,
                unsigned laptops, uint64_t seed) {
  if (!fs_area_valid(province) || strchr(province, '.') || districts == 0 || communes == 0 ||
      districts > 99 || communes > 99 || laptops > 99)
    return FS_EINVAL;
  rng g = {seed ^ 0x7472656564656d6full};
  fprintf(out, "node province %s - %s\n", province,
          strcmp(province, "KT") == 0 ? "tỉnh Kon Tum" : province);
  for (unsigned i = 0; i < districts; i++) {
    char dcode[16], did[24], dname[64];
    const district *dd = i < N(kontum) ? &kontum[i] : NULL;
    if (dd) {
      snprintf(dcode, sizeof dcode, "%s", dd->code);
      snprintf(dname, sizeof dname, "%s", dd->name);
    } else {
      snprintf(dcode, sizeof dcode, "D%u", i + 1);
      snprintf(dname, sizeof dname, "huyện %u", i + 1);
    }
    snprintf(did, sizeof did, "d-%s", dcode);
    for (char *p = did; *p; p++)
      *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    fprintf(out, "node %s %s.%s province %s\n", did, province, dcode, dname);
    for (unsigned k = 0; k < communes; k++) {
      char ccode[24], cid[40], cname[64];
      const place *cc = dd && k < N(dd->communes) && dd->communes[k].code ? &dd->communes[k] : NULL;
      if (cc) {
        snprintf(ccode, sizeof ccode, "%s", cc->code);
        snprintf(cname, sizeof cname, "%s", cc->name);
      } else {
        snprintf(ccode, sizeof ccode, "X%u", k + 1);
        snprintf(cname, sizeof cname, "xã %u", k + 1);
      }
      snprintf(cid, sizeof cid, "c-%s", ccode);
      for (char *p = cid; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
      fprintf(out, "node %s %s.%s.%s %s %s\n", cid, province, dcode, ccode, did, cname);
      for (unsigned l = 0; l < laptops; l++) {
        char officer[96];
        gen_person(&g, officer, sizeof officer);
        fprintf(out, "laptop %s-l%u %s.%s.%s %s %s\n", cid, l + 1, province, dcode, ccode, cid,
                officer);
      }
    }
  }
  return 0;
}
