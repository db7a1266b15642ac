/*
 * permissions: what a signed-in user may do beyond using the API, decided
 * from the token's groups (cognito:groups; the local identity writes its
 * users' role and groups there too).  Administrators may do everything.
 *
 * MANGOO_CREATE_GROUP   the group allowed to create bots; unset: everyone
 * MANGOO_PUBLISH_GROUP  the group allowed to publish bots (to the store or
 *                       as an API); default "publishers"
 * A single user (the first, an administrator) keeps today's rights.
 */
#ifndef MG_JOBS_PERMISSIONS_H
#define MG_JOBS_PERMISSIONS_H

#include <jansson.h>

/* The group names; NULL or "" for create means every user.  The strings
 * are borrowed (the environment's) and must outlive the workers.  0, or
 * -1 for a name that is not 1..128 printable characters. */
int mg_perm_configure(const char *create_group, const char *publish_group);

const char *mg_perm_create_group(void);     /* NULL: everyone */
const char *mg_perm_publish_group(void);

int mg_perm_in_group(json_t *claims, const char *group);
int mg_perm_may_create(json_t *claims);
int mg_perm_may_publish(json_t *claims);

#endif
