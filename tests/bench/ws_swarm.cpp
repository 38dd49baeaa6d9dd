// ws_swarm: many live dashboards at once, for the /ws benchmark (not a test).
//
// Connects `--clients` WebSocket dashboards to tallyd's /ws (Beast, `--threads` io_context
// threads, at most 256 handshakes in flight), waits for each one's snapshot, prints
// "ready", then for `--seconds` sends marked events and times, at every client, how long
// each takes to come back in a frame.
//
// Marks. A mark is a custom event named swarm_mark_<i> (i cycles over kMarkNames names, so
// the day gains only that many event names), posted on one keep-alive HTTP connection
// `--marks` times a second. Every delta that carries it names it in its `events`
// increments, whatever else the batch held; `recent` keeps only the newest 50 events of a
// batch, which at 20k events/s would lose most marks. The latency of a mark at a client is
// from just before its POST is written to the moment the client has read the whole frame
// that brings it: HTTP parsing, logging, the batch wait, frame building and delivery. A
// client resynchronised after lagging gets the marks it missed in a snapshot's totals;
// they are timed too (and the resyncs counted).
//
// Prints one line of figures: clients, frames, bytes, resyncs, drops, latency p50/p99/max.
//
//   ws_swarm --port P [--clients 1000] [--threads 2] [--seconds 10] [--marks 20]
//            [--site default]

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMarkNames = 100;
constexpr std::string_view kMarkPrefix = "\"swarm_mark_";
constexpr int kMaxHandshakes = 256;

struct Options {
    int port = 8080;
    int clients = 1000;
    int threads = 2;
    double seconds = 10;
    double marks = 20;
    std::string site = "default";
};

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
        .count();
}

/// What every client shares: when each mark was sent, and the counters.
struct Shared {
    std::array<std::atomic<std::int64_t>, kMarkNames> sent_ns{};  // 0: not sent yet
    std::atomic<int> connected{0};
    std::atomic<int> ready{0};  // got its snapshot
    std::atomic<int> failed{0};
    std::atomic<int> closed{0};
    std::atomic<bool> measuring{false};
};

/// One io_context thread's clients' results (no sharing on the hot path).
struct ThreadStats {
    std::vector<std::uint32_t> latency_us;
    std::uint64_t frames = 0;
    std::uint64_t bytes = 0;
    std::uint64_t snapshots = 0;
};

class Dashboard : public std::enable_shared_from_this<Dashboard> {
  public:
    Dashboard(net::io_context& ioc, Shared& shared, ThreadStats& stats, const Options& options,
              std::function<void()> on_handshake_done)
        : ws_(ioc),
          shared_(shared),
          stats_(stats),
          options_(options),
          on_handshake_done_(std::move(on_handshake_done)) {}

    void start(const tcp::endpoint& endpoint) {
        beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(30));
        beast::get_lowest_layer(ws_).async_connect(
            endpoint, [self = shared_from_this()](beast::error_code ec) { self->on_connect(ec); });
    }

  private:
    void on_connect(beast::error_code ec) {
        if (ec)
            return fail();
        beast::get_lowest_layer(ws_).expires_never();
        websocket::stream_base::timeout timeout{};
        timeout.handshake_timeout = std::chrono::seconds(30);
        timeout.idle_timeout = websocket::stream_base::none();
        timeout.keep_alive_pings = false;
        ws_.set_option(timeout);
        ws_.read_message_max(64 << 20);
        ws_.async_handshake(
            "127.0.0.1:" + std::to_string(options_.port), "/ws?site=" + options_.site,
            [self = shared_from_this()](beast::error_code e) { self->on_handshake(e); });
    }

    void on_handshake(beast::error_code ec) {
        on_handshake_done_();
        if (ec)
            return fail();
        shared_.connected.fetch_add(1, std::memory_order_relaxed);
        do_read();
    }

    void do_read() {
        ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t n) {
            self->on_read(ec, n);
        });
    }

    void on_read(beast::error_code ec, std::size_t bytes) {
        if (ec) {
            shared_.closed.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        const std::int64_t arrived = now_ns();
        const auto data = buffer_.cdata();
        const std::string_view frame(static_cast<const char*>(data.data()), data.size());
        ++stats_.frames;
        stats_.bytes += bytes;
        const bool snapshot = frame.starts_with(R"({"type":"snapshot")");
        const bool first = snapshot && !got_snapshot_;
        if (first) {
            got_snapshot_ = true;
            shared_.ready.fetch_add(1, std::memory_order_relaxed);
        } else if (snapshot) {
            ++stats_.snapshots;  // resynchronised after lagging
        }
        // The marks' counts, in a delta's "events" increments or a snapshot's totals
        // ({"name":n,...}, no nested braces; the feed, which names some marks again, is
        // left out). A mark has arrived when its count grows, in a delta or in the snapshot
        // that resynchronises a lagging client; it is timed from the latest send of its name.
        std::string_view events;
        if (const std::size_t from = frame.find(R"("events":{)"); from != frame.npos)
            events = frame.substr(from, frame.find('}', from) - from);
        const bool measuring = shared_.measuring.load(std::memory_order_relaxed);
        for (std::size_t at = events.find(kMarkPrefix); at != std::string_view::npos;
             at = events.find(kMarkPrefix, at + 1)) {
            std::size_t p = at + kMarkPrefix.size();
            const std::size_t i = digits(events, p) % kMarkNames;
            p += 2;  // ":
            const std::uint64_t n = digits(events, p);
            const std::uint64_t had = seen_[i];
            seen_[i] = snapshot ? n : had + n;
            if (first || seen_[i] <= had || !measuring)
                continue;
            const std::int64_t sent = shared_.sent_ns[i].load(std::memory_order_relaxed);
            if (sent != 0 && arrived > sent)
                stats_.latency_us.push_back(static_cast<std::uint32_t>((arrived - sent) / 1000));
        }
        buffer_.consume(buffer_.size());
        do_read();
    }

    void fail() { shared_.failed.fetch_add(1, std::memory_order_relaxed); }

    /// The number written at `text[p]` (0 when none); `p` moves past it.
    static std::uint64_t digits(std::string_view text, std::size_t& p) {
        std::uint64_t n = 0;
        for (; p < text.size() && text[p] >= '0' && text[p] <= '9'; ++p)
            n = n * 10 + static_cast<std::uint64_t>(text[p] - '0');
        return n;
    }

    websocket::stream<beast::tcp_stream> ws_;
    beast::flat_buffer buffer_;
    Shared& shared_;
    ThreadStats& stats_;
    const Options& options_;
    std::function<void()> on_handshake_done_;
    bool got_snapshot_ = false;
    std::array<std::uint64_t, kMarkNames>
        seen_{};  // each mark name's count, as this client holds it
};

