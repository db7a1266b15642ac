/*
 * check_worker_fetch: the web-page fetcher's guard (worker/knowledge/fetch.c):
 * the address classifier over every forbidden kind and some public
 * addresses (values only: nothing connects anywhere), the IPv4-mapped and
 * NAT64 forms, the MANGOO_FETCH_ALLOW parser and matcher, the message the
 * user sees, and the URL checks made before libcurl is involved.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knowledge/fetch.h"

/* An address as a sockaddr_storage, AF_INET or AF_INET6 by its spelling. */
static struct sockaddr_storage
addr(const char *text)
{
    struct sockaddr_storage  ss;

    memset(&ss, 0, sizeof(ss));
    if (strchr(text, ':') != NULL) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) &ss;

        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(80);
        ck_assert_msg(inet_pton(AF_INET6, text, &s6->sin6_addr) == 1, "bad test address %s", text);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *) &ss;

        s4->sin_family = AF_INET;
        s4->sin_port = htons(80);
        ck_assert_msg(inet_pton(AF_INET, text, &s4->sin_addr) == 1, "bad test address %s", text);
    }
    return ss;
}

static mg_addr_kind_t
kind_of(const char *text, char *why, size_t whylen)
{
    struct sockaddr_storage ss = addr(text);

    return mg_addr_forbidden((const struct sockaddr *) &ss, why, whylen);
}

static void
expect_kind(const char *const *texts, size_t n, mg_addr_kind_t want, const char *name)
{
    char why[128];

    for (size_t i = 0; i < n; i++) {
        mg_addr_kind_t got = kind_of(texts[i], why, sizeof(why));

        ck_assert_msg(got == want, "%s: kind %d (%s), want %d (%s)", texts[i], got, why, want, name);
        ck_assert_msg(strcmp(why, name) == 0, "%s: why \"%s\", want \"%s\"", texts[i], why, name);
    }
}

#define EXPECT(arr, kind, name) expect_kind(arr, sizeof(arr) / sizeof(arr[0]), kind, name)

START_TEST(test_kind_names)
{
    ck_assert_str_eq(mg_addr_kind_name(MG_ADDR_OK), "");
    ck_assert_str_eq(mg_addr_kind_name(MG_ADDR_LOOPBACK), "loopback");
    ck_assert_str_eq(mg_addr_kind_name(MG_ADDR_PRIVATE), "private");
    ck_assert_str_eq(mg_addr_kind_name(MG_ADDR_LINK_LOCAL), "link-local");
    ck_assert_str_eq(mg_addr_kind_name(MG_ADDR_METADATA), "cloud metadata");
    ck_assert_str_eq(mg_addr_kind_name(MG_ADDR_UNIQUE_LOCAL), "unique local");
    ck_assert_str_eq(mg_addr_kind_name(MG_ADDR_UNSPECIFIED), "unspecified");
    ck_assert_str_eq(mg_addr_kind_name(MG_ADDR_MULTICAST), "multicast");
    ck_assert_str_eq(mg_addr_kind_name(MG_ADDR_BROADCAST), "broadcast");
    ck_assert_str_eq(mg_addr_kind_name(MG_ADDR_RESERVED), "reserved");
    ck_assert_str_eq(mg_addr_kind_name(MG_ADDR_DOCUMENTATION), "documentation");
}
END_TEST

