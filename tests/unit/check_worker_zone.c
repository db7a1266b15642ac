/*
 * check_worker_zone: the TZif reader behind the current_time tool
 * (worker/agents/zone.c).  Its answers are compared with glibc's own
 * (setenv TZ + tzset + localtime_r, fine in this single-threaded test) for
 * real zones from 1970 to 2100, at and around every DST change of a few
 * years (the footer's TZ string decides after 2037), and for footers
 * alone; a few answers are also fixed by hand (from Python's zoneinfo),
 * so that a bug shared with glibc would not pass.  Then the refusals:
 * names that could leave the zone directory, unknown zones, truncated,
 * garbage and damaged images.  Needs Debian's tzdata (/usr/share/zoneinfo).
 */
#define _DEFAULT_SOURCE         /* tm_gmtoff, tm_zone, setenv, mkdtemp */

#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agents/zone.h"

#define ZONEINFO "/usr/share/zoneinfo"

static const char *const zones[] = {
    "Europe/Paris", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "Asia/Tehran",
    "America/Sao_Paulo", "Pacific/Chatham", "Africa/Casablanca", "Europe/Dublin", "UTC",
    "Asia/Jerusalem", "America/St_Johns", "Pacific/Apia", "America/Nuuk",
};
#define NZONES (sizeof(zones) / sizeof(zones[0]))

/* ---- helpers ----------------------------------------------------------- */

static unsigned char *
load(const char *path, size_t *len)
{
    FILE           *f = fopen(path, "rb");
    unsigned char  *buf;
    long            n;

    ck_assert_msg(f != NULL, "cannot open %s (is Debian's tzdata installed?)", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    ck_assert(n > 0);
    rewind(f);
    buf = malloc((size_t) n);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t) n, f), (size_t) n);
    fclose(f);
    *len = (size_t) n;
    return buf;
}

static unsigned char *
load_zone(const char *zone, size_t *len)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/%s", ZONEINFO, zone);
    return load(path, len);
}

/* TZ for glibc: a file (":/usr/share/zoneinfo/...") or a POSIX string. */
static void
use_tz(const char *tz)
{
    ck_assert_int_eq(setenv("TZ", tz, 1), 0);
    tzset();
}

static const char *
utc_text(time_t t)
{
    static char  text[40];
    struct tm    tm;

    if (gmtime_r(&t, &tm) == NULL) {
        return "?";
    }
    strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return text;
}

/* mg_zone_at_buf and glibc (under the current TZ) agree at t: the same
 * 3-tuple, whatever it is; 1 when it is DST. */
static int
expect_glibc(const char *label, const unsigned char *buf, size_t len, time_t t)
{
    struct tm        tm;
    mg_zone_local_t  z;
    char             err[256] = "";

    ck_assert_ptr_nonnull(localtime_r(&t, &tm));
    ck_assert_msg(mg_zone_at_buf(buf, len, t, &z, err, sizeof(err)) == 0, "%s at %s: %s",
                  label, utc_text(t), err);
    ck_assert_msg(z.utc_offset == tm.tm_gmtoff && z.is_dst == (tm.tm_isdst > 0)
                  && strcmp(z.abbrev, tm.tm_zone) == 0,
                  "%s at %s (%lld): mg_zone %ld %d %s, glibc %ld %d %s", label, utc_text(t),
                  (long long) t, z.utc_offset, z.is_dst, z.abbrev, (long) tm.tm_gmtoff,
                  tm.tm_isdst, tm.tm_zone);
    return z.is_dst;
}

/* glibc's state at t, to find its changes */
static void
glibc_key(time_t t, char *key, size_t keylen)
{
    struct tm tm;

    ck_assert_ptr_nonnull(localtime_r(&t, &tm));
    snprintf(key, keylen, "%ld/%d/%s", (long) tm.tm_gmtoff, tm.tm_isdst > 0, tm.tm_zone);
}

static time_t
year_start(int year)
{
    struct tm  tm;

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mday = 1;
    return timegm(&tm);
}

/* Every 23 hours of year (a drifting time of day; changes are weeks apart
 * at least), and around each change glibc makes in it, found to the
 * second: t-3600, t-1, t, t+1, t+3600.  Returns the changes. */
#define STEP (23 * 3600)

