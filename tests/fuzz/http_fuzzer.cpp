// Fuzzes the whole HTTP surface: the bytes are what a client sends on one keep-alive
// connection, one or more pipelined HTTP/1.x requests. Each is parsed by Beast's request
// parser as a session parses it, turned into a Request by the session's own conversion
// (src/http/beast_request.hpp), and answered by the router with every API tallyd serves,
// wired as App wires them: a Store, an open EventLog and a RejectsLog in a temporary data
// dir, the VisitorHasher, the metrics, the write path, the authorization step and the
// dashboard's files. Only the /ws upgrade is left out (it leaves HTTP).
//
// A failure is a crash or sanitizer report, a Handler that throws (the server would
// answer 500), an answer of 500 or more, a request answered other than exactly once
// before the router returns (no route waits here: the log does not fsync per request),
// or an answer announced as JSON whose body does not parse.
//
// The state persists from one input to the next, as a daemon's does; it is rebuilt from
// scratch every kRequestsPerState requests, so that the logs on disk and the store stay
// small over millions of runs. A failure that needs earlier inputs' state may therefore
// not reproduce from its input alone.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include <boost/beast/http/error.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <nlohmann/json.hpp>

#include "beast_request.hpp"
#include "tally/api/authorization.hpp"
#include "tally/api/metrics_api.hpp"
#include "tally/api/ops_api.hpp"
#include "tally/api/read_api.hpp"
#include "tally/api/static_files.hpp"
#include "tally/api/track_api.hpp"
#include "tally/durability/event_log.hpp"
#include "tally/durability/rejects_log.hpp"
#include "tally/http/router.hpp"
#include "tally/http/server.hpp"
#include "tally/ingest/visitor_hash.hpp"
#include "tally/live/hub.hpp"
#include "tally/store/store.hpp"
#include "tally/telemetry/metrics.hpp"
#include "tally/write/write_path.hpp"

namespace {

namespace fs = std::filesystem;
namespace bh = boost::beast::http;
using namespace tally;

#define CHECK_ANSWER(condition, request, response)                                                 \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #condition); \
            report(request, response);                                                             \
            std::abort();                                                                          \
        }                                                                                          \
    } while (false)

// What the configuration would say; the token and small caps let the fuzzer reach the
// 401s and 429s too (seeds and the dictionary carry the token).
constexpr std::string_view kToken = "fuzz-token";
constexpr std::string_view kPeer = "127.0.0.1";  // a trusted proxy: X-Forwarded-For counts
constexpr std::size_t kWorkers = 1;
constexpr std::size_t kShards = kWorkers + 1;  // as App: the last shard is --demo's
constexpr std::size_t kRequestsPerState = 50'000;

void report(const http::Request& request, const http::Response* response) {
    std::fprintf(stderr, "request: %.*s %.*s\n", static_cast<int>(request.method_text.size()),
                 request.method_text.data(), static_cast<int>(request.target.size()),
                 request.target.data());
    if (response != nullptr) {
        std::fprintf(stderr, "answer: %u %.*s\n", response->status,
                     static_cast<int>(std::min<std::size_t>(response->body.size(), 2000)),
                     response->body.data());
    }
}