START_TEST(test_ipv4_kinds)
{
    static const char *const unspecified[] = { "0.0.0.0", "0.1.2.3", "0.255.255.255" };
    static const char *const loopback[] = { "127.0.0.1", "127.0.0.0", "127.1.2.3", "127.255.255.255" };
    static const char *const private_[] = {
        "10.0.0.0", "10.0.0.1", "10.0.0.5", "10.255.255.255",
        "172.16.0.0", "172.16.0.1", "172.20.10.1", "172.31.255.255",
        "192.168.0.0", "192.168.1.1", "192.168.255.255",
        "100.64.0.0", "100.64.0.1", "100.100.1.1", "100.127.255.255",
    };
    static const char *const link_local[] = {
        "169.254.0.0", "169.254.0.1", "169.254.169.253", "169.254.169.255", "169.254.170.2",
        "169.254.255.255",
    };
    static const char *const metadata[] = { "169.254.169.254", "100.100.100.200" };
    static const char *const reserved[] = {
        "192.0.0.0", "192.0.0.8", "192.0.0.170", "192.0.0.255",
        "198.18.0.0", "198.18.0.1", "198.19.255.255",
        "240.0.0.0", "240.0.0.1", "250.1.2.3", "255.255.255.254",
    };
    static const char *const documentation[] = {
        "192.0.2.1", "198.51.100.7", "203.0.113.255",
    };
    static const char *const multicast[] = {
        "224.0.0.0", "224.0.0.1", "224.0.0.251", "239.255.255.250", "239.255.255.255",
    };
    static const char *const broadcast[] = { "255.255.255.255" };
    static const char *const public_[] = {
        "8.8.8.8", "1.1.1.1", "93.184.216.34", "1.0.0.0", "9.255.255.255", "11.0.0.0",
        "126.255.255.255", "128.0.0.0", "172.15.255.255", "172.32.0.0", "192.167.255.255",
        "192.169.0.0", "169.253.255.255", "169.255.0.0", "100.63.255.255", "100.128.0.0",
        "198.17.255.255", "198.20.0.0", "192.0.1.0", "192.0.3.0", "223.255.255.255",
        "100.100.100.199" /* CGNAT, so private */,
    };

    EXPECT(unspecified, MG_ADDR_UNSPECIFIED, "unspecified");
    EXPECT(loopback, MG_ADDR_LOOPBACK, "loopback");
    EXPECT(private_, MG_ADDR_PRIVATE, "private");
    EXPECT(link_local, MG_ADDR_LINK_LOCAL, "link-local");
    EXPECT(metadata, MG_ADDR_METADATA, "cloud metadata");
    EXPECT(reserved, MG_ADDR_RESERVED, "reserved");
    EXPECT(documentation, MG_ADDR_DOCUMENTATION, "documentation");
    EXPECT(multicast, MG_ADDR_MULTICAST, "multicast");
    EXPECT(broadcast, MG_ADDR_BROADCAST, "broadcast");
    /* all but the last are public */
    expect_kind(public_, sizeof(public_) / sizeof(public_[0]) - 1, MG_ADDR_OK, "");
    ck_assert_int_eq(kind_of("100.100.100.199", NULL, 0), MG_ADDR_PRIVATE);
}
END_TEST

START_TEST(test_ipv6_kinds)
{
    static const char *const unspecified[] = { "::", "0:0:0:0:0:0:0:0" };
    static const char *const loopback[] = { "::1", "0:0:0:0:0:0:0:1" };
    static const char *const link_local[] = {
        "fe80::", "fe80::1", "fe80::1234:5678:9abc:def0", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    };
    static const char *const metadata[] = { "fd00:ec2::254", "fd00:0ec2:0:0:0:0:0:0254" };
    static const char *const unique_local[] = {
        "fc00::", "fc00::1", "fd00::1", "fd12:3456:789a::1", "fd00:ec2::253", "fd00:ec2::255",
        "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fec0::1", "feff::1",
    };
    static const char *const multicast[] = { "ff00::", "ff02::1", "ff05::1:3", "ffff::1" };
    static const char *const documentation[] = {
        "2001:db8::", "2001:db8::1", "2001:db8:ffff::1", "3fff::1", "3fff:fff::1",
    };
    static const char *const reserved[] = {
        "::2", "::7f00:1" /* IPv4-compatible 127.0.0.1 */, "::8.8.8.8", "100::1", "1::",
        "4000::1", "fbff::1", "::fffe:7f00:1", "64:ff9a::7f00:1",
    };
    static const char *const private_[] = { "64:ff9b:1::1", "64:ff9b:1::808:808" };
    static const char *const public_[] = {
        "2606:4700::1111", "2001:4860:4860::8888", "2a00:1450:4001:82b::200e", "2000::1",
        "3fff:1000::1", "2001:db7:ffff::1", "2001:db9::1",
    };

    EXPECT(unspecified, MG_ADDR_UNSPECIFIED, "unspecified");
    EXPECT(loopback, MG_ADDR_LOOPBACK, "loopback");
    EXPECT(link_local, MG_ADDR_LINK_LOCAL, "link-local");
    EXPECT(metadata, MG_ADDR_METADATA, "cloud metadata");
    EXPECT(unique_local, MG_ADDR_UNIQUE_LOCAL, "unique local");
    EXPECT(multicast, MG_ADDR_MULTICAST, "multicast");
    EXPECT(documentation, MG_ADDR_DOCUMENTATION, "documentation");
    EXPECT(reserved, MG_ADDR_RESERVED, "reserved");
    EXPECT(private_, MG_ADDR_PRIVATE, "private");
    EXPECT(public_, MG_ADDR_OK, "");
}
END_TEST