static int
compare_year(const char *label, const unsigned char *buf, size_t len, int year)
{
    time_t  t = year_start(year), end = year_start(year + 1), lo, hi, mid;
    char    prev[64], cur[64], k[64];
    int     changes = 0;

    glibc_key(t, prev, sizeof(prev));
    for (; t < end; t += STEP) {
        expect_glibc(label, buf, len, t);
        glibc_key(t + STEP, cur, sizeof(cur));
        if (strcmp(cur, prev) != 0) {
            lo = t;
            hi = t + STEP;
            while (hi - lo > 1) {
                mid = lo + (hi - lo) / 2;
                glibc_key(mid, k, sizeof(k));
                if (strcmp(k, prev) == 0) {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            expect_glibc(label, buf, len, hi - 3600);
            expect_glibc(label, buf, len, hi - 1);
            expect_glibc(label, buf, len, hi);
            expect_glibc(label, buf, len, hi + 1);
            expect_glibc(label, buf, len, hi + 3600);
            changes++;
            memcpy(prev, cur, sizeof(prev));
        }
    }
    return changes;
}

/* A TZif image: version 0 (v1 only) or '2'.. (a v1 block with the same
 * data in 32-bit times, then the 64-bit block and the footer). */
typedef struct {
    int32_t  off;
    uint8_t  dst, idx;
} ttype_t;

static unsigned char *
put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) (v >> 24);
    p[1] = (unsigned char) (v >> 16);
    p[2] = (unsigned char) (v >> 8);
    p[3] = (unsigned char) v;
    return p + 4;
}

static unsigned char *
put_block(unsigned char *p, int version, int wide, const int64_t *times, const uint8_t *idx,
          uint32_t ntimes, const ttype_t *types, uint32_t ntypes, const char *chars, uint32_t nchars)
{
    memcpy(p, "TZif", 4);
    p[4] = (unsigned char) version;
    memset(p + 5, 0, 15);
    p += 20;
    p = put32(p, 0);            /* isutcnt */
    p = put32(p, 0);            /* isstdcnt */
    p = put32(p, 0);            /* leapcnt */
    p = put32(p, ntimes);
    p = put32(p, ntypes);
    p = put32(p, nchars);
    for (uint32_t i = 0; i < ntimes; i++) {
        if (wide) {
            p = put32(p, (uint32_t) ((uint64_t) times[i] >> 32));
        }
        p = put32(p, (uint32_t) (uint64_t) times[i]);
    }
    for (uint32_t i = 0; i < ntimes; i++) {
        *p++ = idx[i];
    }
    for (uint32_t i = 0; i < ntypes; i++) {
        p = put32(p, (uint32_t) types[i].off);
        *p++ = types[i].dst;
        *p++ = types[i].idx;
    }
    memcpy(p, chars, nchars);
    return p + nchars;
}

static size_t
build(unsigned char *out, int version, const int64_t *times, const uint8_t *idx, uint32_t ntimes,
      const ttype_t *types, uint32_t ntypes, const char *chars, uint32_t nchars, const char *footer)
{
    unsigned char *p = put_block(out, version, 0, times, idx, ntimes, types, ntypes, chars, nchars);

    if (version != 0) {
        p = put_block(p, version, 1, times, idx, ntimes, types, ntypes, chars, nchars);
        *p++ = '\n';
        memcpy(p, footer, strlen(footer));
        p += strlen(footer);
        *p++ = '\n';
    }
    return (size_t) (p - out);
}

/* A v2+ image with no transitions: the footer decides everything. */
static size_t
build_footer(unsigned char *out, int version, const char *footer)
{
    static const ttype_t  t0 = { 0, 0, 0 };

    return build(out, version, NULL, NULL, 0, &t0, 1, "XXX", 4, footer);
}

static void
expect_local(const char *what, int rc, const mg_zone_local_t *z, const char *err,
             long off, int dst, const char *abbrev)
{
    ck_assert_msg(rc == 0, "%s: %s", what, err);
    ck_assert_msg(z->utc_offset == off && z->is_dst == dst && strcmp(z->abbrev, abbrev) == 0,
                  "%s: %ld %d %s, want %ld %d %s", what, z->utc_offset, z->is_dst, z->abbrev,
                  off, dst, abbrev);
}

static void
expect_zone(const char *zone, time_t t, long off, int dst, const char *abbrev)
{
    mg_zone_local_t  z;
    char             err[256] = "", what[128];

    snprintf(what, sizeof(what), "%s at %lld", zone, (long long) t);
    expect_local(what, mg_zone_at(zone, t, &z, err, sizeof(err)), &z, err, off, dst, abbrev);
}

static void
expect_buf(const char *what, const unsigned char *buf, size_t len, time_t t, long off, int dst,
           const char *abbrev)
{
    mg_zone_local_t  z;
    char             err[256] = "";

    expect_local(what, mg_zone_at_buf(buf, len, t, &z, err, sizeof(err)), &z, err, off, dst, abbrev);
}

