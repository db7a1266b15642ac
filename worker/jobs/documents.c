/*
 * documents: owns the documents API (documents.create/list/get/delete/
 * retry) and the multipart/form-data reader uploads go through.
 *
 * Invariants:
 *  - an upload is judged whole before anything is written: size (413
 *    payload_too_large over MANGOO_UPLOAD_MAX), the knowledge base (404),
 *    the body's shape (400 invalid_multipart, empty_document,
 *    invalid_document), its type (415); then one INSERT stores it
 *    'queued' with its body, and a NOTIFY wakes the ingest threads.
 *    Ingestion never runs in the request (knowledge/ingest.c);
 *  - the same content (sha256) twice in one knowledge base is one
 *    document: the unique index decides, so two concurrent uploads of it
 *    also end in one row, and the second is answered 200 "duplicate";
 *  - a {"url"} document is stored with its source_url and no body; the
 *    ingest thread fetches it (knowledge/fetch.h);
 *  - every statement is scoped by owner: another user's knowledge base or
 *    document is a missing one (404).
 */
#include "jobs/jobs.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json_write.h"
#include "jobs/page.h"
#include "util/log.h"
#include "util/uuid.h"
#include "validate.h"

#if defined(__has_include)
#if __has_include("knowledge/fetch.h")
#define MG_DOCS_URLS 1
#endif
#endif

#define MG_DOCS_LIMIT_DEFAULT  20
#define MG_DOCS_LIMIT_MAX      100
#define MG_UPLOAD_MAX_DEFAULT  (20LL * 1024 * 1024)
/* a ZeroMQ frame is at most 64 MiB (pool.c): leave room for the rest */
#define MG_UPLOAD_MAX_CAP      (60LL * 1024 * 1024)
#define MG_URL_MAX             2048
#define MG_FILENAME_MAX        255

/* ---- multipart/form-data (RFC 7578, RFC 2046 section 5.1) ---- */

/* s[0..len) starts with the ASCII word w, any case */
static int
mg_mp_starts(const char *s, size_t len, const char *w)
{
    size_t n = strlen(w);

    return len >= n && strncasecmp(s, w, n) == 0;
}

static const char *
mg_mp_find(const char *s, size_t len, const char *needle, size_t nlen)
{
    if (nlen == 0 || len < nlen) {
        return NULL;
    }
    for (const char *p = s, *end = s + len - nlen + 1; p < end; p++) {
        p = memchr(p, needle[0], (size_t) (end - p));
        if (p == NULL) {
            return NULL;
        }
        if (memcmp(p, needle, nlen) == 0) {
            return p;
        }
    }
    return NULL;
}

/*
 * The value of parameter name in a header value's "; a=b; c="d"" list,
 * starting at s: a slice into s (quotes dropped, backslash escapes left
 * as they are: callers copying it drop them).  1 found, 0 absent, -1
 * malformed (an unterminated quoted string).
 */
static int
mg_mp_param(const char *s, size_t len, const char *name, const char **val, size_t *vlen)
{
    const char  *p = s, *end = s + len;
    size_t       nlen = strlen(name);

    while (p < end) {
        /* to the next ';' outside quotes */
        while (p < end && *p != ';') {
            if (*p == '"') {
                for (p++; p < end && *p != '"'; p++) {
                    if (*p == '\\' && p + 1 < end) {
                        p++;
                    }
                }
                if (p == end) {
                    return -1;
                }
            }
            p++;
        }
        if (p == end) {
            return 0;
        }
        p++;
        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        if ((size_t) (end - p) > nlen && strncasecmp(p, name, nlen) == 0) {
            const char *q = p + nlen;

            while (q < end && (*q == ' ' || *q == '\t')) {
                q++;
            }
            if (q < end && *q == '=') {
                q++;
                while (q < end && (*q == ' ' || *q == '\t')) {
                    q++;
                }
                if (q < end && *q == '"') {
                    const char *v = ++q;

                    for (; q < end && *q != '"'; q++) {
                        if (*q == '\\' && q + 1 < end) {
                            q++;
                        }
                    }
                    if (q == end) {
                        return -1;
                    }
                    *val = v;
                    *vlen = (size_t) (q - v);
                    return 1;
                }
                const char *v = q;

                while (q < end && *q != ';' && *q != ' ' && *q != '\t') {
                    q++;
                }
                *val = v;
                *vlen = (size_t) (q - v);
                return 1;
            }
        }
    }
    return 0;
}

