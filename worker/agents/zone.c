/*
 * mg_zone: owns zone.h's TZif reader.  An image is checked whole against
 * its own length before anything in it is used (a truncated or garbage
 * file is refused, never overread), then t is looked up (RFC 8536 3.2):
 *
 *   before the first transition        time type 0
 *   from a transition to the next      that transition's type
 *   from the last transition on,       the footer's TZ string when there is
 *   or when there are none             one, else the last type (or type 0)
 *
 * A v2+ file starts with a v1 block (32-bit times) kept for old readers:
 * it is skipped and the 64-bit block after it used.  Dates are computed
 * here, in int64_t, on the proleptic Gregorian calendar: nothing needs
 * gmtime_r or a lock.
 */
#define _POSIX_C_SOURCE 200809L     /* O_CLOEXEC and strnlen with -std=c11 too */

#include "agents/zone.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/errf.h"

#define MG_ZONE_HEADER     44
#define MG_ZONE_ABBREV_MAX 15
/* |t| beyond 2^55 s (a billion years) is refused: the date arithmetic
 * below stays far from int64_t's limits */
#define MG_ZONE_T_LIMIT    ((int64_t) 1 << 55)
#define MG_ZONE_DAY        86400

/* The one setting (mg_zone_set_dir): written before threads start. */
static char mg_zone_dir[MG_ZONE_DIR_MAX] = MG_ZONE_DIR;

/* ---- POSIX TZ strings (a v2+ footer) ------------------------------------ */

/* When DST starts or ends: a day of the year and a local time on it. */
typedef struct {
    char   kind;        /* 'M' month.week.weekday, 'J' 1..365 without Feb 29, 'n' 0..365 */
    int    month, week, wday, day;
    long   time;        /* seconds after the day's local midnight, -167 h..167 h (v3) */
} mg_zone_date_t;

typedef struct {
    char            std[MG_ZONE_ABBREV_MAX + 1], dst[MG_ZONE_ABBREV_MAX + 1];
    long            std_off, dst_off;       /* seconds east of UTC (TZ strings say west) */
    int             has_dst;
    mg_zone_date_t  start, end;             /* start in standard time, end in DST */
} mg_zone_rule_t;

typedef struct {
    const unsigned char  *p, *start, *end;
} mg_zone_scan_t;

static int
mg_zone_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int
mg_zone_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
mg_zone_peek(const mg_zone_scan_t *sc, int c)
{
    return sc->p < sc->end && *sc->p == c;
}

/* Up to maxdigits decimal digits, or -1 when there are none. */
static long
mg_zone_num(mg_zone_scan_t *sc, int maxdigits)
{
    long  n = 0;
    int   k = 0;

    while (k < maxdigits && sc->p < sc->end && mg_zone_digit(*sc->p)) {
        n = n * 10 + (*sc->p++ - '0');
        k++;
    }
    return k == 0 ? -1 : n;
}

/* An abbreviation: 3+ letters, or <3+ of [A-Za-z0-9+-]> for "+0530" and
 * friends. */
static int
mg_zone_abbrev(mg_zone_scan_t *sc, char *out)
{
    const unsigned char  *from;
    size_t                n;

    if (mg_zone_peek(sc, '<')) {
        from = ++sc->p;
        while (sc->p < sc->end
               && (mg_zone_alpha(*sc->p) || mg_zone_digit(*sc->p) || *sc->p == '+' || *sc->p == '-')) {
            sc->p++;
        }
        n = (size_t) (sc->p - from);
        if (!mg_zone_peek(sc, '>')) {
            return -1;
        }
        sc->p++;
    } else {
        from = sc->p;
        while (sc->p < sc->end && mg_zone_alpha(*sc->p)) {
            sc->p++;
        }
        n = (size_t) (sc->p - from);
    }
    if (n < 3 || n > MG_ZONE_ABBREV_MAX) {
        return -1;
    }
    memcpy(out, from, n);
    out[n] = '\0';
    return 0;
}