/* The reason a refusal gives; *out must stay untouched. */
static const char *
refused_buf(const unsigned char *buf, size_t len, time_t t)
{
    static char      err[256];
    mg_zone_local_t  z;

    memset(&z, 0x5a, sizeof(z));
    err[0] = '\0';
    ck_assert_int_eq(mg_zone_at_buf(buf, len, t, &z, err, sizeof(err)), -1);
    ck_assert_msg(err[0] != '\0', "no reason");
    ck_assert_msg(z.is_dst == 0x5a5a5a5a, "the answer was written on failure");
    return err;
}

static const char *
refused_name(const char *name)
{
    static char      err[256];
    mg_zone_local_t  z;

    memset(&z, 0x5a, sizeof(z));
    err[0] = '\0';
    ck_assert_msg(mg_zone_at(name, 1700000000, &z, err, sizeof(err)) == -1, "%s was accepted", name);
    ck_assert_msg(err[0] != '\0', "%s: no reason", name);
    ck_assert_msg(z.is_dst == 0x5a5a5a5a, "%s: the answer was written on failure", name);
    return err;
}

#define ck_assert_has(text, part) \
    ck_assert_msg(strstr((text), (part)) != NULL, "\"%s\" does not say \"%s\"", (text), (part))

/* ---- against glibc ----------------------------------------------------- */

START_TEST(tzdata_is_installed)
{
    struct stat st;

    ck_assert_msg(stat(ZONEINFO "/Europe/Paris", &st) == 0 && S_ISREG(st.st_mode),
                  ZONEINFO "/Europe/Paris is missing: install Debian's tzdata");
}
END_TEST

START_TEST(real_zones_match_glibc_1970_to_2100)
{
    const char      *zone = zones[_i];
    char             tz[256], err[256];
    unsigned char   *buf;
    size_t           len;
    time_t           t, end = year_start(2101);
    mg_zone_local_t  a, b;
    int              n = 0;

    buf = load_zone(zone, &len);
    snprintf(tz, sizeof(tz), ":%s/%s", ZONEINFO, zone);
    use_tz(tz);
    /* about every 11 days, at a drifting time of day */
    for (t = 0; t < end; t += 11 * 86400 + 3697) {
        expect_glibc(zone, buf, len, t);
        /* the file path gives the same as the image, now and then */
        if (n++ % 97 == 0) {
            ck_assert_msg(mg_zone_at(zone, t, &a, err, sizeof(err)) == 0, "%s: %s", zone, err);
            ck_assert_int_eq(mg_zone_at_buf(buf, len, t, &b, err, sizeof(err)), 0);
            ck_assert(memcmp(&a, &b, sizeof(a)) == 0);
        }
    }
    expect_glibc(zone, buf, len, end - 1);
    free(buf);
}
END_TEST

START_TEST(real_zones_dst_changes_match_glibc)
{
    const char     *zone = zones[_i];
    char            tz[256];
    unsigned char  *buf;
    size_t          len;
    time_t          now = time(NULL);
    struct tm       tm;
    int             year, changes, footer_changes = 0;
    const int       later[] = { 2037, 2038, 2039, 2045, 2077, 2099, 2100 };

    ck_assert_ptr_nonnull(gmtime_r(&now, &tm));
    year = tm.tm_year + 1900;
    buf = load_zone(zone, &len);
    snprintf(tz, sizeof(tz), ":%s/%s", ZONEINFO, zone);
    use_tz(tz);
    changes = compare_year(zone, buf, len, year) + compare_year(zone, buf, len, year + 1);
    for (size_t i = 0; i < sizeof(later) / sizeof(later[0]); i++) {
        footer_changes += compare_year(zone, buf, len, later[i]);
    }
    /* the zones that keep DST must have shown their changes (the years
     * after 2037 through the footer) */
    if (strcmp(zone, "Europe/Paris") == 0 || strcmp(zone, "Australia/Sydney") == 0
        || strcmp(zone, "Asia/Jerusalem") == 0 || strcmp(zone, "America/Nuuk") == 0) {
        ck_assert_int_eq(changes, 4);
        ck_assert_int_eq(footer_changes, 14);
    }
    free(buf);
}
END_TEST

/* Footers alone (no transitions): every rule form, against glibc's reading
 * of the same string as TZ. */