int
mg_multipart_file(const char *content_type, size_t ct_len, const char *body, size_t len,
                  mg_multipart_file_t *out)
{
    char         delim[2 + 2 + 70 + 1];      /* CRLF "--" boundary */
    const char  *bval, *p, *end = body + len;
    size_t       blen, dlen;
    int          found = 0;

    memset(out, 0, sizeof(*out));
    if (!mg_mp_starts(content_type, ct_len, "multipart/form-data")
        || mg_mp_param(content_type, ct_len, "boundary", &bval, &blen) != 1
        || blen < 1 || blen > 70 || memchr(bval, '\\', blen) != NULL)
    {
        return -1;
    }
    delim[0] = '\r';
    delim[1] = '\n';
    delim[2] = '-';
    delim[3] = '-';
    memcpy(delim + 4, bval, blen);
    dlen = 4 + blen;

    /* the first delimiter: at the very start, or after a preamble's CRLF */
    if (len >= dlen - 2 && memcmp(body, delim + 2, dlen - 2) == 0) {
        p = body + dlen - 2;
    } else {
        p = mg_mp_find(body, len, delim, dlen);
        if (p == NULL) {
            return -1;
        }
        p += dlen;
    }

    for (;;) {
        const char  *hend, *next, *h;
        const char  *name = NULL, *fname = NULL, *ctype = NULL;
        size_t       name_len = 0, fname_len = 0, ctype_len = 0;
        int          has_fname = 0;

        /* after a delimiter: "--" closes; else padding, then CRLF */
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
            return found ? 0 : -1;
        }
        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
            return -1;
        }
        p += 2;

        /* the part's headers, up to an empty line */
        if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
            hend = p;                               /* no headers at all */
        } else {
            hend = mg_mp_find(p, (size_t) (end - p), "\r\n\r\n", 4);
            if (hend == NULL) {
                return -1;
            }
            hend += 2;
        }
        for (h = p; h < hend;) {
            const char *eol = mg_mp_find(h, (size_t) (hend - h), "\r\n", 2);
            const char *colon;
            size_t      llen;

            if (eol == NULL) {
                return -1;
            }
            llen = (size_t) (eol - h);
            colon = memchr(h, ':', llen);
            if (colon == NULL) {
                return -1;
            }
            const char *v = colon + 1;

            while (v < eol && (*v == ' ' || *v == '\t')) {
                v++;
            }
            if (mg_mp_starts(h, llen, "content-disposition:")) {
                if (!mg_mp_starts(v, (size_t) (eol - v), "form-data")) {
                    return -1;
                }
                if (mg_mp_param(v, (size_t) (eol - v), "name", &name, &name_len) < 0) {
                    return -1;
                }
                int rc = mg_mp_param(v, (size_t) (eol - v), "filename", &fname, &fname_len);

                if (rc < 0) {
                    return -1;
                }
                has_fname = rc == 1;
            } else if (mg_mp_starts(h, llen, "content-type:")) {
                ctype = v;
                ctype_len = (size_t) (eol - v);
                while (ctype_len > 0 && (ctype[ctype_len - 1] == ' '
                                         || ctype[ctype_len - 1] == '\t'))
                {
                    ctype_len--;
                }
            }
            h = eol + 2;
        }
        p = hend + 2;

        /* the content runs to the next CRLF "--" boundary */
        next = mg_mp_find(p - 2, (size_t) (end - (p - 2)), delim, dlen);
        if (next == NULL) {
            return -1;                      /* truncated: no closing delimiter */
        }
        if (next < p) {
            next = p - 2;                   /* (cannot happen: p - 2 is the blank line) */
        }
        if (!found && name != NULL && name_len == 4 && memcmp(name, "file", 4) == 0) {
            found = 1;
            out->data = p;
            out->len = next >= p ? (size_t) (next - p) : 0;
            out->filename = has_fname ? fname : NULL;
            out->filename_len = has_fname ? fname_len : 0;
            out->ctype = ctype;
            out->ctype_len = ctype_len;
        }
        p = next + dlen;
    }
}

/* ---- settings and small helpers ---- */

static long long
mg_documents_upload_max(void)
{
    const char  *s = getenv("MANGOO_UPLOAD_MAX");
    char        *e;
    long long    v;

    if (s == NULL || *s == '\0') {
        return MG_UPLOAD_MAX_DEFAULT;
    }
    v = strtoll(s, &e, 10);
    if (*e == 'k' || *e == 'K') {
        v *= 1024;
        e++;
    } else if (*e == 'm' || *e == 'M') {
        v *= 1024 * 1024;
        e++;
    }
    if (*e != '\0' || v <= 0) {
        return MG_UPLOAD_MAX_DEFAULT;
    }
    return v > MG_UPLOAD_MAX_CAP ? MG_UPLOAD_MAX_CAP : v;
}

