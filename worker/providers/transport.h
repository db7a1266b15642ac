/*
 * mg_transport: how the stream engine's transfers reach model providers.
 *
 * Owned by the engine thread and used by it alone (so its share handle
 * needs no locks).  Over https:// a transfer asks for HTTP/2 through ALPN
 * and the open streams to one provider share its connections; a server
 * that offers only HTTP/1.1 gets a connection a stream, as before; plain
 * http:// stays HTTP/1.1.  TLS sessions are kept for the process, so every
 * new connection to a provider resumes one.  A TLS connection gives its
 * OpenSSL buffers back while it is idle.
 */
#ifndef MG_TRANSPORT_H
#define MG_TRANSPORT_H

#include <curl/curl.h>

/* HTTP/2 streams one connection carries at most (why: transport.c). */
#define MG_TRANSPORT_STREAMS_PER_CONN 20L
/* receive buffers (why: transport.c) */
#define MG_TRANSPORT_H1_BUFFER        1024L
#define MG_TRANSPORT_H2_BUFFER        16384L
/* origins remembered as HTTP/1.1 only, and for how long */
#define MG_TRANSPORT_H1_ORIGINS       16
#define MG_TRANSPORT_H1_FORGET_MS     600000LL
#define MG_TRANSPORT_ORIGIN_MAX       256

typedef struct mg_transport_s mg_transport_t;

/* A transport for multi (the engine's): sets multi's multiplexing
 * options.  NULL when out of memory or when libcurl refuses an option;
 * err then says why. */
mg_transport_t *mg_transport_new(CURLM *multi, char *err, size_t errlen);
void            mg_transport_free(mg_transport_t *t);

/* Connection options of one provider transfer, after the provider set
 * its URL: ca_file (NULL: the system's), the connect timeout.  0, or -1
 * when libcurl refuses one. */
int mg_transport_easy(mg_transport_t *t, CURL *easy, const char *ca_file,
                      long connect_timeout_ms, long long now_ms);

/* The transfer's answer has begun: remember whether its origin speaks
 * HTTP/2 (see mg_transport_wait). */
void mg_transport_learn(mg_transport_t *t, CURL *easy, long long now_ms);

/* The pieces above, without libcurl, for tests.  wait: whether a
 * transfer to url should wait for a connection being set up to this
 * origin rather than open its own (https:// not known to be HTTP/1.1
 * only).  note: the origin of url answered in HTTP version `major`. */
int  mg_transport_wait(mg_transport_t *t, const char *url, long long now_ms);
void mg_transport_note(mg_transport_t *t, const char *url, int major, long long now_ms);

#endif