START_TEST(footers_match_glibc)
{
    static const char *const footers[] = {
        "EST5EDT,M3.2.0,M11.1.0",
        "CET-1CEST,M3.5.0,M10.5.0/3",
        "PST8PDT,M3.2.0/2:00:00,M11.1.0/2:00:00",
        "<+0530>-5:30",
        "<-03>3",
        "UTC0",
        "IST-2IDT,M3.4.4/26,M10.5.0",                       /* v3: hours beyond 24 */
        "<-02>2<-01>,M3.5.0/-1,M10.5.0/0",                  /* v3: negative hours */
        "AEST-10AEDT,M10.1.0,M4.1.0/3",                     /* south: DST over new year */
        "NZST-12NZDT,M9.5.0,M4.1.0/3",
        "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45",
        "IST-1GMT0,M10.5.0,M3.5.0/1",                       /* Dublin: negative DST */
        "NST3:30NDT,M3.2.0,M11.1.0",
        "<-01>1<+00>0,M3.5.0/0,M10.5.0/1",
        "XXX3YYY,J60/2,J300/2",                             /* Jn: no Feb 29 */
        "XXX3YYY,59/2,300/2",                               /* n: counts Feb 29 */
        "AAA-3BBB-4:30:15,J2/0:30,J364/23:59:59",
        "<+04>-4<+05>,M4.1.6/-23:30,M10.5.5/50",
    };
    static const int years[] = { 1971, 2000, 2024, 2025, 2038, 2100 };
    unsigned char  buf[256];
    size_t         len;

    for (size_t f = 0; f < sizeof(footers) / sizeof(footers[0]); f++) {
        len = build_footer(buf, '3', footers[f]);
        use_tz(footers[f]);
        for (size_t y = 0; y < sizeof(years) / sizeof(years[0]); y++) {
            compare_year(footers[f], buf, len, years[y]);
        }
    }
}
END_TEST

/* ---- fixed answers ------------------------------------------------------ */

START_TEST(fixed_answers)
{
    unsigned char  buf[256];
    size_t         len;

    expect_zone("Europe/Paris", 1719792000, 7200, 1, "CEST");               /* 2024-07-01 */
    expect_zone("Europe/Paris", 1705276800, 3600, 0, "CET");
    expect_zone("Asia/Kolkata", 1705276800, 19800, 0, "IST");
    expect_zone("UTC", 0, 0, 0, "UTC");
    expect_zone("America/Argentina/Buenos_Aires", 1705276800, -10800, 0, "-03");
    expect_zone("Etc/GMT+5", 1705276800, -18000, 0, "-05");
    /* after 2037: the footers (Python's zoneinfo gives these instants) */
    expect_zone("Europe/Paris", 3384118799, 3600, 0, "CET");                /* 2077-03-28 01:00Z */
    expect_zone("Europe/Paris", 3384118800, 7200, 1, "CEST");
    expect_zone("Europe/Paris", 3402867599, 7200, 1, "CEST");
    expect_zone("Europe/Paris", 3402867600, 3600, 0, "CET");
    expect_zone("Asia/Jerusalem", 2531779199, 7200, 0, "IST");              /* Friday 02:00, "/26" */
    expect_zone("Asia/Jerusalem", 2531779200, 10800, 1, "IDT");
    expect_zone("Asia/Jerusalem", 2550697200, 7200, 0, "IST");
    expect_zone("Australia/Sydney", 3794745599, 39600, 1, "AEDT");
    expect_zone("Australia/Sydney", 3794745600, 36000, 0, "AEST");
    expect_zone("Australia/Sydney", 3810470400, 39600, 1, "AEDT");
    expect_zone("Australia/Sydney", 2524608000, 39600, 1, "AEDT");          /* 2050-01-01 */
    expect_zone("Pacific/Chatham", 2848226400, 45900, 0, "+1245");
    expect_zone("Pacific/Chatham", 2863346400, 49500, 1, "+1345");
    expect_zone("America/Nuuk", 2374102799, -7200, 0, "-02");               /* "/-1" */
    expect_zone("America/Nuuk", 2374102800, -3600, 1, "-01");
    expect_zone("Europe/Dublin", 3479072400, 3600, 0, "IST");               /* summer is standard */
    expect_zone("Europe/Dublin", 3497216400, 0, 1, "GMT");

    /* Jn skips Feb 29, n counts it: DST at 02:00 local (-03) = 05:00Z */
    len = build_footer(buf, '2', "XXX3YYY,J60/2,J300/2");
    expect_buf("J60 2024", buf, len, 1709269199, -10800, 0, "XXX");         /* 2024-03-01 05:00Z */
    expect_buf("J60 2024", buf, len, 1709269200, -7200, 1, "YYY");
    expect_buf("J60 2023", buf, len, 1677646800, -7200, 1, "YYY");
    expect_buf("J60 2100", buf, len, 4107560400, -7200, 1, "YYY");
    len = build_footer(buf, '2', "XXX3YYY,59/2,300/2");
    expect_buf("59 2024", buf, len, 1709182799, -10800, 0, "XXX");          /* 2024-02-29 05:00Z */
    expect_buf("59 2024", buf, len, 1709182800, -7200, 1, "YYY");
    expect_buf("59 2023", buf, len, 1677646799, -10800, 0, "XXX");          /* 2023-03-01 */
    expect_buf("59 2023", buf, len, 1677646800, -7200, 1, "YYY");

    /* DST all year (zic writes it so): no gap at new year, where a
     * reader that looks at one year only would have one */
    len = build_footer(buf, '3', "<-04>4<-03>,J1/0,J365/25");
    expect_buf("all year", buf, len, 2524608000, -10800, 1, "-03");         /* 2050-01-01 00:00Z */
    expect_buf("all year", buf, len, 2524622399, -10800, 1, "-03");
    expect_buf("all year", buf, len, 2524622400, -10800, 1, "-03");
    expect_buf("all year", buf, len, 2540246400, -10800, 1, "-03");

    /* t beyond a billion years is refused, just inside is answered */
    ck_assert_has(refused_buf(buf, len, (time_t) (((int64_t) 1 << 55) + 1)), "too far");
    ck_assert_has(refused_buf(buf, len, (time_t) INT64_MAX), "too far");
    ck_assert_has(refused_buf(buf, len, (time_t) INT64_MIN), "too far");
    expect_buf("far", buf, len, (time_t) ((int64_t) 1 << 55), -10800, 1, "-03");
    expect_buf("far", buf, len, (time_t) -((int64_t) 1 << 55), -10800, 1, "-03");
}
END_TEST

