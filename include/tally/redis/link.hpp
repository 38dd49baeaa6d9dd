#pragma once
// What the mirror (mirror/mirror.hpp) and the fleet reader (query/fleet_reader.hpp) share
// of hiredis: owning handles for its context and replies, and one way of opening a connection.
// Commands then go through a Pipeline (pipeline.hpp).
//
// Both keep one blocking connection on a thread of their own, so both want the same
// things of it: a connect timeout, a timeout on every later command (a stalled Redis must
// not hold the thread for ever), TCP keep-alive, the database of the redis:// URL, and a
// first round trip before the connection counts as up: a server that accepts connections
// but cannot answer yet (loading its AOF, "-LOADING") is not up.

#include <chrono>
#include <memory>
#include <string>

#include "tally/redis/address.hpp"

struct redisContext;
struct redisReply;

namespace tally::redis {

struct ContextDeleter {
    void operator()(redisContext* context) const;
};
using Context = std::unique_ptr<redisContext, ContextDeleter>;

struct ReplyDeleter {
    void operator()(redisReply* reply) const;
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

/// Connects to `address` within `connect_timeout`, gives every later command
/// `command_timeout`, turns keep-alive on, and SELECTs the URL's database (PING for
/// database 0). Null, with the reason in `error`, when any of it fails.
Context open(const RedisAddress& address, std::chrono::milliseconds connect_timeout,
             std::chrono::milliseconds command_timeout, std::string& error);

}  // namespace tally::redis