START_TEST(test_ipv6_embedded_ipv4)
{
    static const struct { const char *a; mg_addr_kind_t kind; const char *why; } cases[] = {
        { "::ffff:127.0.0.1",       MG_ADDR_LOOPBACK,    "loopback (IPv4-mapped 127.0.0.1)" },
        { "::ffff:7f00:1",          MG_ADDR_LOOPBACK,    "loopback (IPv4-mapped 127.0.0.1)" },
        { "::ffff:10.0.0.5",        MG_ADDR_PRIVATE,     "private (IPv4-mapped 10.0.0.5)" },
        { "::ffff:192.168.1.1",     MG_ADDR_PRIVATE,     "private (IPv4-mapped 192.168.1.1)" },
        { "::ffff:172.16.0.1",      MG_ADDR_PRIVATE,     "private (IPv4-mapped 172.16.0.1)" },
        { "::ffff:100.64.0.1",      MG_ADDR_PRIVATE,     "private (IPv4-mapped 100.64.0.1)" },
        { "::ffff:169.254.169.254", MG_ADDR_METADATA,    "cloud metadata (IPv4-mapped 169.254.169.254)" },
        { "::ffff:169.254.1.1",     MG_ADDR_LINK_LOCAL,  "link-local (IPv4-mapped 169.254.1.1)" },
        { "::ffff:0.0.0.0",         MG_ADDR_UNSPECIFIED, "unspecified (IPv4-mapped 0.0.0.0)" },
        { "::ffff:224.0.0.1",       MG_ADDR_MULTICAST,   "multicast (IPv4-mapped 224.0.0.1)" },
        { "::ffff:255.255.255.255", MG_ADDR_BROADCAST,   "broadcast (IPv4-mapped 255.255.255.255)" },
        { "::ffff:8.8.8.8",         MG_ADDR_OK,          "" },
        { "64:ff9b::127.0.0.1",     MG_ADDR_LOOPBACK,    "loopback (NAT64 of 127.0.0.1)" },
        { "64:ff9b::a00:1",         MG_ADDR_PRIVATE,     "private (NAT64 of 10.0.0.1)" },
        { "64:ff9b::169.254.169.254", MG_ADDR_METADATA,  "cloud metadata (NAT64 of 169.254.169.254)" },
        { "64:ff9b::192.168.0.1",   MG_ADDR_PRIVATE,     "private (NAT64 of 192.168.0.1)" },
        { "64:ff9b::8.8.8.8",       MG_ADDR_OK,          "" },
        { "64:ff9b::1.1.1.1",       MG_ADDR_OK,          "" },
    };
    char why[128];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mg_addr_kind_t got = kind_of(cases[i].a, why, sizeof(why));

        ck_assert_msg(got == cases[i].kind, "%s: kind %d, want %d", cases[i].a, got, cases[i].kind);
        ck_assert_msg(strcmp(why, cases[i].why) == 0, "%s: why \"%s\", want \"%s\"",
                      cases[i].a, why, cases[i].why);
    }
}
END_TEST

START_TEST(test_other_family)
{
    struct sockaddr_storage  ss;
    char                     why[64];

    memset(&ss, 0, sizeof(ss));
    ss.ss_family = AF_UNIX;
    ck_assert_int_eq(mg_addr_forbidden((struct sockaddr *) &ss, why, sizeof(why)), MG_ADDR_RESERVED);
    ck_assert_str_eq(why, "reserved");
    /* why is optional; a short one is cut, not overrun */
    ck_assert_int_eq(kind_of("127.0.0.1", NULL, 0), MG_ADDR_LOOPBACK);
    ck_assert_int_eq(kind_of("::ffff:127.0.0.1", why, 5), MG_ADDR_LOOPBACK);
    ck_assert_str_eq(why, "loop");
}
END_TEST

/* parse s, expecting n CIDRs */
static mg_cidr_t *
parse_ok(const char *s, size_t want)
{
    mg_cidr_t  *list = (mg_cidr_t *) 1;
    size_t      n = 99;
    char        err[200] = "";

    ck_assert_msg(mg_cidr_parse_list(s, &list, &n, err, sizeof(err)) == 0, "\"%s\": %s", s, err);
    ck_assert_msg(n == want, "\"%s\": %zu CIDRs, want %zu", s, n, want);
    if (want == 0) {
        ck_assert_ptr_null(list);
    }
    return list;
}