/* Hand-made images: v1 only, type 0 before the first transition (even a
 * DST one: RFC 8536, not glibc's first-standard-type), the last type when
 * the footer is empty, future versions. */
START_TEST(table_rules)
{
    static const int64_t  times[] = { 1000, 2000, 3000 };
    static const uint8_t  idx[] = { 1, 2, 1 };
    static const ttype_t  types[] = { { 3600, 1, 0 }, { 0, 0, 4 }, { -1800, 0, 8 } };
    static const char     chars[] = "AAA\0BBB\0CCCC";
    static const ttype_t  bare[] = { { 0, 0, 0 }, { -1800, 0, 4 } };
    unsigned char         buf[512];
    size_t                len;
    char                  what[32];

    for (int v = 0; v <= '5'; v = v == 0 ? '2' : v + 1) {
        snprintf(what, sizeof(what), "version %c", v == 0 ? '1' : v);
        len = build(buf, v, times, idx, 3, types, 3, chars, sizeof(chars), "");
        expect_buf(what, buf, len, -5000000000LL, 3600, 1, "AAA");
        expect_buf(what, buf, len, 999, 3600, 1, "AAA");
        expect_buf(what, buf, len, 1000, 0, 0, "BBB");
        expect_buf(what, buf, len, 1999, 0, 0, "BBB");
        expect_buf(what, buf, len, 2000, -1800, 0, "CCCC");
        expect_buf(what, buf, len, 2999, -1800, 0, "CCCC");
        expect_buf(what, buf, len, 3000, 0, 0, "BBB");
        expect_buf(what, buf, len, 5000000000LL, 0, 0, "BBB");
    }
    /* a footer takes over from the last transition on */
    len = build(buf, '2', times, idx, 3, types, 3, chars, sizeof(chars), "<+07>-7");
    expect_buf("footer", buf, len, 2999, -1800, 0, "CCCC");
    expect_buf("footer", buf, len, 3000, 25200, 0, "+07");
    /* no transitions, no footer: type 0 */
    len = build(buf, '2', NULL, NULL, 0, &bare[0], 1, "BBB", 4, "");
    expect_buf("bare", buf, len, 1700000000, 0, 0, "BBB");
    len = build(buf, 0, NULL, NULL, 0, &bare[1], 1, "BBB\0CCCC", 9, "");
    expect_buf("bare v1", buf, len, 1700000000, -1800, 0, "CCCC");
}
END_TEST

/* ---- refusals ----------------------------------------------------------- */

