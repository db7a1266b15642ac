
/*
 * ngx_http_mangoo_response: what the module writes to the client: JSON
 * errors in the API's one shape, a worker's whole reply, and the header of
 * a streamed reply (its body is ngx_http_mangoo_sse.c's).  Every response
 * carries X-Request-Id.
 *
 * A whole 200 reply to a GET carries a strong ETag made from its bytes
 * and "Cache-Control: private, no-cache" (unless the worker chose its own):
 * clients keep it for themselves only and ask again with If-None-Match,
 * which nginx's not_modified filter answers 304 (weakly compared, so a
 * gzipped copy matches too).  Made from the bytes, the tag is exact
 * without anything to invalidate.
 */


#include <openssl/sha.h>
#include <jansson.h>

#include "ngx_http_mangoo_module.h"
#include "mg_base64url.h"
#include "mg_json.h"


#define NGX_HTTP_MANGOO_ETAG_BYTES     16           /* of SHA-256: 22 characters */
#define NGX_HTTP_MANGOO_ETAG_BODY_MAX  (1024 * 1024) /* larger: no tag, not hashed */


static ngx_int_t
ngx_http_mangoo_add_header(ngx_http_request_t *r, const char *key,
    size_t key_len, const u_char *value, size_t value_len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->key.data = ngx_pnalloc(r->pool, key_len + value_len);
    if (h->key.data == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.len = key_len;
    ngx_memcpy(h->key.data, key, key_len);
    h->value.data = h->key.data + key_len;
    h->value.len = value_len;
    ngx_memcpy(h->value.data, value, value_len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_mangoo_request_id_header(ngx_http_request_t *r)
{
    ngx_http_mangoo_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mangoo_module);
    if (ctx == NULL) {
        return NGX_OK;
    }

    return ngx_http_mangoo_add_header(r, "X-Request-Id",
                                      sizeof("X-Request-Id") - 1,
                                      ctx->rid, MG_RID_LEN);
}


/* The worker's extra headers: a JSON object of name -> string. */
static ngx_int_t
ngx_http_mangoo_worker_headers(ngx_http_request_t *r, const mg_str_t *h)
{
    const char  *key;
    json_t      *obj, *value;
    ngx_int_t    rc;

    if (h->len == 0) {
        return NGX_OK;
    }

    obj = json_loadb(h->data, h->len, 0, NULL);
    if (!json_is_object(obj)) {
        json_decref(obj);
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mangoo: worker sent malformed headers");
        return NGX_ERROR;
    }

    rc = NGX_OK;

    json_object_foreach(obj, key, value) {
        if (!json_is_string(value)) {
            continue;
        }

        if (ngx_http_mangoo_add_header(r, key, ngx_strlen(key),
                                       (u_char *) json_string_value(value),
                                       json_string_length(value))
            != NGX_OK)
        {
            rc = NGX_ERROR;
            break;
        }
    }

    json_decref(obj);

    return rc;
}


static ngx_uint_t
ngx_http_mangoo_has_header(ngx_http_request_t *r, const char *key, size_t key_len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    for (part = &r->headers_out.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].hash != 0 && h[i].key.len == key_len
                && ngx_strncasecmp(h[i].key.data, (u_char *) key, key_len) == 0)
            {
                return 1;
            }
        }
    }

    return 0;
}


