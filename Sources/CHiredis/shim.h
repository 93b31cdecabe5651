#ifndef OSP_CHIREDIS_SHIM_H
#define OSP_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>

/* redisCommand is variadic; osp only issues commands through redisCommandArgv,
   whose reply comes back as void* and is typed here. */
static inline redisReply *osp_redis_command_argv(redisContext *c, int argc, const char **argv, const size_t *argvlen) {
    return (redisReply *)redisCommandArgv(c, argc, argv, argvlen);
}
#endif