START_TEST(invalid_names)
{
    char  longname[80];

    ck_assert_has(refused_name("../etc/passwd"), "\"..\" parts");
    ck_assert_has(refused_name("Europe/../../x"), "\"..\" parts");
    ck_assert_has(refused_name("./UTC"), "\"..\" parts");
    ck_assert_has(refused_name("/etc/localtime"), "not a path");
    ck_assert_has(refused_name(""), "no time zone name");
    ck_assert_has(refused_name(NULL), "no time zone name");
    ck_assert_has(refused_name("Europe//Paris"), "empty part");
    ck_assert_has(refused_name("Europe/Paris/"), "empty part");
    ck_assert_has(refused_name("zone.tab"), "holds '.'");
    ck_assert_has(refused_name("Europe/Paris "), "holds the byte 0x20");
    ck_assert_has(refused_name("Europe\\Paris"), "holds '\\'");
    ck_assert_has(refused_name("Europe/Paris\n"), "byte 0x0a");
    ck_assert_has(refused_name("Europe/Par\xc3\xafs"), "byte 0xc3");
    memset(longname, 'A', 65);
    longname[65] = '\0';
    ck_assert_has(refused_name(longname), "longer than 64 bytes");
    /* 64 bytes is a valid name, merely unknown */
    longname[64] = '\0';
    ck_assert_has(refused_name(longname), "unknown time zone");
    ck_assert_str_eq(refused_name("Not/AZone"),
                     "unknown time zone 'Not/AZone' (IANA names look like Europe/Paris)");
    ck_assert_has(refused_name("Europe"), "'Europe' is a group of time zones");
}
END_TEST

/* Through mg_zone_set_dir: files that are not zones. */
START_TEST(bad_files)
{
    char             dir[] = "/tmp/check_zone_XXXXXX", path[128], err[256];
    unsigned char    good[256], *junk;
    size_t           len;
    FILE            *f;
    mg_zone_local_t  z;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/Bad", dir);
    f = fopen(path, "wb");
    fputs("this is not a zone\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/Big", dir);
    f = fopen(path, "wb");
    len = build_footer(good, '2', "<+03>-3");
    fwrite(good, 1, len, f);
    junk = calloc(1, MG_ZONE_FILE_MAX);
    fwrite(junk, 1, MG_ZONE_FILE_MAX, f);
    free(junk);
    fclose(f);
    snprintf(path, sizeof(path), "%s/Good", dir);
    f = fopen(path, "wb");
    fwrite(good, 1, len, f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/Fifo", dir);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    snprintf(path, sizeof(path), "%s/Empty", dir);
    fclose(fopen(path, "wb"));

    ck_assert_int_eq(mg_zone_set_dir(dir), 0);
    ck_assert_int_eq(mg_zone_at("Good", 0, &z, err, sizeof(err)), 0);
    ck_assert_int_eq(z.utc_offset, 10800);
    ck_assert_has(refused_name("Bad"), "the time zone file for 'Bad' is unusable: not a TZif file");
    ck_assert_has(refused_name("Empty"), "unusable: not a TZif file");
    ck_assert_has(refused_name("Big"), "larger than 256 KiB");
    ck_assert_has(refused_name("Fifo"), "'Fifo' is not a time zone file");
    ck_assert_has(refused_name("Europe/Paris"), "unknown time zone");
    ck_assert_has(refused_name("Good/Paris"), "unknown time zone");
    ck_assert_int_eq(mg_zone_set_dir(NULL), 0);
    ck_assert_int_eq(mg_zone_at("Europe/Paris", 0, &z, err, sizeof(err)), 0);

    /* a directory too long for the setting leaves it as it was */
    {
        char long_dir[MG_ZONE_DIR_MAX + 10];

        memset(long_dir, 'd', sizeof(long_dir) - 1);
        long_dir[sizeof(long_dir) - 1] = '\0';
        ck_assert_int_eq(mg_zone_set_dir(long_dir), -1);
        ck_assert_int_eq(mg_zone_at("Europe/Paris", 0, &z, err, sizeof(err)), 0);
    }

    snprintf(path, sizeof(path), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(path), 0);
}
END_TEST

/* Every prefix of real files, each in a buffer of exactly its size, so
 * that the sanitizers and valgrind see any read beyond it. */
START_TEST(truncated_images)
{
    static const char *const names[] = { "Europe/Paris", "Asia/Jerusalem", "UTC", "America/Nuuk",
                                         "Asia/Kolkata" };
    const char      *name = names[_i];
    unsigned char   *full, *part;
    size_t           len;
    mg_zone_local_t  z;
    char             err[256];

    full = load_zone(name, &len);
    for (size_t n = 0; n < len; n++) {
        part = malloc(n > 0 ? n : 1);
        memcpy(part, full, n);
        /* v2+ files end with the footer's newline: every prefix is short */
        ck_assert_msg(mg_zone_at_buf(part, n, 2000000000, &z, err, sizeof(err)) == -1,
                      "%s cut at %zu was accepted", name, n);
        ck_assert_msg(mg_zone_at_buf(part, n, -2000000000, &z, err, sizeof(err)) == -1,
                      "%s cut at %zu was accepted", name, n);
        free(part);
    }
    ck_assert_int_eq(mg_zone_at_buf(full, len, 2000000000, &z, err, sizeof(err)), 0);
    ck_assert_int_eq(mg_zone_at_buf(NULL, 0, 0, &z, err, sizeof(err)), -1);
    free(full);
}
END_TEST

static uint32_t
rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t) (*s >> 33);
}