/* The media types ingestion reads, and their default file extensions. */
static const struct {
    const char *type, *ext;
} mg_doc_types[] = {
    { "text/plain",      ".txt" },
    { "text/markdown",   ".md" },
    { "text/html",       ".html" },
    { "application/pdf", ".pdf" },
};

/*
 * The media type of a Content-Type value, lowercased, without parameters,
 * into out ("" when there is none); text/x-markdown is text/markdown.
 * The charset parameter, when there is one, into charset ("" if none).
 */
static void
mg_doc_media_type(const char *ct, size_t len, char *out, size_t cap, char *charset,
                  size_t cscap)
{
    size_t       i = 0, n = 0;
    const char  *v;
    size_t       vlen;

    while (i < len && (ct[i] == ' ' || ct[i] == '\t')) {
        i++;
    }
    for (; i < len && ct[i] != ';' && ct[i] != ' ' && ct[i] != '\t' && n + 1 < cap; i++) {
        out[n++] = (char) tolower((unsigned char) ct[i]);
    }
    out[n] = '\0';
    if (strcmp(out, "text/x-markdown") == 0) {
        snprintf(out, cap, "text/markdown");
    }
    charset[0] = '\0';
    if (mg_mp_param(ct, len, "charset", &v, &vlen) == 1 && vlen > 0 && vlen < cscap) {
        for (size_t j = 0; j < vlen; j++) {
            charset[j] = (char) tolower((unsigned char) v[j]);
        }
        charset[vlen] = '\0';
    }
}

static const char *
mg_doc_type_ext(const char *type)
{
    for (size_t i = 0; i < sizeof(mg_doc_types) / sizeof(mg_doc_types[0]); i++) {
        if (strcmp(type, mg_doc_types[i].type) == 0) {
            return mg_doc_types[i].ext;
        }
    }
    return NULL;
}

/* A type from a file name's extension, for parts sent without a useful
 * Content-Type; NULL when it says nothing. */
static const char *
mg_doc_type_from_name(const char *name, size_t len)
{
    static const struct { const char *ext, *type; } map[] = {
        { ".txt", "text/plain" }, { ".text", "text/plain" }, { ".md", "text/markdown" },
        { ".markdown", "text/markdown" }, { ".html", "text/html" }, { ".htm", "text/html" },
        { ".pdf", "application/pdf" },
    };

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        size_t el = strlen(map[i].ext);

        if (len > el && strncasecmp(name + len - el, map[i].ext, el) == 0) {
            return map[i].type;
        }
    }
    return NULL;
}

/*
 * A stored file name from what the client sent (backslash escapes of a
 * quoted string dropped, any directory part dropped, at most
 * MG_FILENAME_MAX bytes cut at a character boundary) into out; "" when
 * nothing usable is left (not UTF-8, control characters).
 */
static void
mg_doc_filename(const char *s, size_t len, int unescape, char *out)
{
    char    buf[1024];
    size_t  n = 0, start = 0;

    out[0] = '\0';
    for (size_t i = 0; i < len && n < sizeof(buf); i++) {
        if (unescape && s[i] == '\\' && i + 1 < len) {
            i++;
        }
        buf[n++] = s[i];
    }
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '/' || buf[i] == '\\') {
            start = i + 1;
        }
        if ((unsigned char) buf[i] < 0x20 || buf[i] == 0x7f) {
            return;
        }
    }
    n -= start;
    if (n > MG_FILENAME_MAX) {
        n = MG_FILENAME_MAX;
        while (n > 0 && ((unsigned char) buf[start + n] & 0xc0) == 0x80) {
            n--;                    /* do not split a character */
        }
    }
    if (n == 0 || !mg_admin_text_valid(buf + start, n)) {
        return;
    }
    memcpy(out, buf + start, n);
    out[n] = '\0';
    if (strcmp(out, ".") == 0 || strcmp(out, "..") == 0) {
        out[0] = '\0';
    }
}

/* ---- replies ---- */

static size_t
mg_doc_json_max(const PGresult *r, int row)
{
    return 640 + mg_jw_text_max(r, row, MG_DOC_COL_FILENAME, MG_DOC_COL_ERROR);
}