/// tallyd's parts, as App::build_state, App::add_routes and App::register_metrics wire
/// them, in a data dir of their own.
struct Daemon {
    explicit Daemon(const fs::path& data)
        : hasher(data / "salts"),
          store(store::StoreOptions{kShards, 32, 32, 10'000}),
          log(durability::EventLogOptions{data / "log", kShards, durability::FsyncMode::never,
                                          std::chrono::milliseconds(100), 64ull << 20}),
          engine(metrics::EngineOptions{kShards, {64, 16}, 30}),
          rejects(durability::RejectsLogOptions{data / "rejects", 16ull << 20, 30}),
          metrics(kShards),
          write_path(store, log, metrics, engine, derivations),
          authorization(std::string(kToken)),
          hub(store, live::HubOptions{}),
          track(api::TrackApiOptions{{std::string(kPeer)}, {"https://shop.example"}, kWorkers},
                hasher, write_path, rejects, metrics),
          read(authorization, store),
          ops(authorization, ready, log, metrics, nullptr, nullptr),
          metrics_api(kWorkers, authorization, write_path, engine),
          static_files(TALLY_SOURCE_DIR "/web") {
        // What recovery ends with (Persistence::recover): the log open for appends, the
        // shards told where it ends.
        log.open();
        for (std::size_t i = 0; i < kShards; ++i)
            store.set_log_position(i, log.end_position(i));
        ready.store(true);

        track.add_routes(router);
        read.add_routes(router);
        ops.add_routes(router);
        metrics_api.add_routes(router);
        static_files.add_routes(router);

        metrics.set_routes(router.route_names());
        router.set_observer([this](const http::Request& r, std::size_t route, unsigned status,
                                   std::chrono::nanoseconds latency) {
            metrics.count_request(r.worker, route, status, latency);
        });
        server_stats.register_metrics(metrics);
        log.register_metrics(metrics);
        hub.register_metrics(metrics);
        store.register_metrics(metrics);
        engine.register_metrics(metrics);
        metrics_api.register_metrics(metrics);
    }
    ~Daemon() { log.close(); }
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    ingest::VisitorHasher hasher;
    store::Store store;
    durability::EventLog log;
    metrics::Engine engine;
    metrics::Derivations derivations;
    durability::RejectsLog rejects;
    telemetry::Metrics metrics;
    write::WritePath write_path;
    std::atomic<bool> ready{false};
    api::Authorization authorization;
    live::Hub hub;  // not started: its metrics only
    api::TrackApi track;
    api::ReadApi read;
    api::OpsApi ops;
    api::MetricsApi metrics_api;
    api::StaticFiles static_files;
    http::Router router;
    http::ServerStats server_stats;
};

/// A private data dir, removed with it.
class DataDir {
  public:
    DataDir() {
        std::string pattern = (fs::temp_directory_path() / "tally-fuzz-http-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr)
            std::abort();
        path_ = pattern;
    }
    ~DataDir() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    DataDir(const DataDir&) = delete;
    DataDir& operator=(const DataDir&) = delete;
    const fs::path& path() const { return path_; }

  private:
    fs::path path_;
};

/// The daemon of this process, rebuilt in a new data dir every kRequestsPerState requests.
class Instance {
  public:
    Daemon& daemon() {
        if (!daemon_ || requests_ >= kRequestsPerState) {
            daemon_.reset();
            dir_.reset();
            dir_ = std::make_unique<DataDir>();
            daemon_ = std::make_unique<Daemon>(dir_->path());
            requests_ = 0;
        }
        ++requests_;
        return *daemon_;
    }

  private:
    std::unique_ptr<DataDir> dir_;
    std::unique_ptr<Daemon> daemon_;  // after dir_: destroyed first
    std::size_t requests_ = 0;
};

Instance& instance() {
    static Instance one;
    return one;
}

struct Answer {
    int replies = 0;
    http::Response response;
};

void record(void* answer, http::Response&& response) {
    auto* a = static_cast<Answer*>(answer);
    ++a->replies;
    a->response = std::move(response);
}

/// Routes one request and checks its answer.
void answer(const http::Request& request) {
    Daemon& daemon = instance().daemon();
    Answer answer;
    try {
        daemon.router.handle(request, http::Reply(&record, &answer));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "the handler threw (the server answers 500): %s\n", e.what());
        report(request, nullptr);
        std::abort();
    } catch (...) {
        std::fprintf(stderr, "the handler threw (the server answers 500)\n");
        report(request, nullptr);
        std::abort();
    }
    const http::Response& response = answer.response;
    // TALLY_FUZZ_VERBOSE=1: every request and its answer, to see what the seeds reach.
    static const bool verbose = std::getenv("TALLY_FUZZ_VERBOSE") != nullptr;
    if (verbose)
        report(request, &response);
    CHECK_ANSWER(answer.replies == 1, request, &response);
    CHECK_ANSWER(response.status >= 100 && response.status < 500, request, &response);
    if (response.content_type.empty() && response.status != 204) {
        CHECK_ANSWER(nlohmann::json::accept(response.body), request, &response);
    }
}

/// Parses one request from the front of `bytes`, as a session reads it, and answers it.
/// Returns the bytes it used, or nullopt when the connection ends there (a parse error,
/// which the server answers 400, 413 or 431 and closes; a request cut short; a WebSocket
/// upgrade; a request that asked to close).
std::optional<std::size_t> one_request(std::string_view bytes) {
    const http::ServerOptions options;  // the server's limits
    http::field_arena arena;
    http::request_parser parser(std::piecewise_construct, std::make_tuple(),
                                std::make_tuple(http::arena_allocator<char>(&arena)));
    parser.header_limit(static_cast<std::uint32_t>(options.header_limit));
    // The session sets the body limit by path once the header is read; any fuzz input is
    // under the largest.
    parser.body_limit(options.large_body_limit);
    boost::beast::error_code ec;
    std::size_t used = 0;
    while (!parser.is_done()) {
        const std::size_t n =
            parser.put(boost::asio::const_buffer(bytes.data() + used, bytes.size() - used), ec);
        used += n;
        if (ec == bh::error::need_more)
            ec = {};
        if (ec)
            return std::nullopt;
        if (n == 0) {
            // All that was sent: the client has closed its side.
            parser.put_eof(ec);
            if (ec || !parser.is_done())
                return std::nullopt;
        }
    }
    const auto& message = parser.get();
    http::Request request;
    http::to_request(message, request);
    request.client_ip = kPeer;
    request.worker = 0;
    if (request.path == "/ws" && boost::beast::websocket::is_upgrade(message))
        return std::nullopt;
    answer(request);
    if (!request.keep_alive)
        return std::nullopt;
    return used;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view bytes(reinterpret_cast<const char*>(data), size);
    while (!bytes.empty()) {
        const auto used = one_request(bytes);
        if (!used || *used == 0)
            break;
        bytes.remove_prefix(*used);
    }
    return 0;
}