static void
parse_bad(const char *s, const char *err_has)
{
    mg_cidr_t  *list = (mg_cidr_t *) 1;
    size_t      n = 99;
    char        err[200] = "";

    ck_assert_msg(mg_cidr_parse_list(s, &list, &n, err, sizeof(err)) == -1, "\"%s\" parsed", s);
    ck_assert_ptr_null(list);
    ck_assert_uint_eq(n, 0);
    ck_assert_msg(strstr(err, err_has) != NULL, "\"%s\": err \"%s\" lacks \"%s\"", s, err, err_has);
}

START_TEST(test_cidr_parse_good)
{
    mg_cidr_t *l;

    l = parse_ok("127.0.0.1/32", 1);
    ck_assert_int_eq(l[0].family, AF_INET);
    ck_assert_int_eq(l[0].prefix, 32);
    ck_assert_mem_eq(l[0].addr, "\x7f\x00\x00\x01", 4);
    free(l);

    l = parse_ok(" 10.0.0.0/8 ,192.168.0.0/16,  fd00::/8,::1 , 127.0.0.1 ", 5);
    ck_assert_int_eq(l[0].prefix, 8);
    ck_assert_int_eq(l[1].prefix, 16);
    ck_assert_int_eq(l[2].family, AF_INET6);
    ck_assert_int_eq(l[2].prefix, 8);
    ck_assert_int_eq(l[3].family, AF_INET6);
    ck_assert_int_eq(l[3].prefix, 128);         /* an address alone: one host */
    ck_assert_int_eq(l[4].prefix, 32);
    free(l);

    l = parse_ok("0.0.0.0/0,::/0", 2);
    ck_assert_int_eq(l[0].prefix, 0);
    ck_assert_int_eq(l[1].prefix, 0);
    free(l);

    l = parse_ok("172.16.0.0/12,169.254.169.254/32,fe80::/10,100.64.0.0/10", 4);
    free(l);
    l = parse_ok("10.1.2.128/25,2001:db8:abcd:12::/63", 2);
    ck_assert_int_eq(l[0].prefix, 25);
    ck_assert_int_eq(l[1].prefix, 63);
    free(l);

    /* nothing, and empty items, are no CIDRs */
    parse_ok("", 0);
    parse_ok("  ", 0);
    parse_ok(",", 0);
    l = parse_ok("10.0.0.0/8,,", 1);
    free(l);
}
END_TEST

START_TEST(test_cidr_parse_bad)
{
    parse_bad("10.0.0.0/33", "prefix longer than 32");
    parse_bad("::/129", "prefix longer than 128");
    parse_bad("10.0.0.0/", "bad prefix length");
    parse_bad("10.0.0.0/-1", "bad prefix length");
    parse_bad("10.0.0.0/+8", "bad prefix length");
    parse_bad("10.0.0.0/8x", "bad prefix length");
    parse_bad("10.0.0.0/1000", "bad prefix length");
    parse_bad("10.0.0.0/ 8", "bad prefix length");
    parse_bad("10.0.0.1/8", "bits set past its prefix");
    parse_bad("192.168.1.0/16", "bits set past its prefix");
    parse_bad("10.1.2.129/25", "bits set past its prefix");
    parse_bad("fd00::1/8", "bits set past its prefix");
    parse_bad("256.0.0.1/32", "not an IP address");
    parse_bad("10.0.0/8", "not an IP address");
    parse_bad("010.0.0.0/8", "not an IP address");
    parse_bad("localhost", "not an IP address");
    parse_bad("10.0.0.0/8;", "bad prefix length");
    parse_bad("10.0.0.0 /8", "not an IP address");
    parse_bad("fe80::1%eth0/128", "not an IP address");
    parse_bad("gggg::/16", "not an IP address");
    parse_bad("/8", "not an IP address");
    parse_bad("127.0.0.1/32,nope", "\"nope\"");
    parse_bad("10.0.0.0/8, 1.2.3.4/40", "\"1.2.3.4/40\"");
    parse_bad("1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd/128",
              "not a CIDR");
}
END_TEST

static int
match(const mg_cidr_t *l, size_t n, const char *text)
{
    struct sockaddr_storage ss = addr(text);

    return mg_cidr_match(l, n, (const struct sockaddr *) &ss);
}