static char *
mg_doc_write(char *p, const PGresult *r, int row)
{
    p += sprintf(p, "{\"id\":\"%s\",\"knowledge_base_id\":\"%s\",",
                 PQgetvalue(r, row, MG_DOC_COL_ID), PQgetvalue(r, row, MG_DOC_COL_KB_ID));
    p = mg_jw_str(p, "filename", r, row, MG_DOC_COL_FILENAME);
    *p++ = ',';
    p = mg_jw_str(p, "content_type", r, row, MG_DOC_COL_CONTENT_TYPE);
    *p++ = ',';
    p = mg_jw_str(p, "source_url", r, row, MG_DOC_COL_SOURCE_URL);
    p += sprintf(p, ",\"size_bytes\":%s,", PQgetvalue(r, row, MG_DOC_COL_SIZE_BYTES));
    p = mg_jw_str(p, "status", r, row, MG_DOC_COL_STATUS);
    *p++ = ',';
    p = mg_jw_str(p, "error", r, row, MG_DOC_COL_ERROR);
    p += sprintf(p, ",\"progress\":{\"done\":%s,\"total\":%s},\"chunk_count\":%s,",
                 PQgetvalue(r, row, MG_DOC_COL_CHUNKS_DONE),
                 PQgetvalue(r, row, MG_DOC_COL_CHUNKS_TOTAL),
                 PQgetvalue(r, row, MG_DOC_COL_CHUNK_COUNT));
    p = mg_jw_ts(p, "created_at", r, row, MG_DOC_COL_CREATED_US);
    *p++ = ',';
    p = mg_jw_ts(p, "updated_at", r, row, MG_DOC_COL_UPDATED_US);
    *p++ = '}';
    return p;
}

/* status with the document of row 0; duplicate adds "duplicate":true,
 * with_location a Location header */
static int
mg_doc_reply(mg_job_t *job, int status, const PGresult *r, int duplicate, int with_location)
{
    json_t  *headers = NULL;
    char    *body, *end;
    int      sent;

    body = malloc(mg_doc_json_max(r, 0) + 32);
    if (body == NULL) {
        return mg_job_reply_error(job, 500, "internal", "internal error");
    }
    end = mg_doc_write(body, r, 0);
    if (duplicate) {
        end--;                                      /* the closing brace */
        end += sprintf(end, ",\"duplicate\":true}");
    }
    if (with_location) {
        headers = json_pack("{s:s+++}", "Location", "/api/v1/knowledge-bases/",
                            PQgetvalue(r, 0, MG_DOC_COL_KB_ID), "/documents/",
                            PQgetvalue(r, 0, MG_DOC_COL_ID));
    }
    sent = mg_job_reply_raw(job, status, body, (size_t) (end - body), headers);
    json_decref(headers);
    free(body);
    return sent;
}

static int
mg_doc_not_found(mg_job_t *job)
{
    return mg_job_reply_error(job, 404, "document_not_found", "document not found");
}

static int
mg_doc_kb_not_found(mg_job_t *job)
{
    return mg_job_reply_error(job, 404, "knowledge_base_not_found", "knowledge base not found");
}

/* Wake the ingest threads; a lost NOTIFY only costs the poll's second. */
static void
mg_doc_notify(mg_job_t *job)
{
    PGresult *res = NULL;

    if (mg_db_exec(job->db, MG_Q_INGEST_NOTIFY, NULL, &res) != MG_DB_OK) {
        mg_log_warn("documents rid=%s: NOTIFY mangoo_ingest failed", job->rid);
    }
    PQclear(res);
}

/* The {id} and {doc} path parameters when both can name something. */
static int
mg_doc_path(mg_job_t *job, const char **kb, const char **doc)
{
    size_t len;

    *kb = mg_job_param(job, "id", &len);
    if (*kb == NULL || !mg_uuid_valid(*kb, len)) {
        return -1;
    }
    if (doc != NULL) {
        *doc = mg_job_param(job, "doc", &len);
        if (*doc == NULL || !mg_uuid_valid(*doc, len)) {
            return -1;
        }
    }
    return 0;
}

/* ---- upload ---- */

/* What one upload will store. */
typedef struct {
    const char  *data;          /* the document's bytes, borrowed; NULL for a URL */
    size_t       len;
    char         type[256];     /* what is stored as content_type */
    char         filename[MG_FILENAME_MAX + 1];
    char        *url;           /* owned; NULL for an upload */
} mg_upload_t;