/* [+-]hh[:mm[:ss]] as seconds, hh at most maxh. */
static int
mg_zone_hms(mg_zone_scan_t *sc, long maxh, long *secs)
{
    long  h, m = 0, s = 0;
    int   neg = 0;

    if (mg_zone_peek(sc, '+') || mg_zone_peek(sc, '-')) {
        neg = *sc->p++ == '-';
    }
    h = mg_zone_num(sc, 3);
    if (h < 0 || h > maxh) {
        return -1;
    }
    if (mg_zone_peek(sc, ':')) {
        sc->p++;
        m = mg_zone_num(sc, 2);
        if (m < 0 || m > 59) {
            return -1;
        }
        if (mg_zone_peek(sc, ':')) {
            sc->p++;
            s = mg_zone_num(sc, 2);
            if (s < 0 || s > 59) {
                return -1;
            }
        }
    }
    *secs = (neg ? -1 : 1) * (h * 3600 + m * 60 + s);
    return 0;
}

/* Jn, n or Mm.w.d, then an optional /time (02:00 when absent). */
static int
mg_zone_date(mg_zone_scan_t *sc, mg_zone_date_t *d)
{
    if (mg_zone_peek(sc, 'J')) {
        sc->p++;
        d->kind = 'J';
        d->day = (int) mg_zone_num(sc, 3);
        if (d->day < 1 || d->day > 365) {
            return -1;
        }
    } else if (mg_zone_peek(sc, 'M')) {
        sc->p++;
        d->kind = 'M';
        d->month = (int) mg_zone_num(sc, 2);
        if (d->month < 1 || d->month > 12 || !mg_zone_peek(sc, '.')) {
            return -1;
        }
        sc->p++;
        d->week = (int) mg_zone_num(sc, 1);
        if (d->week < 1 || d->week > 5 || !mg_zone_peek(sc, '.')) {
            return -1;
        }
        sc->p++;
        d->wday = (int) mg_zone_num(sc, 1);
        if (d->wday < 0 || d->wday > 6) {
            return -1;
        }
    } else {
        d->kind = 'n';
        d->day = (int) mg_zone_num(sc, 3);
        if (d->day < 0 || d->day > 365) {
            return -1;
        }
    }
    d->time = 2 * 3600;
    if (mg_zone_peek(sc, '/')) {
        sc->p++;
        /* v3 extends POSIX's 0..24 to -167..167 (Jerusalem's "M3.4.4/26") */
        return mg_zone_hms(sc, 167, &d->time);
    }
    return 0;
}

static int
mg_zone_rule_fail(const mg_zone_scan_t *sc, const char *what, char *err, size_t errlen)
{
    mg_errf(err, errlen, "the TZif footer's TZ string is not valid at character %zu (%s)",
            (size_t) (sc->p - sc->start) + 1, what);
    return -1;
}