/* The validator of a GET's whole 200 reply (the file's comment). */
static ngx_int_t
ngx_http_mangoo_etag(ngx_http_request_t *r, const u_char *body, size_t len)
{
    u_char            digest[SHA256_DIGEST_LENGTH];
    u_char            tag[2 + 32];
    ngx_table_elt_t  *h;

    if (len > NGX_HTTP_MANGOO_ETAG_BODY_MAX) {
        return NGX_OK;
    }

    SHA256(body, len, digest);
    tag[0] = '"';
    mg_b64url_encode(digest, NGX_HTTP_MANGOO_ETAG_BYTES, (char *) tag + 1);
    tag[1 + mg_b64url_encoded_len(NGX_HTTP_MANGOO_ETAG_BYTES)] = '"';

    if (ngx_http_mangoo_add_header(r, "ETag", sizeof("ETag") - 1, tag,
                                   mg_b64url_encoded_len(NGX_HTTP_MANGOO_ETAG_BYTES) + 2)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the element just pushed: the last of the list's last part */
    h = r->headers_out.headers.last->elts;
    r->headers_out.etag = &h[r->headers_out.headers.last->nelts - 1];

    if (!ngx_http_mangoo_has_header(r, "Cache-Control", sizeof("Cache-Control") - 1)) {
        return ngx_http_mangoo_add_header(r, "Cache-Control",
                                          sizeof("Cache-Control") - 1,
                                          (u_char *) "private, no-cache",
                                          sizeof("private, no-cache") - 1);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mangoo_set_content_type(ngx_http_request_t *r, const u_char *type,
    size_t len)
{
    r->headers_out.content_type.data = ngx_pnalloc(r->pool, len);
    if (r->headers_out.content_type.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(r->headers_out.content_type.data, type, len);
    r->headers_out.content_type.len = len;
    r->headers_out.content_type_len = len;
    r->headers_out.content_type_lowcase = NULL;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mangoo_send_body(ngx_http_request_t *r, ngx_uint_t status,
    const u_char *type, size_t type_len, const u_char *body, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;

    if (ngx_http_mangoo_set_content_type(r, type, type_len) != NGX_OK
        || ngx_http_mangoo_request_id_header(r) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (len == 0) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->pos, body, len);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_mangoo_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message)
{
    char                   *body, rid[MG_RID_LEN + 1];
    ngx_int_t               rc;
    ngx_http_mangoo_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mangoo_module);

    if (ctx) {
        ngx_memcpy(rid, ctx->rid, MG_RID_LEN);
        rid[MG_RID_LEN] = '\0';
    }

    body = mg_json_error_body(code, message, ctx ? rid : NULL);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* errors are final: nothing more of the request body is wanted */
    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    rc = ngx_http_mangoo_send_body(r, status,
                                   (u_char *) "application/json",
                                   sizeof("application/json") - 1,
                                   (u_char *) body, ngx_strlen(body));
    free(body);

    return rc;
}


ngx_int_t
ngx_http_mangoo_send_reply(ngx_http_request_t *r, const mg_msg_t *msg)
{
    if (ngx_http_mangoo_worker_headers(r, &msg->headers) != NGX_OK) {
        return ngx_http_mangoo_send_error(r, NGX_HTTP_BAD_GATEWAY,
                                          "bad_reply",
                                          "the worker sent a malformed reply");
    }

    if (msg->status == NGX_HTTP_NO_CONTENT) {
        r->headers_out.status = NGX_HTTP_NO_CONTENT;
        r->header_only = 1;
        r->headers_out.content_length_n = -1;

        if (ngx_http_mangoo_request_id_header(r) != NGX_OK) {
            return NGX_ERROR;
        }

        return ngx_http_send_header(r);
    }

    if (msg->status == NGX_HTTP_OK
        && (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))
        && ngx_http_mangoo_etag(r, (u_char *) msg->body.data, msg->body.len)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_mangoo_send_body(r, msg->status,
                                     (u_char *) msg->content_type.data,
                                     msg->content_type.len,
                                     (u_char *) msg->body.data,
                                     msg->body.len);
}


/* A stream's header; ngx_http_mangoo_sse.c writes what follows. */
ngx_int_t
ngx_http_mangoo_send_head(ngx_http_request_t *r, const mg_msg_t *msg)
{
    r->headers_out.status = msg->status;
    r->headers_out.content_length_n = -1;

    if (ngx_http_mangoo_worker_headers(r, &msg->headers) != NGX_OK
        || ngx_http_mangoo_set_content_type(r,
                                            (u_char *) msg->content_type.data,
                                            msg->content_type.len)
           != NGX_OK
        || ngx_http_mangoo_request_id_header(r) != NGX_OK
        || ngx_http_mangoo_add_header(r, "X-Accel-Buffering",
                                      sizeof("X-Accel-Buffering") - 1,
                                      (u_char *) "no", 2)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* a streamed answer must reach the client piece by piece */
    r->headers_out.last_modified_time = -1;
    ngx_http_clear_accept_ranges(r);

    return ngx_http_send_header(r);
}


/* Finalize from outside the request's own event handlers. */
void
ngx_http_mangoo_finish(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_connection_t  *c = r->connection;

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}