/*
 * http(s)://host... at most MG_URL_MAX characters, printable ASCII only
 * (an IRI must be sent percent-encoded).  Fills the file name (the last
 * path segment, else the host).  0 or -1.
 */
static int
mg_doc_url_check(const char *url, size_t len, char *filename)
{
    const char  *p, *host, *hend, *end = url + len, *path, *seg;
    size_t       n;

    if (len == 0 || len > MG_URL_MAX) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char) url[i] <= 0x20 || (unsigned char) url[i] >= 0x7f) {
            return -1;
        }
    }
    if (mg_mp_starts(url, len, "https://")) {
        p = url + 8;
    } else if (mg_mp_starts(url, len, "http://")) {
        p = url + 7;
    } else {
        return -1;
    }
    host = p;
    while (p < end && *p != '/' && *p != '?' && *p != '#') {
        p++;
    }
    hend = p;
    /* userinfo@ is not part of the host */
    for (const char *q = host; q < hend; q++) {
        if (*q == '@') {
            host = q + 1;
        }
    }
    /* an optional :port */
    const char *colon = NULL;

    if (host < hend && *host == '[') {
        const char *rb = memchr(host, ']', (size_t) (hend - host));

        if (rb == NULL || rb == host + 1) {
            return -1;
        }
        colon = rb + 1 < hend ? rb + 1 : NULL;
        if (colon != NULL && *colon != ':') {
            return -1;
        }
    } else {
        colon = memchr(host, ':', (size_t) (hend - host));
    }
    n = (size_t) ((colon != NULL ? colon : hend) - host);
    if (n == 0) {
        return -1;
    }
    if (colon != NULL) {
        for (const char *q = colon + 1; q < hend; q++) {
            if (*q < '0' || *q > '9') {
                return -1;
            }
        }
    }

    /* file name: the last non-empty path segment, else the host */
    path = hend;
    seg = NULL;
    size_t seglen = 0;

    if (path < end && *path == '/') {
        const char *pend = path;

        while (pend < end && *pend != '?' && *pend != '#') {
            pend++;
        }
        for (const char *q = path; q < pend;) {
            const char *s = ++q;

            while (q < pend && *q != '/') {
                q++;
            }
            if (q > s) {
                seg = s;
                seglen = (size_t) (q - s);
            }
        }
    }
    if (seg == NULL) {
        seg = host;
        seglen = n;
    }
    mg_doc_filename(seg, seglen, 0, filename);
    if (filename[0] == '\0') {
        snprintf(filename, MG_FILENAME_MAX + 1, "page");
    }
    return 0;
}

/* application/json {"url": "..."}: 0, or -1 after replying */
static int
mg_doc_read_url(mg_job_t *job, mg_upload_t *u, int *sent)
{
    json_t       *v, *f;
    json_error_t  e;

    v = json_loadb(job->body, job->body_len, JSON_REJECT_DUPLICATES, &e);
    if (!json_is_object(v)) {
        json_decref(v);
        *sent = mg_job_reply_error(job, 400, "invalid_json", "the body is not a JSON object");
        return -1;
    }
    f = json_object_get(v, "url");
    if (json_object_size(v) != 1 || !json_is_string(f)) {
        json_decref(v);
        *sent = mg_job_reply_error(job, 400, "invalid_field",
                                   "a JSON body must be {\"url\": \"https://...\"}");
        return -1;
    }
    if (mg_doc_url_check(json_string_value(f), json_string_length(f), u->filename) != 0) {
        json_decref(v);
        *sent = mg_job_reply_error(job, 400, "invalid_url",
                                   "url must be an http or https URL with a host, "
                                   "at most 2048 characters");
        return -1;
    }
#ifndef MG_DOCS_URLS
    json_decref(v);
    *sent = mg_job_reply_error(job, 400, "url_not_supported",
                               "documents by URL are not supported by this server yet");
    return -1;
#else
    u->url = strdup(json_string_value(f));
    json_decref(v);
    if (u->url == NULL) {
        *sent = mg_job_reply_error(job, 500, "internal", "internal error");
        return -1;
    }
    /* what it is becomes known when it is fetched */
    snprintf(u->type, sizeof(u->type), "text/html");
    return 0;
#endif
}

/*
 * Judge the file: empty (400), its type (415), a text type holding NUL
 * bytes or a "PDF" that does not start like one (400 invalid_document).
 * type is the media type; charset the parameter, if any.  0, or -1
 * after replying.
 */