/* std offset [dst [offset] ,start[/time],end[/time]] */
static int
mg_zone_rule_parse(const unsigned char *s, size_t len, mg_zone_rule_t *r, char *err, size_t errlen)
{
    mg_zone_scan_t  sc = { s, s, s + len };
    long            off;

    memset(r, 0, sizeof(*r));
    if (mg_zone_abbrev(&sc, r->std) != 0) {
        return mg_zone_rule_fail(&sc, "a standard time abbreviation", err, errlen);
    }
    if (mg_zone_hms(&sc, 24, &off) != 0) {
        return mg_zone_rule_fail(&sc, "a UTC offset", err, errlen);
    }
    r->std_off = -off;
    if (sc.p == sc.end) {
        return 0;
    }
    if (mg_zone_abbrev(&sc, r->dst) != 0) {
        return mg_zone_rule_fail(&sc, "a DST abbreviation", err, errlen);
    }
    r->has_dst = 1;
    r->dst_off = r->std_off + 3600;
    if (sc.p < sc.end && *sc.p != ',') {
        if (mg_zone_hms(&sc, 24, &off) != 0) {
            return mg_zone_rule_fail(&sc, "a DST offset", err, errlen);
        }
        r->dst_off = -off;
    }
    /* POSIX leaves a rule-less DST to the implementation; zic always
     * writes the rule, so its absence means a damaged file */
    if (!mg_zone_peek(&sc, ',')) {
        return mg_zone_rule_fail(&sc, "the rule for when DST starts", err, errlen);
    }
    sc.p++;
    if (mg_zone_date(&sc, &r->start) != 0 || !mg_zone_peek(&sc, ',')) {
        return mg_zone_rule_fail(&sc, "the day DST starts", err, errlen);
    }
    sc.p++;
    if (mg_zone_date(&sc, &r->end) != 0) {
        return mg_zone_rule_fail(&sc, "the day DST ends", err, errlen);
    }
    if (sc.p != sc.end) {
        return mg_zone_rule_fail(&sc, "text after the rule", err, errlen);
    }
    return 0;
}

/* ---- calendar ---------------------------------------------------------- */

