/*
 * mg_zone: the local time in any IANA time zone, for the current_time
 * tool.  The worker is multi-threaded and reads its environment at run
 * time, so setenv("TZ") + tzset() + localtime() are not an option: this
 * reads the system's compiled zone files (TZif, RFC 8536, versions 1 to 4)
 * itself, from /usr/share/zoneinfo (Debian's tzdata), and evaluates the
 * POSIX TZ string of a file's footer (with version 3's hours beyond 24 and
 * negative) for instants after its last transition.
 *
 * Thread-safe: no shared mutable state (but mg_zone_set_dir's setting), no
 * localtime/gmtime, no getenv.  Leap-second records ("right/" zones) are
 * ignored: times are POSIX times.
 */
#ifndef MG_AGENTS_ZONE_H
#define MG_AGENTS_ZONE_H

#include <stddef.h>
#include <time.h>

#define MG_ZONE_NAME_MAX  64            /* bytes of a zone name */
#define MG_ZONE_DIR_MAX   512           /* bytes of mg_zone_set_dir's directory */
#define MG_ZONE_FILE_MAX  (256 * 1024)  /* bytes of a zone file; the largest real one is ~4 KiB */
#define MG_ZONE_DIR       "/usr/share/zoneinfo"

typedef struct {
    long  utc_offset;        /* seconds east of UTC */
    int   is_dst;
    char  abbrev[16];        /* "CET", "+0530", ... */
} mg_zone_local_t;

/* The local time type in zone name (an IANA name like "Europe/Paris",
 * "America/Argentina/Buenos_Aires", "UTC") at time t.  0, or -1 with a
 * reason for the user in err: an invalid name (only [A-Za-z0-9_+-]
 * components separated by '/', no "." or ".." components, at most 64
 * bytes, not absolute), an unknown zone, an unreadable or malformed file,
 * a t beyond a billion years from 1970.  *out is written on success only. */
int mg_zone_at(const char *name, time_t t, mg_zone_local_t *out, char *err, size_t errlen);

/* Same, for a TZif image buf[0..len) in memory (for tests and for callers
 * that cache).  The whole image is checked, whatever t: a malformed one
 * is refused. */
int mg_zone_at_buf(const unsigned char *buf, size_t len, time_t t, mg_zone_local_t *out,
                   char *err, size_t errlen);

/* Read zone files from dir instead of MG_ZONE_DIR (NULL: back to it); for
 * tests.  The one piece of shared state: call it before any thread calls
 * mg_zone_at, never while one might.  -1 when dir is longer than
 * MG_ZONE_DIR_MAX - 1 bytes (the setting is left as it was). */
int mg_zone_set_dir(const char *dir);

#endif
