/* Unit tests for shared/mg_routes.c: matching, captures, 404 versus 405. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mg_routes.h"

static int
match(const char *method, const char *path, mg_route_match_t *m)
{
    return mg_route_match(method, strlen(method), path, strlen(path), m);
}

START_TEST(test_collection_routes)
{
    mg_route_match_t m;

    ck_assert_int_eq(match("GET", "/api/v1/bots", &m), 0);
    ck_assert_str_eq(m.route->job, "bots.list");
    ck_assert_uint_eq(m.nparams, 0);

    ck_assert_int_eq(match("POST", "/api/v1/bots", &m), 0);
    ck_assert_str_eq(m.route->job, "bots.create");
}
END_TEST

START_TEST(test_item_routes_capture_id)
{
    mg_route_match_t m;
    const char *path = "/api/v1/bots/5f0c7a4e-1b2c-4d3e-8f90-123456789abc";

    ck_assert_int_eq(match("PATCH", path, &m), 0);
    ck_assert_str_eq(m.route->job, "bots.update");
    ck_assert_uint_eq(m.nparams, 1);
    ck_assert_uint_eq(m.params[0].name_len, 2);
    ck_assert_int_eq(memcmp(m.params[0].name, "id", 2), 0);
    ck_assert_uint_eq(m.params[0].value_len, 36);
    ck_assert_ptr_eq(m.params[0].value, path + 13);

    ck_assert_int_eq(match("DELETE", path, &m), 0);
    ck_assert_str_eq(m.route->job, "bots.delete");
    ck_assert_int_eq(match("GET", path, &m), 0);
    ck_assert_str_eq(m.route->job, "bots.get");
}
END_TEST

START_TEST(test_chat_routes)
{
    mg_route_match_t m;
    const char *path = "/api/v1/chats/5f0c7a4e-1b2c-4d3e-8f90-123456789abc";

    ck_assert_int_eq(match("GET", "/api/v1/chats", &m), 0);
    ck_assert_str_eq(m.route->job, "chats.list");
    ck_assert_uint_eq(m.nparams, 0);

    ck_assert_int_eq(match("GET", path, &m), 0);
    ck_assert_str_eq(m.route->job, "chats.get");
    ck_assert_uint_eq(m.nparams, 1);
    ck_assert_uint_eq(m.params[0].value_len, 36);
    ck_assert_ptr_eq(m.params[0].value, path + 14);
    ck_assert_int_eq(match("PATCH", path, &m), 0);
    ck_assert_str_eq(m.route->job, "chats.update");
    ck_assert_int_eq(match("DELETE", path, &m), 0);
    ck_assert_str_eq(m.route->job, "chats.delete");
}
END_TEST

START_TEST(test_usage_routes)
{
    mg_route_match_t m;

    ck_assert_int_eq(match("GET", "/api/v1/users/me/usage", &m), 0);
    ck_assert_str_eq(m.route->job, "users.usage");
    ck_assert_uint_eq(m.route->flags, 0);
    ck_assert_uint_eq(m.nparams, 0);

    ck_assert_int_eq(match("GET", "/api/v1/admin/usage", &m), 0);
    ck_assert_str_eq(m.route->job, "admin.usage");
    ck_assert_uint_eq(m.route->flags, MG_ROUTE_ADMIN);

    /* read-only: other methods are 405, and it is not an admin user id */
    ck_assert_int_eq(match("POST", "/api/v1/users/me/usage", &m), -1);
    ck_assert_str_eq(m.allow, "GET");
    ck_assert_int_eq(match("DELETE", "/api/v1/admin/usage", &m), -1);
    ck_assert_str_eq(m.allow, "GET");
    ck_assert_int_eq(match("GET", "/api/v1/admin/usage/x", &m), -1);
    ck_assert_str_eq(m.allow, "");
}
END_TEST

START_TEST(test_not_found)
{
    mg_route_match_t m;
    const char *paths[] = {
        "/api/v1/bot", "/api/v1/bots/", "/api/v1/bots/x/y", "/api/v1/botsx",
        "/api/v2/bots", "/", "", "/api/v1/bots//",
    };

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        ck_assert_msg(match("GET", paths[i], &m) == -1, "%s matched", paths[i]);
        ck_assert_ptr_null(m.route);
        ck_assert_msg(m.allow[0] == '\0', "%s: allow \"%s\"", paths[i], m.allow);
    }
}
END_TEST

START_TEST(test_method_not_allowed_lists_allow)
{
    mg_route_match_t m;

    ck_assert_int_eq(match("PUT", "/api/v1/bots", &m), -1);
    ck_assert_ptr_null(m.route);
    ck_assert_str_eq(m.allow, "GET, POST");

    ck_assert_int_eq(match("POST", "/api/v1/bots/abc", &m), -1);
    ck_assert_str_eq(m.allow, "GET, PATCH, DELETE");

    /* methods compare exactly */
    ck_assert_int_eq(match("get", "/api/v1/bots", &m), -1);
    ck_assert_int_eq(match("GETX", "/api/v1/bots", &m), -1);
}
END_TEST

START_TEST(test_table_is_well_formed)
{
    for (size_t i = 0; i < mg_routes_count; i++) {
        const mg_route_t *r = &mg_routes[i];
        ck_assert_msg(strncmp(r->pattern, "/api/v1/", 8) == 0, "%s", r->pattern);
        ck_assert_ptr_nonnull(r->job);
        /* no two routes share method and pattern */
        for (size_t j = i + 1; j < mg_routes_count; j++) {
            ck_assert_msg(strcmp(r->method, mg_routes[j].method) != 0
                          || strcmp(r->pattern, mg_routes[j].pattern) != 0,
                          "duplicate route %s %s", r->method, r->pattern);
        }
    }
}
END_TEST

START_TEST(test_service_and_cookie_routes)
{
    mg_route_match_t m;

    ck_assert_int_eq(match("GET", "/api/v1/config", &m), 0);
    ck_assert_str_eq(m.route->job, "config.get");
    ck_assert_uint_eq(m.route->flags, MG_ROUTE_PUBLIC);
    ck_assert_int_eq(match("GET", "/api/v1/models", &m), 0);
    ck_assert_str_eq(m.route->job, "models.list");
    ck_assert_uint_eq(m.route->flags, 0);
    ck_assert_int_eq(match("POST", "/api/v1/auth/cognito", &m), 0);
    ck_assert_str_eq(m.route->job, "auth.cognito");
    ck_assert_uint_eq(m.route->flags, MG_ROUTE_PUBLIC | MG_ROUTE_COOKIE);

    /* the session cookie reaches the auth routes only */
    for (size_t i = 0; i < mg_routes_count; i++) {
        int auth = strncmp(mg_routes[i].pattern, "/api/v1/auth/", 13) == 0;

        ck_assert_msg(!!(mg_routes[i].flags & MG_ROUTE_COOKIE) == auth,
                      "%s %s", mg_routes[i].method, mg_routes[i].pattern);
    }
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("mg_routes");
    TCase *tc = tcase_create("match");

    tcase_add_test(tc, test_collection_routes);
    tcase_add_test(tc, test_item_routes_capture_id);
    tcase_add_test(tc, test_chat_routes);
    tcase_add_test(tc, test_usage_routes);
    tcase_add_test(tc, test_not_found);
    tcase_add_test(tc, test_method_not_allowed_lists_allow);
    tcase_add_test(tc, test_table_is_well_formed);
    tcase_add_test(tc, test_service_and_cookie_routes);
    suite_add_tcase(s, tc);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