START_TEST(garbage_and_damage)
{
    static const int64_t  times[] = { 1000, 2000 };
    static const uint8_t  idx[] = { 1, 0 };
    static const ttype_t  types[] = { { 3600, 0, 0 }, { 7200, 1, 4 } };
    unsigned char         buf[4096], *copy, *full;
    size_t                len, flen;
    uint64_t              seed = 42;
    mg_zone_local_t       z;
    char                  err[256];
    int                   rc;

    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] = (unsigned char) rnd(&seed);
    }
    ck_assert_str_eq(refused_buf(buf, sizeof(buf), 0), "not a TZif file");
    ck_assert_str_eq(refused_buf((const unsigned char *) "TZif", 4, 0), "the TZif data is truncated");
    memcpy(buf, "TZif2", 5);                /* then random counts */
    ck_assert_str_eq(refused_buf(buf, sizeof(buf), 0), "the TZif data is truncated");
    memset(buf + 5, 0xff, 39);              /* counts of 2^32 - 1 do not wrap */
    ck_assert_str_eq(refused_buf(buf, sizeof(buf), 0), "the TZif data is truncated");
    buf[4] = '1';
    ck_assert_str_eq(refused_buf(buf, sizeof(buf), 0), "the TZif version is unknown");

    /* one defect at a time in a good image */
#define DAMAGED(footer, at, value, reason) do {                                             \
        len = build(buf, '2', times, idx, 2, types, 2, "AAA\0BBB", 8, footer);             \
        if ((at) >= 0) {                                                                   \
            buf[len - strlen(footer) - 2 - (size_t) (at)] = (unsigned char) (value);       \
        }                                                                                  \
        ck_assert_has(refused_buf(buf, len, 1500), reason);                                \
    } while (0)
    /* offsets from the end of the 64-bit block: chars 8, types 12, idx 2, times 16 */
    DAMAGED("", 1, 'A', "abbreviation is not valid");        /* "BBB" loses its NUL */
    DAMAGED("", 9, 8, "local time type is not valid");        /* desigidx beyond the chars */
    DAMAGED("", 10, 2, "local time type is not valid");       /* isdst 2 */
    DAMAGED("", 21, 2, "time type that does not exist");      /* transition type 2 of 2 */
    DAMAGED("", 30, 0x80, "not in ascending order");          /* 2nd time negative */
    DAMAGED("<+01>-1<+02>", -1, 0, "TZ string is not valid");
#undef DAMAGED
    len = build(buf, '2', times, idx, 2, types, 2, "AAA\0BBB", 8, "");
    buf[len - 2] = 'x';                     /* "\n\n" becomes "x\n" */
    ck_assert_str_eq(refused_buf(buf, len, 0), "the TZif footer is missing");
    len = build(buf, '2', times, idx, 2, types, 2, "AAA\0BBB", 8, "CET-1");
    ck_assert_str_eq(refused_buf(buf, len - 1, 0), "the TZif footer is truncated");
    len = build(buf, '2', times, idx, 2, types, 2, "AAAAAAAAAAAAAAAA", 17, "");
    ck_assert_has(refused_buf(buf, len, 0), "abbreviation is not valid");   /* 16 bytes */
    len = build(buf, '2', NULL, NULL, 0, types, 0, "", 0, "UTC0");
    ck_assert_str_eq(refused_buf(buf, len, 0), "the TZif data has no local time types");
    len = build(buf, '2', times, idx, 2, types, 2, "AAA\0BBB", 8, "");
    memcpy(buf + 44 + 2 * 5 + 2 * 6 + 8, "XXXX", 4);                         /* second magic */
    ck_assert_str_eq(refused_buf(buf, len, 0), "the TZif data lacks its second header");
    len = build(buf, '2', times, idx, 2, types, 2, "AAA\0BBB", 8, "");
    buf[44 + 2 * 5 + 2 * 6 + 8 + 27] = 1;                                    /* isstdcnt 1 of 2 */
    ck_assert_str_eq(refused_buf(buf, len, 0), "the TZif header's counts disagree");

    /* random damage to a real file: an answer or a refusal, never a crash */
    full = load_zone("Europe/Paris", &flen);
    copy = malloc(flen);
    for (int round = 0; round < 3000; round++) {
        memcpy(copy, full, flen);
        for (uint32_t k = 1 + rnd(&seed) % 4; k > 0; k--) {
            copy[rnd(&seed) % flen] = (unsigned char) rnd(&seed);
        }
        for (int64_t t = -3000000000LL; t < 5000000000LL; t += 1100000000LL) {
            rc = mg_zone_at_buf(copy, flen, (time_t) t, &z, err, sizeof(err));
            ck_assert(rc == 0 || rc == -1);
            if (rc == 0) {
                ck_assert(z.is_dst == 0 || z.is_dst == 1);
                ck_assert(strlen(z.abbrev) < sizeof(z.abbrev));
            }
        }
    }
    free(copy);
    free(full);
}
END_TEST