static int
mg_doc_check_file(mg_job_t *job, mg_upload_t *u, const char *type, const char *charset,
                  int *sent)
{
    if (u->len == 0) {
        *sent = mg_job_reply_error(job, 400, "empty_document", "the document is empty");
        return -1;
    }
    if (mg_doc_type_ext(type) == NULL) {
        *sent = mg_job_reply_error(job, 415, "unsupported_media_type",
                                   "documents must be text/plain, text/markdown, "
                                   "text/html or application/pdf");
        return -1;
    }
    if (strcmp(type, "application/pdf") == 0) {
        if (u->len < 5 || memcmp(u->data, "%PDF-", 5) != 0) {
            *sent = mg_job_reply_error(job, 400, "invalid_document",
                                       "the file is not a PDF (it does not start with %PDF-)");
            return -1;
        }
    } else if (memchr(u->data, '\0', u->len) != NULL
               && (charset[0] == '\0' || strncmp(charset, "utf-16", 6) != 0))
    {
        *sent = mg_job_reply_error(job, 400, "invalid_document",
                                   "the file is not text: it holds binary data");
        return -1;
    }
    if (charset[0] != '\0' && strlen(type) + strlen(charset) + 11 < sizeof(u->type)) {
        snprintf(u->type, sizeof(u->type), "%s; charset=%s", type, charset);
    } else {
        snprintf(u->type, sizeof(u->type), "%s", type);
    }
    return 0;
}

/* multipart/form-data or a raw body: 0, or -1 after replying */
static int
mg_doc_read_file(mg_job_t *job, const char *ct, size_t ctlen, const char *media,
                 const char *charset, mg_upload_t *u, int *sent)
{
    char          type[128], cs[64], name[MG_FILENAME_MAX * 3 + 1];
    const char   *query, *ext;
    size_t        qlen, nlen;

    if (strcmp(media, "multipart/form-data") == 0) {
        mg_multipart_file_t  f;

        if (mg_multipart_file(ct, ctlen, job->body, job->body_len, &f) != 0) {
            *sent = mg_job_reply_error(job, 400, "invalid_multipart",
                                       "the body is not well-formed multipart/form-data "
                                       "with a \"file\" part");
            return -1;
        }
        u->data = f.data;
        u->len = f.len;
        if (f.filename != NULL) {
            mg_doc_filename(f.filename, f.filename_len, 1, u->filename);
        }
        type[0] = '\0';
        cs[0] = '\0';
        if (f.ctype != NULL) {
            mg_doc_media_type(f.ctype, f.ctype_len, type, sizeof(type), cs, sizeof(cs));
        }
        /* browsers send what they do not know as octet-stream */
        if ((type[0] == '\0' || strcmp(type, "application/octet-stream") == 0)
            && f.filename != NULL)
        {
            const char *guess = mg_doc_type_from_name(f.filename, f.filename_len);

            if (guess != NULL) {
                snprintf(type, sizeof(type), "%s", guess);
            }
        }
        if (type[0] == '\0') {
            snprintf(type, sizeof(type), "text/plain");       /* RFC 7578's default */
        }
    } else {
        u->data = job->body;
        u->len = job->body_len;
        snprintf(type, sizeof(type), "%s", media);
        snprintf(cs, sizeof(cs), "%s", charset);
        query = mg_job_query(job, &qlen);
        if (mg_query_get(query, qlen, "filename", name, sizeof(name), &nlen) == 1) {
            mg_doc_filename(name, nlen, 0, u->filename);
        }
        /* no type, or the one that says nothing: the name's extension */
        if (type[0] == '\0' || strcmp(type, "application/octet-stream") == 0) {
            const char *guess = mg_doc_type_from_name(u->filename, strlen(u->filename));

            if (guess != NULL) {
                snprintf(type, sizeof(type), "%s", guess);
            }
        }
    }

    if (mg_doc_check_file(job, u, type, cs, sent) != 0) {
        return -1;
    }
    if (u->filename[0] == '\0') {
        ext = mg_doc_type_ext(type);
        snprintf(u->filename, sizeof(u->filename), "document%s", ext);
    }
    return 0;
}

/* The body as bytea's text form, "\x" and hex; malloc'd or NULL. */
static char *
mg_doc_bytea_hex(const char *data, size_t len)
{
    static const char  digits[] = "0123456789abcdef";
    char              *s = malloc(2 * len + 3), *p;

    if (s == NULL) {
        return NULL;
    }
    p = s;
    *p++ = '\\';
    *p++ = 'x';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) data[i];

        *p++ = digits[c >> 4];
        *p++ = digits[c & 0x0f];
    }
    *p = '\0';
    return s;
}

