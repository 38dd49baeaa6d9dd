#include "support/redis_server.hpp"

#include <cstdarg>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace tally::test {

namespace {

constexpr auto kStartTimeout = std::chrono::seconds(10);
constexpr int kStartAttempts = 3;

std::string redis_server_path() {
    return find_program("redis-server");
}

timeval to_timeval(std::chrono::milliseconds d) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(d.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((d.count() % 1000) * 1000);
    return tv;
}

// hiredis takes argv/argvlen arrays; these are views into the caller's strings.
struct Argv {
    std::vector<const char*> ptrs;
    std::vector<std::size_t> lens;
    explicit Argv(const std::vector<std::string_view>& args) {
        ptrs.reserve(args.size());
        lens.reserve(args.size());
        for (auto a : args) {
            ptrs.push_back(a.data());
            lens.push_back(a.size());
        }
    }
};

[[noreturn]] void throw_io_error(const redisContext* c, const char* what) {
    throw std::runtime_error(std::string("redis ") + what + ": " +
                             (c ? c->errstr : "no connection"));
}

}  // namespace

bool RedisServer::available() {
    return !redis_server_path().empty();
}

RedisServer::RedisServer(std::vector<std::string> extra_args)
    : extra_args_(std::move(extra_args)), log_path_(dir_.path() + "/redis.log") {
    if (!available())
        throw std::runtime_error("redis-server not found");
    launch_on_free_port(kStartAttempts, [this](int port) {
        port_ = port;
        try {
            launch();
        } catch (...) {
            process_.reset();
            throw;
        }
    });
}

RedisServer::~RedisServer() {
    context_.reset();
    process_.reset();  // SIGKILL and reap
}

void RedisServer::launch() {
    std::vector<std::string> argv = {redis_server_path(),
                                     "--port",
                                     std::to_string(port_),
                                     "--bind",
                                     host_,
                                     "--save",
                                     "",
                                     "--appendonly",
                                     "no",
                                     "--dir",
                                     dir_.path(),
                                     "--logfile",
                                     ""};  // to stdout, i.e. log_path_
    argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
    process_.emplace(std::move(argv), log_path_);

    // Ready means answering PING, not merely accepting: Redis loading an AOF accepts
    // connections but replies -LOADING.
    const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (!process_->running()) {
            throw std::runtime_error("redis-server exited at start; log:\n" + log());
        }
        RedisContext c(redisConnectWithTimeout(host_.c_str(), port_,
                                               to_timeval(std::chrono::milliseconds(200))));
        if (c && c->err == 0) {
            RedisReply pong(static_cast<redisReply*>(redisCommand(c.get(), "PING")));
            if (pong && pong->type == REDIS_REPLY_STATUS && reply_string(pong.get()) == "PONG") {
                context_ = std::move(c);
                return;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw std::runtime_error("redis-server did not answer PING; log:\n" + log());
}

std::string RedisServer::log() const {
    std::ifstream in(log_path_);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

RedisReply RedisServer::command(const char* format, ...) {
    if (!context_)
        throw_io_error(nullptr, "command");
    va_list ap;
    va_start(ap, format);
    RedisReply reply(static_cast<redisReply*>(redisvCommand(context_.get(), format, ap)));
    va_end(ap);
    if (!reply)
        throw_io_error(context_.get(), "command");
    return reply;
}

RedisReply RedisServer::command_argv(const std::vector<std::string_view>& args) {
    if (!context_)
        throw_io_error(nullptr, "command");
    Argv argv(args);
    RedisReply reply(static_cast<redisReply*>(redisCommandArgv(
        context_.get(), static_cast<int>(args.size()), argv.ptrs.data(), argv.lens.data())));
    if (!reply)
        throw_io_error(context_.get(), "command");
    return reply;
}

void RedisServer::append_argv(const std::vector<std::string_view>& args) {
    if (!context_)
        throw_io_error(nullptr, "append");
    Argv argv(args);
    if (redisAppendCommandArgv(context_.get(), static_cast<int>(args.size()), argv.ptrs.data(),
                               argv.lens.data()) != REDIS_OK) {
        throw_io_error(context_.get(), "append");
    }
}

RedisReply RedisServer::get_reply() {
    if (!context_)
        throw_io_error(nullptr, "reply");
    void* raw = nullptr;
    if (redisGetReply(context_.get(), &raw) != REDIS_OK || raw == nullptr) {
        throw_io_error(context_.get(), "reply");
    }
    return RedisReply(static_cast<redisReply*>(raw));
}

RedisContext RedisServer::connect(std::chrono::milliseconds timeout) const {
    RedisContext c(redisConnectWithTimeout(host_.c_str(), port_, to_timeval(timeout)));
    if (!c || c->err)
        throw_io_error(c.get(), "connect");
    return c;
}

void RedisServer::stop() {
    context_.reset();
    process_.reset();
}

void RedisServer::start() {
    if (process_ && process_->running())
        return;
    process_.reset();
    launch();
}

bool RedisServer::running() {
    return process_ && process_->running();
}

long long reply_integer(const redisReply* reply) {
    if (!reply || reply->type != REDIS_REPLY_INTEGER) {
        throw std::runtime_error("expected an integer reply, got type " +
                                 std::to_string(reply ? reply->type : -1));
    }
    return reply->integer;
}

std::string reply_string(const redisReply* reply) {
    if (reply && (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS ||
                  reply->type == REDIS_REPLY_ERROR)) {
        return std::string(reply->str, reply->len);
    }
    throw std::runtime_error("expected a string reply, got type " +
                             std::to_string(reply ? reply->type : -1));
}

}  // namespace tally::test
