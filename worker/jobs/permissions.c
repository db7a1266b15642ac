/*
 * permissions: who may create and who may publish bots (permissions.h).
 */
#include "jobs/permissions.h"

#include <string.h>

#include "jobs/jobs.h"

#define MG_PERM_PUBLISH_DEFAULT "publishers"
#define MG_PERM_GROUP_MAX       128

static const char  *mg_perm_create = NULL;
static const char  *mg_perm_publish = MG_PERM_PUBLISH_DEFAULT;

static int
mg_perm_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > MG_PERM_GROUP_MAX) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char) s[i] <= 0x20 || s[i] == 0x7f) {
            return 0;
        }
    }
    return 1;
}

int
mg_perm_configure(const char *create_group, const char *publish_group)
{
    if (create_group != NULL && create_group[0] != '\0' && !mg_perm_name_ok(create_group)) {
        return -1;
    }
    if (publish_group != NULL && publish_group[0] != '\0' && !mg_perm_name_ok(publish_group)) {
        return -1;
    }
    mg_perm_create = (create_group != NULL && create_group[0] != '\0') ? create_group : NULL;
    mg_perm_publish = (publish_group != NULL && publish_group[0] != '\0')
                      ? publish_group : MG_PERM_PUBLISH_DEFAULT;
    return 0;
}

const char *
mg_perm_create_group(void)
{
    return mg_perm_create;
}

const char *
mg_perm_publish_group(void)
{
    return mg_perm_publish;
}

int
mg_perm_in_group(json_t *claims, const char *group)
{
    json_t  *groups = json_object_get(claims, "cognito:groups"), *g;
    size_t   i;

    json_array_foreach(groups, i, g) {
        if (json_is_string(g) && strcmp(json_string_value(g), group) == 0) {
            return 1;
        }
    }
    return 0;
}

int
mg_perm_may_create(json_t *claims)
{
    return mg_perm_create == NULL || mg_users_claims_admin(claims)
           || mg_perm_in_group(claims, mg_perm_create);
}

int
mg_perm_may_publish(json_t *claims)
{
    return mg_users_claims_admin(claims) || mg_perm_in_group(claims, mg_perm_publish);
}