/* Insert, or find what is already there.  Returns what was sent. */
static int
mg_doc_store(mg_job_t *job, const char *kb, mg_upload_t *u)
{
    char          id[MG_UUID_LEN + 1], size[24], sha[MG_SHA256_HEX_LEN + 1];
    const char   *values[9];
    char         *hex = NULL;
    PGresult     *res = NULL;
    mg_db_rc_t    rc;
    int           sent, owned;

    sha[0] = '\0';
    if (u->data != NULL) {
        if (mg_auth_token_hash(u->data, u->len, sha) != 0
            || (hex = mg_doc_bytea_hex(u->data, u->len)) == NULL)
        {
            sent = mg_job_reply_error(job, 500, "internal", "internal error");
            goto done;
        }
    }
    if (mg_uuid_v4(id) != 0) {
        mg_log_error("documents.create rid=%s: no randomness for an id", job->rid);
        sent = mg_job_reply_error(job, 500, "internal", "internal error");
        goto done;
    }
    snprintf(size, sizeof(size), "%zu", u->data != NULL ? u->len : 0);
    values[0] = id;
    values[1] = kb;
    values[2] = job->user_id;
    values[3] = u->filename;
    values[4] = u->type;
    values[5] = u->url;
    values[6] = size;
    values[7] = sha;
    values[8] = hex;

    rc = mg_db_exec(job->db, MG_Q_DOC_INSERT, values, &res);
    if (rc == MG_DB_FAILED && strcmp(mg_db_sqlstate(res), "23503") == 0) {
        sent = mg_doc_kb_not_found(job);            /* deleted while we inserted */
        goto done;
    }
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "documents.create");
        goto done;
    }
    if (PQntuples(res) == 1) {
        mg_doc_notify(job);
        sent = mg_doc_reply(job, 202, res, 0, 1);
        goto done;
    }

    /* nothing inserted: the same content is there already, or the base
     * is not the caller's, or a re-run found its own row */
    PQclear(res);
    res = NULL;
    if (sha[0] != '\0') {
        values[0] = kb;
        values[1] = job->user_id;
        values[2] = sha;
        rc = mg_db_exec(job->db, MG_Q_DOC_BY_SHA, values, &res);
        if (rc != MG_DB_OK) {
            sent = mg_job_reply_db_error(job, rc, res, "documents.create");
            goto done;
        }
        if (PQntuples(res) == 1) {
            sent = strcmp(PQgetvalue(res, 0, MG_DOC_COL_ID), id) == 0
                   ? mg_doc_reply(job, 202, res, 0, 1)
                   : mg_doc_reply(job, 200, res, 1, 0);
            goto done;
        }
        PQclear(res);
        res = NULL;
    }
    owned = mg_knowledge_owned(job, kb, strlen(kb));
    if (owned < 0) {
        sent = 0;
        goto done;
    }
    if (!owned) {
        sent = mg_doc_kb_not_found(job);
        goto done;
    }
    values[0] = id;
    values[1] = kb;
    values[2] = job->user_id;
    rc = mg_db_exec(job->db, MG_Q_DOC_GET, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "documents.create");
    } else if (PQntuples(res) == 1) {
        sent = mg_doc_reply(job, 202, res, 0, 1);
    } else {
        /* the twin that blocked us was deleted before we looked */
        sent = mg_job_reply_error(job, 409, "conflict",
                                  "the same document was being changed; try again");
    }

done:
    PQclear(res);
    free(hex);
    return sent;
}