START_TEST(test_cidr_match)
{
    mg_cidr_t *l;

    l = parse_ok("127.0.0.1/32", 1);
    ck_assert(match(l, 1, "127.0.0.1"));
    ck_assert(!match(l, 1, "127.0.0.2"));
    ck_assert(!match(l, 1, "::1"));
    ck_assert(match(l, 1, "::ffff:127.0.0.1"));          /* the same address, mapped */
    ck_assert(match(l, 1, "64:ff9b::127.0.0.1"));
    ck_assert(!match(l, 1, "::ffff:127.0.0.2"));
    ck_assert(!match(l, 0, "127.0.0.1"));                 /* an empty list matches nothing */
    free(l);

    l = parse_ok("10.0.0.0/8,172.16.0.0/12,10.1.2.128/25,fd00::/8", 4);
    ck_assert(match(l, 4, "10.0.0.0"));
    ck_assert(match(l, 4, "10.255.255.255"));
    ck_assert(!match(l, 4, "11.0.0.0"));
    ck_assert(!match(l, 4, "9.255.255.255"));
    ck_assert(match(l, 4, "172.31.255.255"));
    ck_assert(!match(l, 4, "172.32.0.0"));
    ck_assert(!match(l, 4, "172.15.255.255"));
    ck_assert(match(l, 4, "fd00::1"));
    ck_assert(match(l, 4, "fdff::1"));
    ck_assert(!match(l, 4, "fc00::1"));
    ck_assert(!match(l, 4, "fe00::1"));
    free(l);

    l = parse_ok("10.1.2.128/25", 1);
    ck_assert(match(l, 1, "10.1.2.128"));
    ck_assert(match(l, 1, "10.1.2.255"));
    ck_assert(!match(l, 1, "10.1.2.127"));
    ck_assert(!match(l, 1, "10.1.3.128"));
    free(l);

    l = parse_ok("0.0.0.0/0", 1);
    ck_assert(match(l, 1, "169.254.169.254"));
    ck_assert(match(l, 1, "8.8.8.8"));
    ck_assert(!match(l, 1, "fd00:ec2::254"));
    free(l);

    l = parse_ok("::/0", 1);
    ck_assert(match(l, 1, "fd00:ec2::254"));
    ck_assert(!match(l, 1, "10.0.0.1"));
    free(l);

    l = parse_ok("fe80::/10,::1", 2);
    ck_assert(match(l, 2, "fe80::1"));
    ck_assert(match(l, 2, "febf::1"));
    ck_assert(!match(l, 2, "fec0::1"));
    ck_assert(match(l, 2, "::1"));
    ck_assert(!match(l, 2, "127.0.0.1"));
    free(l);
}
END_TEST

static int
check(const char *text, const mg_cidr_t *allow, size_t nallow, char *err, size_t errlen)
{
    struct sockaddr_storage ss = addr(text);

    return mg_fetch_check_addr((const struct sockaddr *) &ss, allow, nallow, err, errlen);
}

START_TEST(test_check_addr_messages)
{
    static const struct { const char *a; const char *msg; } cases[] = {
        { "10.0.0.5", "the address 10.0.0.5 is private and may not be fetched" },
        { "127.0.0.1", "the address 127.0.0.1 is loopback and may not be fetched" },
        { "::1", "the address ::1 is loopback and may not be fetched" },
        { "169.254.169.254",
          "the address 169.254.169.254 is a cloud metadata service and may not be fetched" },
        { "fd00:ec2::254",
          "the address fd00:ec2::254 is a cloud metadata service and may not be fetched" },
        { "169.254.1.2", "the address 169.254.1.2 is link-local and may not be fetched" },
        { "fe80::1", "the address fe80::1 is link-local and may not be fetched" },
        { "fd12::1", "the address fd12::1 is unique local (private) and may not be fetched" },
        { "0.0.0.0", "the address 0.0.0.0 is unspecified and may not be fetched" },
        { "239.1.1.1", "the address 239.1.1.1 is multicast and may not be fetched" },
        { "255.255.255.255",
          "the address 255.255.255.255 is the broadcast address and may not be fetched" },
        { "2001:db8::1",
          "the address 2001:db8::1 is reserved for documentation and may not be fetched" },
        { "::ffff:127.0.0.1",
          "the address ::ffff:127.0.0.1 (IPv4-mapped 127.0.0.1) is loopback and may not be fetched" },
        { "64:ff9b::a9fe:a9fe", "the address 64:ff9b::a9fe:a9fe (NAT64 of 169.254.169.254) "
                                "is a cloud metadata service and may not be fetched" },
    };
    char        err[256];
    mg_cidr_t  *l;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        strcpy(err, "untouched");
        ck_assert_int_eq(check(cases[i].a, NULL, 0, err, sizeof(err)), -1);
        ck_assert_str_eq(err, cases[i].msg);
    }
    strcpy(err, "untouched");
    ck_assert_int_eq(check("8.8.8.8", NULL, 0, err, sizeof(err)), 0);
    ck_assert_int_eq(check("2606:4700::1111", NULL, 0, err, sizeof(err)), 0);
    ck_assert_str_eq(err, "untouched");

    /* the allow-list lets its ranges through, and only those */
    l = parse_ok("127.0.0.1/32,10.0.0.0/8", 2);
    ck_assert_int_eq(check("127.0.0.1", l, 2, err, sizeof(err)), 0);
    ck_assert_int_eq(check("::ffff:127.0.0.1", l, 2, err, sizeof(err)), 0);
    ck_assert_int_eq(check("10.9.8.7", l, 2, err, sizeof(err)), 0);
    ck_assert_int_eq(check("127.0.0.2", l, 2, err, sizeof(err)), -1);
    ck_assert_int_eq(check("::1", l, 2, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "the address ::1 is loopback and may not be fetched");
    ck_assert_int_eq(check("169.254.169.254", l, 2, err, sizeof(err)), -1);
    ck_assert_int_eq(check("192.168.1.1", l, 2, err, sizeof(err)), -1);
    ck_assert_int_eq(check("8.8.8.8", l, 2, err, sizeof(err)), 0);
    free(l);
}
END_TEST