/// Blocking keep-alive HTTP client for the marks (one request in flight).
class MarkSender {
  public:
    MarkSender(net::io_context& ioc, const tcp::endpoint& endpoint) : socket_(ioc) {
        socket_.connect(endpoint);
        socket_.set_option(tcp::no_delay(true));
    }

    /// Posts mark `i`; returns false when the answer was not 200.
    bool send(std::size_t i, Shared& shared) {
        const std::string body = R"({"event_name":"swarm_mark_)" + std::to_string(i) +
                                 R"(","session_id":"swarm-marks"})";
        const std::string request =
            "POST /track/event HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body;
        shared.sent_ns[i].store(now_ns(), std::memory_order_relaxed);
        net::write(socket_, net::buffer(request));
        // Read one answer: headers, then Content-Length bytes.
        std::string in;
        std::array<char, 4096> chunk{};
        for (;;) {
            const std::size_t n = socket_.read_some(net::buffer(chunk));
            in.append(chunk.data(), n);
            const std::size_t end = in.find("\r\n\r\n");
            if (end == std::string::npos)
                continue;
            const std::size_t cl = in.find("Content-Length: ");
            const std::size_t length =
                cl == std::string::npos ? 0 : std::strtoul(in.c_str() + cl + 16, nullptr, 10);
            while (in.size() < end + 4 + length) {
                const std::size_t m = socket_.read_some(net::buffer(chunk));
                in.append(chunk.data(), m);
            }
            return in.starts_with("HTTP/1.1 200");
        }
    }

  private:
    tcp::socket socket_;
};

std::uint32_t percentile(const std::vector<std::uint32_t>& sorted, double p) {
    if (sorted.empty())
        return 0;
    const auto index = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1));
    return sorted[index];
}

/// A flag's number, or nullopt when `text` is not one whole number.
template <typename T>
std::optional<T> number(std::string_view text) {
    T value{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size())
        return std::nullopt;
    return value;
}

std::optional<Options> parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        const std::string_view value = argv[i + 1];
        bool ok = true;
        auto set = [&ok, value](auto& field) {
            auto n = number<std::remove_reference_t<decltype(field)>>(value);
            ok = n.has_value();
            if (n)
                field = *n;
        };
        if (flag == "--port")
            set(o.port);
        else if (flag == "--clients")
            set(o.clients);
        else if (flag == "--threads")
            set(o.threads);
        else if (flag == "--seconds")
            set(o.seconds);
        else if (flag == "--marks")
            set(o.marks);
        else if (flag == "--site")
            o.site = value;
        else
            ok = false;
        if (!ok || o.threads < 1 || o.marks <= 0) {
            std::fprintf(stderr, "ws_swarm: bad flag or value: %s %s\n", argv[i], argv[i + 1]);
            return std::nullopt;
        }
    }
    return o;
}

}  // namespace

