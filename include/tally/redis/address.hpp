#pragma once
// Where Redis is: the redis://HOST:PORT[/DB] URL of --redis (and of redis.url in the
// configuration file), parsed in one place. The configuration checks it at start-up, so a
// bad URL is a one-line error naming the key; the mirror and the fleet reader then connect
// to the address it gave (link.hpp).

#include <optional>
#include <string>
#include <string_view>

namespace tally::redis {

/// redis://HOST:PORT[/DB]: the port defaults to 6379, the database to 0.
struct RedisAddress {
    std::string host;
    int port = 6379;
    int db = 0;
};

/// nullopt when `url` is not of that form: another scheme, no host, a port outside
/// 1..65535, or a database that is not a number in 0..1,000,000.
std::optional<RedisAddress> parse_redis_url(std::string_view url);

}  // namespace tally::redis