/* URLs refused before libcurl connects anywhere (the settings are the
 * defaults: this test's environment sets none). */
START_TEST(test_url_refused_early)
{
    static const struct { const char *url; const char *err_has; } cases[] = {
        { "ftp://127.0.0.1/file", "only http and https URLs may be fetched, not ftp" },
        { "file:///etc/passwd", "only http and https URLs may be fetched, not file" },
        { "gopher://127.0.0.1/", "only http and https URLs may be fetched, not gopher" },
        { "FILE:///etc/passwd", "not file" },
        { "example.com/page", "the URL is not valid" },
        { "", "the URL is not valid" },
        { "http://", "the URL is not valid" },
        { "http://exa mple.com/", "the URL is not valid" },
    };
    char    err[256], type[128];
    char   *body = (char *) 1;
    size_t  len = 99;
    char   *longurl;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        ck_assert_int_eq(mg_fetch_url(cases[i].url, &body, &len, type, sizeof(type),
                                      err, sizeof(err)), -1);
        ck_assert_ptr_null(body);
        ck_assert_uint_eq(len, 0);
        ck_assert_str_eq(type, "");
        ck_assert_msg(strstr(err, cases[i].err_has) != NULL, "%s: \"%s\"", cases[i].url, err);
    }

    longurl = malloc(3000);
    ck_assert_ptr_nonnull(longurl);
    strcpy(longurl, "http://example.com/");
    memset(longurl + strlen(longurl), 'a', 2100);
    longurl[2119] = '\0';
    ck_assert_int_eq(mg_fetch_url(longurl, &body, &len, type, sizeof(type), err, sizeof(err)), -1);
    ck_assert_str_eq(err, "the URL is longer than 2048 characters");
    free(longurl);
}
END_TEST

static Suite *
fetch_suite(void)
{
    Suite  *s = suite_create("worker_fetch");
    TCase  *tc = tcase_create("guard");

    tcase_add_test(tc, test_kind_names);
    tcase_add_test(tc, test_ipv4_kinds);
    tcase_add_test(tc, test_ipv6_kinds);
    tcase_add_test(tc, test_ipv6_embedded_ipv4);
    tcase_add_test(tc, test_other_family);
    tcase_add_test(tc, test_cidr_parse_good);
    tcase_add_test(tc, test_cidr_parse_bad);
    tcase_add_test(tc, test_cidr_match);
    tcase_add_test(tc, test_check_addr_messages);
    tcase_add_test(tc, test_url_refused_early);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner  *sr = srunner_create(fetch_suite());
    int       failed;

    /* the URL test reads the settings: make them the defaults */
    unsetenv("MANGOO_FETCH_ALLOW");
    unsetenv("MANGOO_FETCH_MAX_BYTES");
    unsetenv("MANGOO_FETCH_TIMEOUT");
    unsetenv("MANGOO_FETCH_PROXY");
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