START_TEST(malformed_footers)
{
    static const char *const bad[] = {
        "CET", "CET-", "CE-1", "<AB>-1", "<ABCDEFGHIJKLMNOP>1", "<+05-5", "CET-25", "CET-1:60",
        "CET-1CEST", "CET-1CEST,M3.5.0", "CET-1CEST,M3.5.0,", "CET-1CEST,M13.5.0,M10.5.0",
        "CET-1CEST,M3.6.0,M10.5.0", "CET-1CEST,M3.5.7,M10.5.0", "CET-1CEST,M3.0.0,M10.5.0",
        "CET-1CEST,J0,J300", "CET-1CEST,J366,J300", "CET-1CEST,366,300",
        "CET-1CEST,M3.5.0/168,M10.5.0", "CET-1CEST,M3.5.0,M10.5.0/3 ", "CET-1 ",
        "CET-1CEST,M3.5.0;M10.5.0", "CET-1CEST-2-3,M3.5.0,M10.5.0", "CET\t-1",
    };
    unsigned char  buf[256];
    size_t         len;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        len = build_footer(buf, '3', bad[i]);
        ck_assert_has(refused_buf(buf, len, 1700000000), "TZ string is not valid");
    }
    len = build_footer(buf, '3', "CET-1CEST,M3.5.0/168,M10.5.0");
    ck_assert_str_eq(refused_buf(buf, len, 0), "the TZif footer's TZ string is not valid at "
                     "character 21 (the day DST starts)");
}
END_TEST

/* Threads asking at once get what one thread got alone (no shared state;
 * run it under -fsanitize=thread to see no race). */
#define NTHREADS 8
#define NSTEPS   40

static mg_zone_local_t  alone[NZONES][NSTEPS];

static time_t
step_time(int k)
{
    return (time_t) k * 107000000 + 12345;     /* 1970 to 2103 */
}

static void *
ask_all(void *arg)
{
    mg_zone_local_t  z;
    char             err[256];
    intptr_t         bad = 0;

    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < NZONES; i++) {
            for (int k = 0; k < NSTEPS; k++) {
                if (mg_zone_at(zones[i], step_time(k), &z, err, sizeof(err)) != 0
                    || memcmp(&z, &alone[i][k], sizeof(z)) != 0) {
                    bad++;
                }
            }
        }
    }
    (void) arg;
    return (void *) bad;
}

START_TEST(threads_agree)
{
    pthread_t  th[NTHREADS];
    char       err[256];
    void      *bad;

    for (size_t i = 0; i < NZONES; i++) {
        for (int k = 0; k < NSTEPS; k++) {
            memset(&alone[i][k], 0, sizeof(alone[i][k]));
            ck_assert_int_eq(mg_zone_at(zones[i], step_time(k), &alone[i][k], err, sizeof(err)), 0);
        }
    }
    for (int i = 0; i < NTHREADS; i++) {
        ck_assert_int_eq(pthread_create(&th[i], NULL, ask_all, NULL), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        ck_assert_int_eq(pthread_join(th[i], &bad), 0);
        ck_assert_msg(bad == NULL, "thread %d got %ld different answers", i, (long) (intptr_t) bad);
    }
}
END_TEST

static Suite *
zone_suite(void)
{
    Suite *s = suite_create("zone");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, tzdata_is_installed);
    tcase_add_loop_test(tc, real_zones_match_glibc_1970_to_2100, 0, NZONES);
    tcase_add_loop_test(tc, real_zones_dst_changes_match_glibc, 0, NZONES);
    tcase_add_test(tc, footers_match_glibc);
    tcase_add_test(tc, fixed_answers);
    tcase_add_test(tc, table_rules);
    tcase_add_test(tc, invalid_names);
    tcase_add_test(tc, bad_files);
    tcase_add_loop_test(tc, truncated_images, 0, 5);
    tcase_add_test(tc, garbage_and_damage);
    tcase_add_test(tc, malformed_footers);
    tcase_add_test(tc, threads_agree);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(zone_suite());
    int      failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