int
mg_job_documents_create(mg_job_t *job)
{
    mg_upload_t   u;
    const char   *kb, *ct;
    size_t        ctlen;
    char          media[128], charset[64];
    int           sent, owned;
    long long     max = mg_documents_upload_max();

    memset(&u, 0, sizeof(u));
    if (mg_doc_path(job, &kb, NULL) != 0) {
        return mg_doc_kb_not_found(job);
    }
    ct = mg_job_param(job, "content_type", &ctlen);
    if (ct == NULL) {
        ct = "";
        ctlen = 0;
    }
    mg_doc_media_type(ct, ctlen, media, sizeof(media), charset, sizeof(charset));

    /* a multipart body carries its framing around the file: judge the
     * file itself once it is read, the whole body with some room */
    if ((long long) job->body_len > max
        && (strcmp(media, "multipart/form-data") != 0
            || (long long) job->body_len > max + 65536))
    {
        return mg_job_reply_error(job, 413, "payload_too_large",
                                  "the document is larger than this server accepts");
    }

    owned = mg_knowledge_owned(job, kb, strlen(kb));
    if (owned < 0) {
        return 0;
    }
    if (!owned) {
        return mg_doc_kb_not_found(job);
    }

    if (job->body_len == 0) {
        return mg_job_reply_error(job, 400, "empty_document", "the document is empty");
    }
    if (strcmp(media, "application/json") == 0) {
        if (mg_doc_read_url(job, &u, &sent) != 0) {
            goto done;
        }
    } else {
        if (mg_doc_read_file(job, ct, ctlen, media, charset, &u, &sent) != 0) {
            goto done;
        }
        if ((long long) u.len > max) {
            sent = mg_job_reply_error(job, 413, "payload_too_large",
                                      "the document is larger than this server accepts");
            goto done;
        }
    }
    sent = mg_doc_store(job, kb, &u);

done:
    free(u.url);
    return sent;
}

/* ---- list, get, delete, retry ---- */

static const mg_page_cols_t mg_doc_cols = {
    MG_DOC_COL_CREATED_US, MG_DOC_COL_ID, mg_doc_json_max, mg_doc_write
};

int
mg_job_documents_list(mg_job_t *job)
{
    const char     *kb, *values[5];
    mg_page_req_t   req;
    int             sent, owned;

    if (mg_doc_path(job, &kb, NULL) != 0) {
        return mg_doc_kb_not_found(job);
    }
    if (mg_page_query(job, MG_DOCS_LIMIT_DEFAULT, MG_DOCS_LIMIT_MAX, &req, &sent) != 0) {
        return sent;
    }
    owned = mg_knowledge_owned(job, kb, strlen(kb));
    if (owned <= 0) {
        return owned < 0 ? 0 : mg_doc_kb_not_found(job);
    }
    values[0] = kb;
    values[1] = job->user_id;
    return mg_page_list(job, &req, MG_Q_DOC_LIST_FIRST, MG_Q_DOC_LIST_AFTER, values, 2,
                        &mg_doc_cols, "documents.list");
}

/* The statements on one document take ($1 document, $2 knowledge base,
 * $3 owner) from the path: 0, or -1 when the path's ids are not ids. */
static int
mg_doc_target(mg_job_t *job, const char *values[3])
{
    const char *kb, *doc;

    if (mg_doc_path(job, &kb, &doc) != 0) {
        return -1;
    }
    values[0] = doc;
    values[1] = kb;
    values[2] = job->user_id;
    return 0;
}

int
mg_job_documents_get(mg_job_t *job)
{
    const char  *values[3];
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    int          sent;

    if (mg_doc_target(job, values) != 0) {
        return mg_doc_not_found(job);
    }
    rc = mg_db_exec(job->db, MG_Q_DOC_GET, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "documents.get");
    } else if (PQntuples(res) == 0) {
        sent = mg_doc_not_found(job);
    } else {
        sent = mg_doc_reply(job, 200, res, 0, 0);
    }
    PQclear(res);
    return sent;
}

int
mg_job_documents_delete(mg_job_t *job)
{
    const char  *values[3];

    if (mg_doc_target(job, values) != 0) {
        return mg_doc_not_found(job);
    }
    return mg_job_delete_owned(job, MG_Q_DOC_DELETE, values, mg_doc_not_found,
                               "documents.delete");
}

int
mg_job_documents_retry(mg_job_t *job)
{
    const char  *values[3];
    PGresult    *res = NULL;
    mg_db_rc_t   rc;
    int          sent;

    if (mg_doc_target(job, values) != 0) {
        return mg_doc_not_found(job);
    }
    rc = mg_db_exec(job->db, MG_Q_DOC_RETRY, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "documents.retry");
        goto done;
    }
    if (PQntuples(res) == 1) {
        mg_doc_notify(job);
        sent = mg_doc_reply(job, 202, res, 0, 0);
        goto done;
    }
    PQclear(res);
    res = NULL;
    rc = mg_db_exec(job->db, MG_Q_DOC_GET, values, &res);
    if (rc != MG_DB_OK) {
        sent = mg_job_reply_db_error(job, rc, res, "documents.retry");
    } else if (PQntuples(res) == 0) {
        sent = mg_doc_not_found(job);
    } else {
        sent = mg_job_reply_error(job, 409, "not_failed",
                                  "only a failed document can be retried");
    }

done:
    PQclear(res);
    return sent;
}
