#pragma once
// A real redis-server for tests: started on a free loopback port in its own temporary
// directory, ready (answering PING) when the constructor returns, and killed with the
// object, even when the test fails.
//
//   if (!tally::test::RedisServer::available()) GTEST_SKIP() << "redis-server not installed";
//   tally::test::RedisServer redis;  // or RedisServer({"--appendonly", "yes"})
//   auto reply = redis.command("PFADD %s %b", "key", data, size);
//
// Persistence is off by default (--save "" --appendonly no), so nothing is written unless
// the extra arguments ask for it; with --appendonly yes, stop() and start() keep the data
// (same directory, same port), which is how "Redis went down and came back" is tested.

#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/process.hpp"

namespace tally::test {

struct RedisReplyDeleter {
    void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using RedisReply = std::unique_ptr<redisReply, RedisReplyDeleter>;

struct RedisContextDeleter {
    void operator()(redisContext* context) const { redisFree(context); }
};
using RedisContext = std::unique_ptr<redisContext, RedisContextDeleter>;

class RedisServer {
  public:
    /// True when a redis-server binary can be found (tests skip otherwise).
    static bool available();

    /// Starts redis-server with the defaults above plus `extra_args` (which come last, so
    /// they may override a default, e.g. {"--appendonly", "yes"}). Throws
    /// std::runtime_error, with the server's log, if it does not answer PING in time.
    explicit RedisServer(std::vector<std::string> extra_args = {});
    ~RedisServer();
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    const std::string& host() const { return host_; }
    int port() const { return port_; }
    /// The server's working directory (AOF/RDB files land here); removed with the object.
    const std::string& dir() const { return dir_.path(); }
    /// The server's stdout/stderr (its log).
    std::string log() const;

    /// The shared connection, opened by the constructor and by start(). Null while stopped.
    redisContext* context() { return context_.get(); }

    /// One command on the shared connection, hiredis format (%s, %b binary-safe, %d...).
    /// Throws std::runtime_error on a connection error; a Redis error reply is returned
    /// as a reply of type REDIS_REPLY_ERROR.
    RedisReply command(const char* format, ...);
    /// One command from whole arguments (binary-safe).
    RedisReply command_argv(const std::vector<std::string_view>& args);

    /// Pipelining on the shared connection: queue commands, then read their replies in
    /// order with get_reply() (the first get_reply() sends the whole queue).
    void append_argv(const std::vector<std::string_view>& args);
    RedisReply get_reply();

    /// A new, independent connection (e.g. a second client, or a subscriber).
    RedisContext connect(std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;

    /// Kills the server (SIGKILL, as a crash would) and drops the shared connection.
    void stop();
    /// Starts it again on the same port and directory, and reconnects. No-op if running.
    void start();
    bool running();

  private:
    void launch();

    std::string host_ = "127.0.0.1";
    int port_ = 0;
    std::vector<std::string> extra_args_;
    TempDir dir_;
    std::string log_path_;
    std::optional<Process> process_;
    RedisContext context_;
};

/// Reply helpers for test assertions: the integer of an INTEGER reply, the bytes of a
/// STRING/STATUS/ERROR reply. They throw std::runtime_error on another reply type.
long long reply_integer(const redisReply* reply);
std::string reply_string(const redisReply* reply);

}  // namespace tally::test