namespace {

int run(const Options& options) {
    // One descriptor per dashboard: raise the soft limit to the hard one.
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
    if (static_cast<rlim_t>(options.clients) + 64 > limit.rlim_cur) {
        std::fprintf(stderr, "ws_swarm: RLIMIT_NOFILE %llu is too low for %d clients\n",
                     static_cast<unsigned long long>(limit.rlim_cur), options.clients);
        return 2;
    }

    const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"),
                                 static_cast<unsigned short>(options.port));
    Shared shared;
    const auto n_threads = static_cast<std::size_t>(options.threads);
    std::vector<std::unique_ptr<net::io_context>> contexts;
    std::vector<ThreadStats> stats(n_threads);
    contexts.reserve(n_threads);
    for (std::size_t t = 0; t < n_threads; ++t)
        contexts.push_back(std::make_unique<net::io_context>(1));
    std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
    guards.reserve(n_threads);
    for (auto& ioc : contexts)
        guards.push_back(net::make_work_guard(*ioc));
    std::vector<std::thread> threads;
    threads.reserve(n_threads);
    for (auto& ioc : contexts)
        threads.emplace_back([&ioc] { ioc->run(); });

    // Connect, at most kMaxHandshakes in flight so the listen backlog never overflows.
    const auto connect_started = Clock::now();
    {
        std::mutex mutex;
        std::condition_variable cv;
        int in_flight = 0;
        auto done = [&] {
            std::lock_guard lock(mutex);
            --in_flight;
            cv.notify_one();
        };
        for (int i = 0; i < options.clients; ++i) {
            {
                std::unique_lock lock(mutex);
                cv.wait(lock, [&] { return in_flight < kMaxHandshakes; });
                ++in_flight;
            }
            const auto t = static_cast<std::size_t>(i % options.threads);
            std::make_shared<Dashboard>(*contexts[t], shared, stats[t], options, done)
                ->start(endpoint);
        }
        std::unique_lock lock(mutex);
        cv.wait(lock, [&] { return in_flight == 0; });
    }
    // Every snapshot in (or 30 s).
    for (int i = 0; i < 300 && shared.ready.load() < shared.connected.load(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const double connect_s = std::chrono::duration<double>(Clock::now() - connect_started).count();
    std::printf("ready clients=%d failed=%d connect_s=%.1f\n", shared.connected.load(),
                shared.failed.load(), connect_s);
    std::fflush(stdout);

    // Marks, paced, for the measurement.
    std::uint64_t marks_sent = 0, marks_failed = 0;
    {
        net::io_context ioc;
        MarkSender sender(ioc, endpoint);
        shared.measuring.store(true);
        const auto start = Clock::now();
        const auto end = start + std::chrono::duration<double>(options.seconds);
        const auto gap = std::chrono::duration<double>(1.0 / options.marks);
        auto next = start;
        while (Clock::now() < end) {
            if (!sender.send(marks_sent % kMarkNames, shared))
                ++marks_failed;
            ++marks_sent;
            next += std::chrono::duration_cast<Clock::duration>(gap);
            std::this_thread::sleep_until(next);
        }
        // The last marks' frames.
        std::this_thread::sleep_for(std::chrono::seconds(1));
        shared.measuring.store(false);
    }

    for (auto& ioc : contexts)
        ioc->stop();
    for (auto& t : threads)
        t.join();

    std::vector<std::uint32_t> all;
    std::uint64_t frames = 0, bytes = 0, snapshots = 0;
    for (const ThreadStats& s : stats) {
        all.insert(all.end(), s.latency_us.begin(), s.latency_us.end());
        frames += s.frames;
        bytes += s.bytes;
        snapshots += s.snapshots;
    }
    std::sort(all.begin(), all.end());
    const double expected =
        static_cast<double>(marks_sent) * static_cast<double>(shared.connected.load());
    std::printf(
        "clients=%d closed=%d marks=%llu marks_failed=%llu samples=%zu (%.1f%% of marks x "
        "clients) frames=%llu MB=%.0f resyncs=%llu p50_ms=%.1f p99_ms=%.1f max_ms=%.1f\n",
        shared.connected.load(), shared.closed.load(), static_cast<unsigned long long>(marks_sent),
        static_cast<unsigned long long>(marks_failed), all.size(),
        expected > 0 ? 100.0 * static_cast<double>(all.size()) / expected : 0.0,
        static_cast<unsigned long long>(frames), static_cast<double>(bytes) / 1e6,
        static_cast<unsigned long long>(snapshots), percentile(all, 0.50) / 1000.0,
        percentile(all, 0.99) / 1000.0, all.empty() ? 0.0 : all.back() / 1000.0);
    // The dashboards' sockets close with the process; no need to say goodbye to 10,000.
    std::fflush(stdout);
    std::_Exit(0);
}

}  // namespace

int main(int argc, char** argv) {
    const std::optional<Options> options = parse(argc, argv);
    if (!options)
        return 2;
    try {
        return run(*options);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ws_swarm: %s\n", e.what());
        return 1;
    }
}