static int64_t
mg_zone_fdiv(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int
mg_zone_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Leap years before y, counted from an arbitrary origin: only differences
 * are used, and floor division keeps them right for years <= 0. */
static int64_t
mg_zone_leaps_before(int64_t y)
{
    return mg_zone_fdiv(y - 1, 4) - mg_zone_fdiv(y - 1, 100) + mg_zone_fdiv(y - 1, 400);
}

/* Days from 1970-01-01 to January 1st of y. */
static int64_t
mg_zone_year_start(int64_t y)
{
    return 365 * (y - 1970) + mg_zone_leaps_before(y) - mg_zone_leaps_before(1970);
}

static int
mg_zone_month_len(int64_t y, int m)
{
    static const int  len[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

    return m == 2 && mg_zone_leap(y) ? 29 : len[m - 1];
}

/* The year holding day number days (days since 1970-01-01). */
static int64_t
mg_zone_year_of(int64_t days)
{
    /* 146097 days per 400 years: a guess within a year, then corrected */
    int64_t y = 1970 + mg_zone_fdiv(days * 400, 146097);

    while (mg_zone_year_start(y) > days) {
        y--;
    }
    while (mg_zone_year_start(y + 1) <= days) {
        y++;
    }
    return y;
}

/* The day number of a rule's date in year y. */
static int64_t
mg_zone_rule_day(const mg_zone_date_t *d, int64_t y)
{
    int64_t  first, day;
    int      m;

    switch (d->kind) {
    case 'J':       /* Feb 29 is never counted: J60 is March 1st */
        return mg_zone_year_start(y) + d->day - 1 + (mg_zone_leap(y) && d->day >= 60);
    case 'n':
        return mg_zone_year_start(y) + d->day;
    default:
        first = mg_zone_year_start(y);
        for (m = 1; m < d->month; m++) {
            first += mg_zone_month_len(y, m);
        }
        /* 1970-01-01 was a Thursday (4); the first wday of the month,
         * then week - 1 weeks on, where week 5 means the last */
        day = first + (d->wday - (first + 4 - mg_zone_fdiv(first + 4, 7) * 7) + 7) % 7
              + 7 * (d->week - 1);
        while (day >= first + mg_zone_month_len(y, d->month)) {
            day -= 7;
        }
        return day;
    }
}

static int64_t
mg_zone_dst_start(const mg_zone_rule_t *r, int64_t y)
{
    return mg_zone_rule_day(&r->start, y) * MG_ZONE_DAY + r->start.time - r->std_off;
}

static int64_t
mg_zone_dst_end(const mg_zone_rule_t *r, int64_t y)
{
    return mg_zone_rule_day(&r->end, y) * MG_ZONE_DAY + r->end.time - r->dst_off;
}

static void
mg_zone_rule_eval(const mg_zone_rule_t *r, int64_t t, mg_zone_local_t *out)
{
    int64_t  y, yy;
    int      dst = 0;

    if (r->has_dst) {
        /* A transition's time may be up to a week (167 h) away from its
         * day, so the years either side are looked at as well. */
        y = mg_zone_year_of(mg_zone_fdiv(t, MG_ZONE_DAY));
        if (mg_zone_dst_start(r, y) <= mg_zone_dst_end(r, y)) {
            /* northern: DST inside a year's [start, end) */
            for (yy = y - 1; yy <= y + 1 && !dst; yy++) {
                dst = mg_zone_dst_start(r, yy) <= t && t < mg_zone_dst_end(r, yy);
            }
        } else {
            /* southern, DST across new year: standard time inside a
             * year's [end, start) */
            dst = 1;
            for (yy = y - 1; yy <= y + 1 && dst; yy++) {
                dst = !(mg_zone_dst_end(r, yy) <= t && t < mg_zone_dst_start(r, yy));
            }
        }
    }
    out->utc_offset = dst ? r->dst_off : r->std_off;
    out->is_dst = dst;
    strcpy(out->abbrev, dst ? r->dst : r->std);
}

/* ---- TZif -------------------------------------------------------------- */

typedef struct {
    int                   wide;         /* 8-byte transition times (v2+) */
    uint32_t              timecnt, typecnt, charcnt;
    const unsigned char  *times, *idx, *types, *chars;
    int                   has_rule;     /* a non-empty footer */
    mg_zone_rule_t        rule;
} mg_zone_tzif_t;

typedef struct {
    uint32_t  isut, isstd, leap, time, type, chr;
} mg_zone_counts_t;

static uint32_t
mg_zone_be32(const unsigned char *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static int64_t
mg_zone_be32s(const unsigned char *p)
{
    uint32_t u = mg_zone_be32(p);

    return u & 0x80000000u ? (int64_t) u - ((int64_t) 1 << 32) : (int64_t) u;
}

static int64_t
mg_zone_be64s(const unsigned char *p)
{
    uint64_t u = (uint64_t) mg_zone_be32(p) << 32 | mg_zone_be32(p + 4);

    /* two's complement without an implementation-defined conversion */
    return u > INT64_MAX ? -(int64_t) (~u) - 1 : (int64_t) u;
}

static void
mg_zone_counts(const unsigned char *h, mg_zone_counts_t *c)
{
    c->isut = mg_zone_be32(h + 20);
    c->isstd = mg_zone_be32(h + 24);
    c->leap = mg_zone_be32(h + 28);
    c->time = mg_zone_be32(h + 32);
    c->type = mg_zone_be32(h + 36);
    c->chr = mg_zone_be32(h + 40);
}

/* Bytes of the data block the counts describe; 64-bit sums of 32-bit
 * counts cannot wrap. */
static uint64_t
mg_zone_block_len(const mg_zone_counts_t *c, uint64_t timesize)
{
    return (uint64_t) c->time * (timesize + 1) + (uint64_t) c->type * 6 + c->chr
           + (uint64_t) c->leap * (timesize + 4) + c->isstd + c->isut;
}

static int64_t
mg_zone_time(const mg_zone_tzif_t *z, uint32_t i)
{
    return z->wide ? mg_zone_be64s(z->times + (size_t) i * 8) : mg_zone_be32s(z->times + (size_t) i * 4);
}

static int
mg_zone_tzif_fail(char *err, size_t errlen, const char *why)
{
    mg_errf(err, errlen, "%s", why);
    return -1;
}

static int
mg_zone_tzif_parse(const unsigned char *buf, size_t len, mg_zone_tzif_t *z, char *err, size_t errlen)
{
    mg_zone_counts_t      c;
    uint64_t              off = MG_ZONE_HEADER, n, timesize;
    const unsigned char  *p, *foot, *nl;
    int                   version;

    if (buf == NULL || len < 4 || memcmp(buf, "TZif", 4) != 0) {
        return mg_zone_tzif_fail(err, errlen, "not a TZif file");
    }
    if (len < MG_ZONE_HEADER) {
        return mg_zone_tzif_fail(err, errlen, "the TZif data is truncated");
    }
    /* '\0' is v1; '2', '3', '4' and, so that a newer tzdata keeps
     * working, anything after them share the v2 layout */
    version = buf[4];
    if (version != 0 && version < '2') {
        return mg_zone_tzif_fail(err, errlen, "the TZif version is unknown");
    }
    mg_zone_counts(buf, &c);
    n = mg_zone_block_len(&c, 4);
    if (n > len - off) {
        return mg_zone_tzif_fail(err, errlen, "the TZif data is truncated");
    }
    timesize = 4;
    if (version != 0) {
        off += n;
        if (len - off < MG_ZONE_HEADER) {
            return mg_zone_tzif_fail(err, errlen, "the TZif data is truncated");
        }
        if (memcmp(buf + off, "TZif", 4) != 0) {
            return mg_zone_tzif_fail(err, errlen, "the TZif data lacks its second header");
        }
        mg_zone_counts(buf + off, &c);
        off += MG_ZONE_HEADER;
        timesize = 8;
        n = mg_zone_block_len(&c, timesize);
        if (n > len - off) {
            return mg_zone_tzif_fail(err, errlen, "the TZif data is truncated");
        }
    }
    /* RFC 8536 3.1's MUSTs that a lookup relies on */
    if (c.type == 0) {
        return mg_zone_tzif_fail(err, errlen, "the TZif data has no local time types");
    }
    if ((c.isut != 0 && c.isut != c.type) || (c.isstd != 0 && c.isstd != c.type)) {
        return mg_zone_tzif_fail(err, errlen, "the TZif header's counts disagree");
    }

    memset(z, 0, sizeof(*z));
    z->wide = timesize == 8;
    z->timecnt = c.time;
    z->typecnt = c.type;
    z->charcnt = c.chr;
    z->times = buf + off;
    z->idx = z->times + (size_t) c.time * timesize;
    z->types = z->idx + c.time;
    z->chars = z->types + (size_t) c.type * 6;
    off += n;

    for (uint32_t i = 0; i < c.time; i++) {
        if (i > 0 && mg_zone_time(z, i) <= mg_zone_time(z, i - 1)) {
            return mg_zone_tzif_fail(err, errlen, "the TZif transition times are not in ascending order");
        }
        if (z->idx[i] >= c.type) {
            return mg_zone_tzif_fail(err, errlen, "a TZif transition names a time type that does not exist");
        }
    }
    for (uint32_t i = 0; i < c.type; i++) {
        p = z->types + (size_t) i * 6;
        if (mg_zone_be32s(p) == INT32_MIN || p[4] > 1 || p[5] >= c.chr) {
            return mg_zone_tzif_fail(err, errlen, "a TZif local time type is not valid");
        }
        nl = memchr(z->chars + p[5], '\0', c.chr - p[5]);
        if (nl == NULL || nl - (z->chars + p[5]) > MG_ZONE_ABBREV_MAX) {
            return mg_zone_tzif_fail(err, errlen, "a TZif time zone abbreviation is not valid");
        }
    }

    /* v2+: "\n" TZ string "\n" after the data; bytes after it are
     * ignored, as RFC 8536 allows for future versions */
    if (version != 0) {
        if (off >= len || buf[off] != '\n') {
            return mg_zone_tzif_fail(err, errlen, "the TZif footer is missing");
        }
        foot = buf + off + 1;
        nl = off + 1 < len ? memchr(foot, '\n', len - off - 1) : NULL;
        if (nl == NULL) {
            return mg_zone_tzif_fail(err, errlen, "the TZif footer is truncated");
        }
        if (nl > foot) {
            if (mg_zone_rule_parse(foot, (size_t) (nl - foot), &z->rule, err, errlen) != 0) {
                return -1;
            }
            z->has_rule = 1;
        }
    }
    return 0;
}

static void
mg_zone_type(const mg_zone_tzif_t *z, uint32_t i, mg_zone_local_t *out)
{
    const unsigned char *p = z->types + (size_t) i * 6;

    out->utc_offset = (long) mg_zone_be32s(p);
    out->is_dst = p[4];
    /* checked by the parse: NUL-terminated within the file, <= 15 bytes */
    strcpy(out->abbrev, (const char *) z->chars + p[5]);
}

static int
mg_zone_t_ok(time_t t, char *err, size_t errlen)
{
    if ((int64_t) t > MG_ZONE_T_LIMIT || (int64_t) t < -MG_ZONE_T_LIMIT) {
        mg_errf(err, errlen, "the time is too far from today to have a time zone");
        return -1;
    }
    return 0;
}

int
mg_zone_at_buf(const unsigned char *buf, size_t len, time_t t, mg_zone_local_t *out,
               char *err, size_t errlen)
{
    mg_zone_tzif_t   z;
    mg_zone_local_t  lt;
    int64_t          when = (int64_t) t;
    uint32_t         lo, hi, mid, last;

    if (mg_zone_t_ok(t, err, errlen) != 0 || mg_zone_tzif_parse(buf, len, &z, err, errlen) != 0) {
        return -1;
    }
    memset(&lt, 0, sizeof(lt));
    last = z.timecnt - 1;
    if (z.timecnt == 0 || when >= mg_zone_time(&z, last)) {
        if (z.has_rule) {
            mg_zone_rule_eval(&z.rule, when, &lt);
        } else {
            mg_zone_type(&z, z.timecnt == 0 ? 0 : z.idx[last], &lt);
        }
    } else if (when < mg_zone_time(&z, 0)) {
        mg_zone_type(&z, 0, &lt);
    } else {
        /* time(lo) <= when < time(hi) */
        lo = 0;
        hi = last;
        while (hi - lo > 1) {
            mid = lo + (hi - lo) / 2;
            if (mg_zone_time(&z, mid) <= when) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        mg_zone_type(&z, z.idx[lo], &lt);
    }
    *out = lt;
    return 0;
}

/* ---- zone files -------------------------------------------------------- */

int
mg_zone_set_dir(const char *dir)
{
    size_t n;

    if (dir == NULL) {
        dir = MG_ZONE_DIR;
    }
    n = strlen(dir);
    if (n >= sizeof(mg_zone_dir)) {
        return -1;
    }
    memcpy(mg_zone_dir, dir, n + 1);
    return 0;
}

/* The name is joined to the directory, so it must not be able to leave
 * it: relative, no "." or ".." parts, IANA's characters only. */
static int
mg_zone_name_ok(const char *name, char *err, size_t errlen)
{
    const char  *part;
    size_t       n, k;

    if (name == NULL || name[0] == '\0') {
        mg_errf(err, errlen, "no time zone name was given (IANA names look like Europe/Paris)");
        return -1;
    }
    if (strnlen(name, MG_ZONE_NAME_MAX + 1) > MG_ZONE_NAME_MAX) {
        mg_errf(err, errlen, "the time zone name is longer than %d bytes", MG_ZONE_NAME_MAX);
        return -1;
    }
    if (name[0] == '/') {
        mg_errf(err, errlen, "a time zone name is not a path: use an IANA name like Europe/Paris");
        return -1;
    }
    for (part = name; ; part += n + 1) {
        n = strcspn(part, "/");
        if (n == 0) {
            mg_errf(err, errlen, "the time zone name has an empty part (\"//\" or a '/' at its end)");
            return -1;
        }
        if ((n == 1 && part[0] == '.') || (n == 2 && part[0] == '.' && part[1] == '.')) {
            mg_errf(err, errlen, "the time zone name must not have \".\" or \"..\" parts");
            return -1;
        }
        for (k = 0; k < n; k++) {
            unsigned char c = (unsigned char) part[k];

            if (mg_zone_alpha(c) || mg_zone_digit(c) || c == '_' || c == '+' || c == '-') {
                continue;
            }
            if (c > ' ' && c < 0x7f) {
                mg_errf(err, errlen, "the time zone name holds '%c': IANA names have letters, digits, "
                        "'_', '+', '-' and '/' only", c);
            } else {
                mg_errf(err, errlen, "the time zone name holds the byte 0x%02x: IANA names have "
                        "letters, digits, '_', '+', '-' and '/' only", c);
            }
            return -1;
        }
        if (part[n] == '\0') {
            return 0;
        }
    }
}

/* strerror is not thread-safe everywhere, and strerror_r's two flavours
 * depend on feature macros: the few reasons a zone file cannot be read. */
static const char *
mg_zone_errno(int e)
{
    switch (e) {
    case EACCES:
    case EPERM:
        return "permission denied";
    case ELOOP:
        return "too many symbolic links";
    case EMFILE:
    case ENFILE:
        return "too many open files";
    case ENOMEM:
        return "out of memory";
    case EIO:
        return "input/output error";
    default:
        return "system error";
    }
}

int
mg_zone_at(const char *name, time_t t, mg_zone_local_t *out, char *err, size_t errlen)
{
    char             path[MG_ZONE_DIR_MAX + 1 + MG_ZONE_NAME_MAX + 1], why[160];
    struct stat      st;
    unsigned char   *buf;
    size_t           size, got = 0;
    ssize_t          r;
    int              fd, e, rc;

    if (mg_zone_name_ok(name, err, errlen) != 0 || mg_zone_t_ok(t, err, errlen) != 0) {
        return -1;
    }
    snprintf(path, sizeof(path), "%s/%s", mg_zone_dir, name);
    /* O_NONBLOCK: a FIFO planted in the directory must not hang a thread
     * (regular files ignore it) */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        e = errno;
        if (e == ENOENT || e == ENOTDIR) {
            mg_errf(err, errlen, "unknown time zone '%s' (IANA names look like Europe/Paris)", name);
        } else {
            mg_errf(err, errlen, "cannot read the time zone file for '%s' (%s)", name, mg_zone_errno(e));
        }
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        e = errno;
        close(fd);
        mg_errf(err, errlen, "cannot read the time zone file for '%s' (%s)", name, mg_zone_errno(e));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        mg_errf(err, errlen, "'%s' is a group of time zones, not a time zone", name);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        mg_errf(err, errlen, "'%s' is not a time zone file", name);
        return -1;
    }
    if (st.st_size > MG_ZONE_FILE_MAX) {
        close(fd);
        mg_errf(err, errlen, "the time zone file for '%s' is larger than %d KiB", name,
                MG_ZONE_FILE_MAX / 1024);
        return -1;
    }
    size = (size_t) st.st_size;
    buf = malloc(size > 0 ? size : 1);
    if (buf == NULL) {
        close(fd);
        mg_errf(err, errlen, "cannot read the time zone file for '%s' (out of memory)", name);
        return -1;
    }
    /* up to the size fstat gave: a file that grows meanwhile (a tzdata
     * upgrade) reads as truncated and is refused, never overflows */
    while (got < size) {
        r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            e = errno;
            close(fd);
            free(buf);
            mg_errf(err, errlen, "cannot read the time zone file for '%s' (%s)", name, mg_zone_errno(e));
            return -1;
        }
        if (r == 0) {
            break;
        }
        got += (size_t) r;
    }
    close(fd);
    rc = mg_zone_at_buf(buf, got, t, out, why, sizeof(why));
    free(buf);
    if (rc != 0) {
        mg_errf(err, errlen, "the time zone file for '%s' is unusable: %s", name, why);
        return -1;
    }
    return 0;
}
