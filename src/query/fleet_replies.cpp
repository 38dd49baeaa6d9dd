#include "fleet_replies.hpp"

#include <charconv>
#include <cmath>
#include <optional>

#include "tally/redis/pipeline.hpp"

namespace tally::query::fleet {

/// Sends `commands` in one write and reads their replies in order (one round trip).
std::vector<Reply> round_trip(redisContext* context, const std::vector<Command>& commands) {
    redis::Pipeline pipeline(*context);
    for (const Command& command : commands)
        pipeline.append(command);
    std::optional<std::vector<Reply>> replies = pipeline.read_all();
    if (!replies)
        throw ReadFailure(pipeline.error(), true);
    return std::move(*replies);
}

/// Runs `commands` as one MULTI/EXEC (one round trip) and returns EXEC's reply: an array
/// of their replies, in order, all from the same moment.
Reply transaction(redisContext* context, const std::vector<Command>& commands) {
    redis::Pipeline pipeline(*context);
    pipeline.multi();
    for (const Command& command : commands)
        pipeline.append(command);
    redis::Transaction result = pipeline.exec();
    if (!result.exec)
        throw ReadFailure(pipeline.error(), true);
    const redisReply* exec = result.exec.get();
    if (exec->type == REDIS_REPLY_ERROR) {
        // EXECABORT: a command was refused when queued; its own reply says why.
        throw ReadFailure(
            result.refused.empty() ? std::string(exec->str, exec->len) : result.refused.front(),
            false);
    }
    if (!result.ran() || exec->elements != commands.size())
        throw ReadFailure("unexpected reply to EXEC", false);
    return std::move(result.exec);
}

/// A Redis error reply as a failed read; any other reply passes.
const redisReply* checked(const redisReply* reply) {
    if (reply->type == REDIS_REPLY_ERROR)
        throw ReadFailure(std::string(reply->str, reply->len), false);
    return reply;
}

std::string_view text_of(const redisReply* reply) {
    if (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_STATUS)
        throw ReadFailure("expected a string reply", false);
    return {reply->str, reply->len};
}

const redisReply* array_of(const redisReply* reply) {
    if (checked(reply)->type != REDIS_REPLY_ARRAY)
        throw ReadFailure("expected an array reply", false);
    return reply;
}

/// A counter: an integer reply, or an integer string (GET, HGETALL values); a missing key
/// (nil) is 0, as a day the local store never saw.
std::uint64_t count_of(const redisReply* reply) {
    switch (checked(reply)->type) {
        case REDIS_REPLY_NIL:
            return 0;
        case REDIS_REPLY_INTEGER:
            return reply->integer > 0 ? static_cast<std::uint64_t>(reply->integer) : 0;
        default:
            break;
    }
    const std::string_view text = text_of(reply);
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size())
        throw ReadFailure("not an integer: '" + std::string(text) + "'", false);
    return value > 0 ? static_cast<std::uint64_t>(value) : 0;
}

/// A sorted-set score. The mirror only ZINCRBYs whole numbers, exact in a double up to
/// 2^53; anything else is rounded.
std::uint64_t score_of(std::string_view text) {
    double value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size())
        throw ReadFailure("not a score: '" + std::string(text) + "'", false);
    return value > 0 ? static_cast<std::uint64_t>(std::llround(value)) : 0;
}

query::Ranked ranked_of(const redisReply* reply) {
    query::Ranked out;
    for_each_pair(reply, [&](std::string_view member, const redisReply* score) {
        out.emplace_back(std::string(member), score_of(text_of(score)));
    });
    return out;
}

}  // namespace tally::query::fleet
