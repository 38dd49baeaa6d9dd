// loadgen: a small HTTP/1.1 load generator for tallyd's benchmarks (not a test).
//
// One thread, epoll, N keep-alive connections to 127.0.0.1, one request in flight per
// connection. Bodies are realistic and varied: Zipf-distributed pages over 500 paths,
// 100k sessions, 50k users (--users), referrers, countries, user agents; pre-generated so the
// generator's own cost stays out of the measurement. Optionally throttled to a total rate
// (for "p99 at half the peak"): --rate counts requests, --event-rate counts events (a
// batch request carries --batch-size of them, so --event-rate 100000 --batch-size 1000 is
// 100 requests/s). Events are counted as the server accepted them: 1 per 200 for a page
// view, the answer's "accepted" for a batch. Prints one line of figures.
//
//   loadgen --port P [--mode pageview|plausible|batch|dashboard] [--connections 64] [--seconds 10]
//           [--rate R | --event-rate E] [--batch-size 1000] [--batch-pool 16] [--users 50000]
//           [--path /track/pageview]

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "zipf.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    int port = 8080;
    std::string mode = "pageview";
    std::string path;
    int connections = 64;
    double seconds = 10;
    double rate = 0;        // total requests/s, 0 = as fast as possible
    double event_rate = 0;  // total events/s (sets `rate` from the events per request)
    int batch_size = 1000;
    int batch_pool = 16;  // distinct batch bodies, sent round-robin
    int users = 50'000;   // distinct user ids the events are spread over
};

/// Realistic events: a Zipf page popularity, returning users, a few referrers.
class EventMaker {
  public:
    EventMaker(unsigned seed, int users) : rng_(seed), zipf_(500), users_(users) {}

    std::string pageview_fields() {
        static const char* kReferrers[] = {"",
                                           "https://www.google.com/search?q=tally",
                                           "https://news.ycombinator.com/",
                                           "https://twitter.com/x",
                                           "https://duckduckgo.com/",
                                           ""};
        static const char* kCountries[] = {"US", "DE", "FR", "GB", "IN",
                                           "BR", "JP", "NL", "CA", "SE"};
        static const char* kAgents[] = {
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 "
            "Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
            "Mobile/15E148",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Version/17.0 "
            "Safari/605.1.15",
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile "
            "Safari/537.36",
            "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"};
        const int user = static_cast<int>(rng_() % static_cast<unsigned>(users_));
        std::string s = R"("page_url":"https://shop.example.com/p/)" + std::to_string(zipf()) +
                        R"(?utm_source=x",)";
        s += R"("session_id":"sess-)" + std::to_string(user * 3 + static_cast<int>(rng_() % 3)) +
             R"(",)";
        s += R"("user_id":"user-)" + std::to_string(user) + R"(",)";
        const char* ref = kReferrers[rng_() % 6];
        if (*ref)
            s += R"("referrer":")" + std::string(ref) + R"(",)";
        s += R"("country":")" + std::string(kCountries[rng_() % 10]) + R"(",)";
        s += R"("user_agent":")" + std::string(kAgents[rng_() % 5]) + R"(")";
        return s;
    }
    std::string pageview() { return "{" + pageview_fields() + "}"; }
    /// A Plausible tracker's page view (POST /api/event), the same pages and referrers.
    std::string plausible() {
        static const char* kReferrers[] = {"https://www.google.com/search?q=tally",
                                           "https://news.ycombinator.com/item?id=1", ""};
        const char* ref = kReferrers[rng_() % 3];
        return R"({"n":"pageview","u":"https://shop.example.com/p/)" + std::to_string(zipf()) +
               R"(?utm_source=x","d":"shop.example.com","r":)" +
               (*ref ? "\"" + std::string(ref) + "\"" : std::string("null")) + "}";
    }
    /// A User-Agent header: a real browser's, or 1 time in 20 a crawler's.
    std::string agent() {
        static const char* kBrowsers[] = {
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
            "like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0"};
        static const char* kBots[] = {
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/131.0.0.0 Safari/537.36"};
        return rng_() % 20 == 0 ? kBots[rng_() % 3] : kBrowsers[rng_() % 3];
    }
    std::string batch_item() {
        if (rng_() % 10 == 0) {
            return R"({"type":"event","event_name":"add_to_cart","session_id":"sess-)" +
                   std::to_string(rng_() % 150000) + R"(","properties":{"sku":")" +
                   std::to_string(zipf()) + R"("}})";
        }
        return R"({"type":"pageview",)" + pageview_fields() + "}";
    }

  private:
    int zipf() { return zipf_(rng_); }
    std::mt19937_64 rng_;
    tally::bench::Zipf zipf_;
    int users_;
};

