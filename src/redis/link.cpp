// Opening a hiredis connection (link.hpp).

#include "tally/redis/link.hpp"

#include <hiredis/hiredis.h>

namespace tally::redis {

namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}

}  // namespace

void ContextDeleter::operator()(redisContext* context) const {
    redisFree(context);
}

void ReplyDeleter::operator()(redisReply* reply) const {
    freeReplyObject(reply);
}

Context open(const RedisAddress& address, std::chrono::milliseconds connect_timeout,
             std::chrono::milliseconds command_timeout, std::string& error) {
    Context context(
        redisConnectWithTimeout(address.host.c_str(), address.port, to_timeval(connect_timeout)));
    if (!context) {
        error = "cannot allocate a hiredis context";
        return nullptr;
    }
    if (context->err != 0 ||
        redisSetTimeout(context.get(), to_timeval(command_timeout)) != REDIS_OK) {
        error = context->errstr;
        return nullptr;
    }
    redisEnableKeepAlive(context.get());
    const std::string db = std::to_string(address.db);
    Reply reply(static_cast<redisReply*>(address.db != 0
                                             ? redisCommand(context.get(), "SELECT %s", db.c_str())
                                             : redisCommand(context.get(), "PING")));
    if (!reply) {
        error = context->errstr[0] != '\0' ? context->errstr : "no reply";
        return nullptr;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        error.assign(reply->str, reply->len);
        return nullptr;
    }
    return context;
}

}  // namespace tally::redis
