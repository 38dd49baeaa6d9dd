#pragma once
// The fleet reader's view of Redis replies: one round trip or one MULTI/EXEC over the shared
// pipeline, and the checks that turn a reply of the wrong shape, an error reply or a lost
// connection into a ReadFailure, which the reader answers as a 503. Private to src/query.

#include <hiredis/hiredis.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tally/query/query.hpp"
#include "tally/redis/link.hpp"

namespace tally::query::fleet {

using Command = std::vector<std::string>;
using redis::Reply;

/// Why a read could not be answered. `connection_lost`: the connection is unusable (an
/// I/O error or timeout: a reply may still be on its way, so it must not be reused);
/// otherwise Redis answered, with an error or a reply of an unexpected shape.
struct ReadFailure : std::runtime_error {
    ReadFailure(const std::string& what, bool lost)
        : std::runtime_error(what), connection_lost(lost) {}
    bool connection_lost;
};

/// Sends `commands` in one write and reads their replies in order (one round trip).
std::vector<Reply> round_trip(redisContext* context, const std::vector<Command>& commands);
/// Runs `commands` as one MULTI/EXEC (one round trip) and returns EXEC's reply: an array
/// of their replies, in order, all from the same moment.
Reply transaction(redisContext* context, const std::vector<Command>& commands);
/// A Redis error reply as a failed read; any other reply passes.
const redisReply* checked(const redisReply* reply);
std::string_view text_of(const redisReply* reply);
const redisReply* array_of(const redisReply* reply);
/// A counter: an integer reply, or an integer string (GET, HGETALL values); a missing key
/// (nil) is 0, as a day the local store never saw.
std::uint64_t count_of(const redisReply* reply);
/// A sorted-set score. The mirror only ZINCRBYs whole numbers, exact in a double up to
/// 2^53; anything else is rounded.
std::uint64_t score_of(std::string_view text);
/// A [member, score, ...] reply as a ranked list, in the reply's order.
query::Ranked ranked_of(const redisReply* reply);

/// Calls f(field, value) for each pair of a flat [k1, v1, k2, v2, ...] array (HGETALL,
/// ZREVRANGE/ZUNION ... WITHSCORES).
template <typename F>
void for_each_pair(const redisReply* reply, F f) {
    array_of(reply);
    for (std::size_t i = 0; i + 1 < reply->elements; i += 2)
        f(text_of(reply->element[i]), reply->element[i + 1]);
}

}  // namespace tally::query::fleet