struct Connection {
    int fd = -1;
    const std::string* request = nullptr;
    std::size_t sent = 0;
    std::string in;
    Clock::time_point started;
    bool busy = false;
};

int connect_to(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    // Non-blocking: EINPROGRESS is expected; a failure shows as EPOLLERR on the socket.
    (void)::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    return fd;
}

/// Length of a complete response at the start of `in`, 0 if incomplete; `status` set.
std::size_t complete_response(const std::string& in, int& status) {
    const auto end = in.find("\r\n\r\n");
    if (end == std::string::npos)
        return 0;
    status = static_cast<int>(std::strtol(in.c_str() + 9, nullptr, 10));
    std::size_t length = 0;
    const char* p = strcasestr(in.c_str(), "\r\ncontent-length:");
    if (p != nullptr && p < in.c_str() + end)
        length = std::strtoull(p + 17, nullptr, 10);
    return in.size() >= end + 4 + length ? end + 4 + length : 0;
}

/// Events a 200 answer stands for: a batch's "accepted", one page view or event otherwise.
std::size_t accepted_events(std::string_view response, const std::string& mode) {
    if (mode == "dashboard")
        return 0;
    if (mode != "batch")
        return 1;
    constexpr std::string_view kAccepted = "\"accepted\":";
    const auto at = response.find(kAccepted);
    if (at == std::string_view::npos)
        return 0;
    return std::strtoull(response.data() + at + kAccepted.size(), nullptr, 10);
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i];
        const char* v = argv[i + 1];
        if (k == "--port")
            o.port = static_cast<int>(std::strtol(v, nullptr, 10));
        else if (k == "--mode")
            o.mode = v;
        else if (k == "--path")
            o.path = v;
        else if (k == "--connections")
            o.connections = static_cast<int>(std::strtol(v, nullptr, 10));
        else if (k == "--seconds")
            o.seconds = std::strtod(v, nullptr);
        else if (k == "--rate")
            o.rate = std::strtod(v, nullptr);
        else if (k == "--event-rate")
            o.event_rate = std::strtod(v, nullptr);
        else if (k == "--users")
            o.users = std::stoi(v);
        else if (k == "--batch-pool")
            o.batch_pool = std::stoi(v);
        else if (k == "--batch-size")
            o.batch_size = static_cast<int>(std::strtol(v, nullptr, 10));
        else {
            std::fprintf(stderr, "loadgen: unknown option %s\n", k.c_str());
            return 2;
        }
    }
    if (o.path.empty()) {
        o.path = o.mode == "batch"       ? "/track/batch"
                 : o.mode == "dashboard" ? "/dashboard/today"
                 : o.mode == "plausible" ? "/api/event"
                                         : "/track/pageview";
    }

    // Pre-built requests.
    EventMaker maker(42, o.users);
    std::vector<std::string> requests;
    const int pool = o.mode == "batch" ? o.batch_pool : o.mode == "dashboard" ? 1 : 20000;
    for (int i = 0; i < pool; ++i) {
        std::string body;
        if (o.mode == "batch") {
            body = "[";
            for (int j = 0; j < o.batch_size; ++j)
                body += (j ? "," : "") + maker.batch_item();
            body += "]";
        } else if (o.mode == "pageview") {
            body = maker.pageview();
        } else if (o.mode == "plausible") {
            body = maker.plausible();
        }
        std::string r = (o.mode == "dashboard" ? "GET " : "POST ") + o.path +
                        " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
        if (o.mode == "pageview" || o.mode == "plausible")
            r += "User-Agent: " + maker.agent() + "\r\n";
        if (!body.empty()) {
            r +=
                "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                "\r\n";
        }
        r += "\r\n" + body;
        requests.push_back(std::move(r));
    }
    const double events_per_request = o.mode == "batch"       ? o.batch_size
                                      : o.mode == "dashboard" ? 0
                                                              : 1;
    if (o.event_rate > 0) {
        if (events_per_request == 0 || o.rate > 0) {
            std::fprintf(stderr, "loadgen: --event-rate needs a tracking mode and no --rate\n");
            return 2;
        }
        o.rate = o.event_rate / events_per_request;
    }

    const int ep = ::epoll_create1(0);
    std::vector<Connection> conns(static_cast<std::size_t>(o.connections));
    for (std::size_t i = 0; i < conns.size(); ++i) {
        conns[i].fd = connect_to(o.port);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
        ev.data.u64 = i;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
    }

    std::vector<double> latencies_us;
    latencies_us.reserve(1 << 22);
    std::size_t next_request = 0, ok = 0, errors = 0, accepted = 0;
    const auto t0 = Clock::now();
    const auto deadline =
        t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
    const auto interval =
        o.rate > 0 ? std::chrono::duration<double>(1.0 / o.rate) : std::chrono::duration<double>(0);
    auto next_slot = t0;

    auto try_write = [&](Connection& c) {
        while (c.sent < c.request->size()) {
            const ssize_t n =
                ::send(c.fd, c.request->data() + c.sent, c.request->size() - c.sent, MSG_NOSIGNAL);
            if (n <= 0)
                return;
            c.sent += static_cast<std::size_t>(n);
        }
    };
    auto start = [&](Connection& c, Clock::time_point now) {
        if (o.rate > 0) {
            if (next_slot > now)
                return false;
            next_slot += std::chrono::duration_cast<Clock::duration>(interval);
            if (next_slot < now - std::chrono::milliseconds(50))
                next_slot = now;  // don't burst after a stall
        }
        c.request = &requests[next_request++ % requests.size()];
        c.sent = 0;
        c.busy = true;
        c.started = now;
        try_write(c);
        return true;
    };

    epoll_event events[256];
    bool stopping = false;
    while (true) {
        const auto now = Clock::now();
        if (now >= deadline)
            stopping = true;
        std::size_t busy = 0;
        for (auto& c : conns) {
            if (!c.busy && !stopping && c.fd >= 0)
                start(c, now);
            busy += c.busy ? 1 : 0;
        }
        if (stopping && busy == 0)
            break;
        if (stopping && now > deadline + std::chrono::seconds(5))
            break;
        const int n = ::epoll_wait(ep, events, 256, o.rate > 0 ? 1 : 10);
        for (int i = 0; i < n; ++i) {
            Connection& c = conns[events[i].data.u64];
            if (events[i].events & EPOLLOUT && c.busy)
                try_write(c);
            if (!(events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                continue;
            char buf[65536];
            while (true) {
                const ssize_t r = ::recv(c.fd, buf, sizeof(buf), 0);
                if (r > 0) {
                    c.in.append(buf, static_cast<std::size_t>(r));
                    continue;
                }
                if (r == 0) {  // server closed: reconnect
                    ::close(c.fd);
                    c.fd = connect_to(o.port);
                    epoll_event ev{};
                    ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
                    ev.data.u64 = events[i].data.u64;
                    ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
                    if (c.busy)
                        ++errors;
                    c.busy = false;
                    c.in.clear();
                }
                break;
            }
            int status = 0;
            while (std::size_t len = complete_response(c.in, status)) {
                if (status >= 200 && status < 300)
                    accepted += accepted_events(std::string_view(c.in).substr(0, len), o.mode);
                c.in.erase(0, len);
                const auto done = Clock::now();
                latencies_us.push_back(
                    std::chrono::duration<double, std::micro>(done - c.started).count());
                (status >= 200 && status < 300 ? ok : errors)++;
                c.busy = false;
                if (!stopping)
                    start(c, done);
            }
        }
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    std::sort(latencies_us.begin(), latencies_us.end());
    auto pct = [&](double p) {
        if (latencies_us.empty())
            return 0.0;
        return latencies_us[std::min(
            latencies_us.size() - 1,
            static_cast<std::size_t>(p * static_cast<double>(latencies_us.size())))];
    };
    std::printf(
        "mode=%s connections=%d seconds=%.1f requests=%zu errors=%zu req_per_s=%.0f "
        "events_per_s=%.0f "
        "p50_us=%.0f p99_us=%.0f p999_us=%.0f\n",
        o.mode.c_str(), o.connections, elapsed, ok, errors, static_cast<double>(ok) / elapsed,
        static_cast<double>(accepted) / elapsed, pct(0.5), pct(0.99), pct(0.999));
    return errors > 0 && ok == 0 ? 1 : 0;
}
