// metrics_load: the load generator and baselines of the metrics-service benchmarks
// (tests/bench/run_metrics_*.sh, tests/bench/README.md "Metrics service"). Not a test.
// Self-contained (no Tally code), so the scripts can also build it with a bare g++.
//
//   metrics_load udp-send --port P [--seconds 10] [--procs 2] [--rate POINTS_PER_S]
//       DogStatsD over UDP: --procs sender processes, each with a pool of ~1,400-byte
//       datagrams of counter and timing lines with tags, sent with sendmmsg (32 a call).
//       Prints the datagrams and points sent and their rate.
//   metrics_load udp-sink --port P [--idle-ms 1000]
//       The baseline: a trivial receiver (recvmmsg, 64 a call, 32 MiB SO_RCVBUFFORCE as
//       tallyd's listener) that counts datagrams and lines until nothing has come for
//       --idle-ms after the first datagram; prints them and the kernel's drop count.
//   metrics_load gen-json|gen-influx --out-dir D [--files 8] [--points 10000] [--hosts 500]
//       Ingest bodies of the same points in both formats: 5 measurements x 4 fields x
//       --hosts hosts x 4 regions, gauges without timestamps (server time). gen-json writes
//       {"metrics":[...]} with --points points a file, gen-influx the same points as line
//       protocol (4 fields a line). Prints the series count.
//   metrics_load gen-mem --out-dir D --series N --minutes M [--end-ms T] [--points 10000]
//       Counter points for N series (name mem.c<i/10000>, tag s=<i>), one a minute for M
//       minutes ending at --end-ms (default: now - 90 min), minute-major, JSON bodies.
//   metrics_load http --port P --path PATH --body-dir D [--connections 4] [--seconds 10]
//                     [--rate REQ_PER_S] [--once] [--method POST] [--content-type T]
//                     [--count accepted|lines|none] [--points-per-line N] [--gzip-header]
//       keep-alive HTTP/1.1 load: each connection sends the next body of the pool (all files
//       of D, sorted) with one request in flight. --once sends every file exactly once.
//       Points are counted per 2xx answer: "accepted" from the answer (JSON ingest), the
//       body's lines x --points-per-line (Influx), or none. Without --body-dir it sends
//       --body (may be empty: GET). Prints requests, points/s and latency percentiles.

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::map<std::string, std::string> parse_args(int argc, char** argv, int from) {
    std::map<std::string, std::string> args;
    for (int i = from; i < argc; ++i) {
        std::string k = argv[i];
        if (k.rfind("--", 0) != 0) {
            std::fprintf(stderr, "metrics_load: unexpected %s\n", k.c_str());
            std::exit(2);
        }
        if (i + 1 < argc && std::string_view(argv[i + 1]).rfind("--", 0) != 0)
            args[k.substr(2)] = argv[++i];
        else
            args[k.substr(2)] = "1";
    }
    return args;
}

double num(const std::map<std::string, std::string>& a, const char* k, double def) {
    auto it = a.find(k);
    return it == a.end() ? def : std::strtod(it->second.c_str(), nullptr);
}
std::string str(const std::map<std::string, std::string>& a, const char* k, std::string def) {
    auto it = a.find(k);
    return it == a.end() ? def : it->second;
}

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// ---------------------------------------------------------------- DogStatsD over UDP

/// ~1,400-byte datagrams: counters and timings (some with a sample rate) with 2-3 tags.
std::vector<std::string> statsd_pool(unsigned seed, std::size_t count, std::size_t& points) {
    std::mt19937_64 rng(seed);
    static const char* kRoutes[] = {"/api/users", "/api/orders", "/checkout", "/search",
                                    "/login",     "/cart",       "/p/item",   "/health"};
    std::vector<std::string> pool;
    points = 0;
    for (std::size_t d = 0; d < count; ++d) {
        std::string dg;
        std::size_t lines = 0;
        while (true) {
            std::string line;
            const auto host = rng() % 50;
            const auto route = kRoutes[rng() % 8];
            switch (rng() % 4) {
                case 0:
                    line = "web.requests:1|c|#host:h" + std::to_string(host) + ",route:" + route;
                    break;
                case 1:
                    line = "web.errors:1|c|#host:h" + std::to_string(host) + ",route:" + route +
                           ",code:5" + std::to_string(rng() % 4) + "x";
                    break;
                default: {
                    char v[32];
                    std::snprintf(v, sizeof v, "%.2f",
                                  std::exp(3.0 + 0.8 * std::normal_distribution<>()(rng)));
                    line = std::string("web.latency:") + v + "|ms|#host:h" + std::to_string(host) +
                           ",route:" + route;
                }
            }
            if (dg.size() + line.size() + 1 > 1400)
                break;
            if (!dg.empty())
                dg += '\n';
            dg += line;
            ++lines;
        }
        points += lines;
        pool.push_back(std::move(dg));
    }
    return pool;
}

int udp_send(const std::map<std::string, std::string>& a) {
    const int port = static_cast<int>(num(a, "port", 8125));
    const double seconds = num(a, "seconds", 10);
    const int procs = static_cast<int>(num(a, "procs", 2));
    const double rate = num(a, "rate", 0);  // total points/s
    int pipes[2];
    if (::pipe(pipes) != 0)
        return 1;
    for (int p = 0; p < procs; ++p) {
        if (::fork() != 0)
            continue;
        std::size_t pool_points = 0;
        const auto pool = statsd_pool(1000 + static_cast<unsigned>(p), 256, pool_points);
        const double points_per_dg = static_cast<double>(pool_points) / pool.size();
        const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
        int size = 4 << 20;
        ::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(static_cast<uint16_t>(port));
        ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        constexpr int kBatch = 32;
        mmsghdr msgs[kBatch];
        iovec iov[kBatch];
        std::size_t next = 0, sent = 0, points = 0, failed = 0;
        const auto t0 = Clock::now();
        const double dg_rate = rate > 0 ? rate / procs / points_per_dg : 0;
        while (true) {
            const double t = seconds_since(t0);
            if (t >= seconds)
                break;
            if (dg_rate > 0 && static_cast<double>(sent) > dg_rate * t) {
                ::usleep(200);
                continue;
            }
            std::memset(msgs, 0, sizeof msgs);
            for (int i = 0; i < kBatch; ++i) {
                const std::string& dg = pool[(next + i) % pool.size()];
                iov[i] = {const_cast<char*>(dg.data()), dg.size()};
                msgs[i].msg_hdr.msg_iov = &iov[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
            }
            const int n = ::sendmmsg(fd, msgs, kBatch, 0);
            if (n <= 0) {
                ++failed;
                continue;
            }
            for (int i = 0; i < n; ++i) {
                const std::string& dg = pool[(next + i) % pool.size()];
                points += static_cast<std::size_t>(std::count(dg.begin(), dg.end(), '\n')) + 1;
            }
            next += static_cast<std::size_t>(n);
            sent += static_cast<std::size_t>(n);
        }
        char line[128];
        const int len =
            std::snprintf(line, sizeof line, "%zu %zu %.3f\n", sent, points, seconds_since(t0));
        (void)!::write(pipes[1], line, static_cast<std::size_t>(len));
        std::_Exit(0);
    }
    ::close(pipes[1]);
    std::size_t sent = 0, points = 0;
    double elapsed = 0;
    FILE* in = ::fdopen(pipes[0], "r");
    for (int p = 0; p < procs; ++p) {
        std::size_t s = 0, q = 0;
        double e = 0;
        if (std::fscanf(in, "%zu %zu %lf", &s, &q, &e) == 3) {
            sent += s;
            points += q;
            elapsed = std::max(elapsed, e);
        }
    }
    while (::wait(nullptr) > 0) {
    }
    std::printf(
        "udp-send procs=%d seconds=%.2f datagrams=%zu points=%zu datagrams_per_s=%.0f "
        "points_per_s=%.0f points_per_datagram=%.1f\n",
        procs, elapsed, sent, points, sent / elapsed, points / elapsed,
        static_cast<double>(points) / static_cast<double>(std::max<std::size_t>(sent, 1)));
    return 0;
}

int udp_sink(const std::map<std::string, std::string>& a) {
    const int port = static_cast<int>(num(a, "port", 8125));
    const int idle_ms = static_cast<int>(num(a, "idle-ms", 1000));
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        std::perror("udp-sink: bind");
        return 1;
    }
    int size = 32 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on);
    std::printf("ready\n");
    std::fflush(stdout);
    constexpr int kBatch = 64, kMax = 65536;
    std::vector<char> buf(static_cast<std::size_t>(kBatch) * kMax);
    mmsghdr msgs[kBatch];
    iovec iov[kBatch];
    alignas(cmsghdr) char control[kBatch][CMSG_SPACE(sizeof(std::uint32_t))];
    std::size_t datagrams = 0, lines = 0;
    std::uint32_t dropped = 0;
    Clock::time_point first{}, last{};
    while (true) {
        for (int i = 0; i < kBatch; ++i) {
            iov[i] = {buf.data() + static_cast<std::size_t>(i) * kMax, kMax};
            msgs[i].msg_hdr = {};
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_control = control[i];
            msgs[i].msg_hdr.msg_controllen = sizeof control[i];
        }
        const int n = ::recvmmsg(fd, msgs, kBatch, 0, nullptr);
        if (n <= 0) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, datagrams ? idle_ms : 60000) == 0)
                break;
            continue;
        }
        last = Clock::now();
        if (datagrams == 0)
            first = last;
        for (int i = 0; i < n; ++i) {
            const char* d = buf.data() + static_cast<std::size_t>(i) * kMax;
            lines += static_cast<std::size_t>(std::count(d, d + msgs[i].msg_len, '\n')) + 1;
            for (cmsghdr* c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c;
                 c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL)
                    std::memcpy(&dropped, CMSG_DATA(c), sizeof dropped);
            }
        }
        datagrams += static_cast<std::size_t>(n);
    }
    const double span = std::chrono::duration<double>(last - first).count();
    std::printf("udp-sink datagrams=%zu points=%zu dropped_datagrams=%u span_s=%.2f\n", datagrams,
                lines, dropped, span);
    return 0;
}

// ---------------------------------------------------------------- ingest bodies

struct Point {
    std::string measurement, field, host, region;
    double value;
};

void write_file(const std::string& path, const std::string& body) {
    std::ofstream(path, std::ios::binary) << body;
}

int gen_ingest(const std::map<std::string, std::string>& a, bool json) {
    const std::string dir = str(a, "out-dir", ".");
    const int files = static_cast<int>(num(a, "files", 8));
    const int points = static_cast<int>(num(a, "points", 10000));
    const int hosts = static_cast<int>(num(a, "hosts", 500));
    static const char* kMeasurements[] = {"cpu", "mem", "disk", "net", "app"};
    static const char* kFields[5][4] = {{"user", "system", "idle", "iowait"},
                                        {"used", "free", "cached", "buffered"},
                                        {"read_bytes", "write_bytes", "reads", "writes"},
                                        {"rx_bytes", "tx_bytes", "rx_errs", "tx_errs"},
                                        {"requests", "errors", "latency", "queue"}};
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<> value(0, 1000);
    for (int f = 0; f < files; ++f) {
        std::string body = json ? "{\"metrics\":[" : "";
        for (int line = 0; line < points / 4; ++line) {
            const auto m = rng() % 5;
            const std::string host = "h" + std::to_string(rng() % static_cast<unsigned>(hosts));
            const std::string region = "r" + std::to_string(rng() % 4);
            if (!json)
                body += std::string(kMeasurements[m]) + ",host=" + host + ",region=" + region + " ";
            for (int k = 0; k < 4; ++k) {
                char v[32];
                std::snprintf(v, sizeof v, "%.2f", value(rng));
                if (json) {
                    if (line || k)
                        body += ',';
                    body += std::string("{\"name\":\"") + kMeasurements[m] + "." + kFields[m][k] +
                            "\",\"type\":\"gauge\",\"value\":" + v + ",\"tags\":{\"host\":\"" +
                            host + "\",\"region\":\"" + region + "\"}}";
                } else {
                    body += std::string(k ? "," : "") + kFields[m][k] + "=" + v;
                }
            }
            if (!json)
                body += '\n';
        }
        if (json)
            body += "]}";
        char name[64];
        std::snprintf(name, sizeof name, "/body%03d.%s", f, json ? "json" : "lp");
        write_file(dir + name, body);
        if (f == 0)
            std::fprintf(stderr, "%s: %zu bytes, %d points\n", name + 1, body.size(), points);
    }
    std::printf("series=%d\n", 5 * 4 * hosts * 4);
    return 0;
}

int gen_mem(const std::map<std::string, std::string>& a) {
    const std::string dir = str(a, "out-dir", ".");
    const long series = static_cast<long>(num(a, "series", 100000));
    const long minutes = static_cast<long>(num(a, "minutes", 60));
    const long per_body = static_cast<long>(num(a, "points", 10000));
    const long long now = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    long long end = static_cast<long long>(num(a, "end-ms", static_cast<double>(now - 90 * 60000)));
    end -= end % 60000;
    std::string body;
    long in_body = 0, file = 0;
    auto flush = [&] {
        if (in_body == 0)
            return;
        body += "]}";
        char name[64];
        std::snprintf(name, sizeof name, "/mem%06ld.json", file++);
        write_file(dir + name, body);
        body.clear();
        in_body = 0;
    };
    for (long m = minutes - 1; m >= 0; --m) {
        const std::string ts = std::to_string(end - m * 60000 + 30000);
        for (long s = 0; s < series; ++s) {
            body += in_body ? "," : "{\"metrics\":[";
            body += "{\"name\":\"mem.c" + std::to_string(s / 10000) +
                    "\",\"type\":\"count\",\"value\":1,\"tags\":{\"s\":\"" + std::to_string(s) +
                    "\"},\"timestamp\":" + ts + "}";
            if (++in_body == per_body)
                flush();
        }
    }
    flush();
    std::printf("files=%ld points=%ld\n", file, series * minutes);
    return 0;
}

// ---------------------------------------------------------------- HTTP load

struct Conn {
    int fd = -1;
    std::size_t body = 0;
    std::size_t sent = 0;
    std::string in;
    Clock::time_point started;
    bool busy = false;
};

int connect_to(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    (void)::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    return fd;
}

/// Length of a complete response at the start of `in` (0: incomplete); sets `status`.
std::size_t complete_response(const std::string& in, int& status) {
    const auto end = in.find("\r\n\r\n");
    if (end == std::string::npos)
        return 0;
    status = static_cast<int>(std::strtol(in.c_str() + 9, nullptr, 10));
    std::size_t length = 0;
    const char* p = strcasestr(in.c_str(), "\r\ncontent-length:");
    if (p != nullptr && p < in.c_str() + end)
        length = std::strtoull(p + 17, nullptr, 10);
    const char* chunked = strcasestr(in.c_str(), "\r\ntransfer-encoding: chunked");
    if (p == nullptr && chunked != nullptr && chunked < in.c_str() + end) {
        // VictoriaMetrics streams its answers: complete at the last (empty) chunk.
        const auto last = in.find("\r\n0\r\n\r\n", end + 2);
        return last == std::string::npos ? 0 : last + 7;
    }
    return in.size() >= end + 4 + length ? end + 4 + length : 0;
}

int http(const std::map<std::string, std::string>& a) {
    const int port = static_cast<int>(num(a, "port", 8080));
    const std::string path = str(a, "path", "/");
    const std::string method = str(a, "method", "POST");
    const std::string count = str(a, "count", "none");
    const double points_per_line = num(a, "points-per-line", 1);
    const int connections = static_cast<int>(num(a, "connections", 4));
    const double seconds = num(a, "seconds", 10);
    const double rate = num(a, "rate", 0);
    const bool once = a.count("once") > 0;
    const std::string ctype = str(a, "content-type", "application/json");

    std::vector<std::string> bodies;
    if (a.count("body-dir")) {
        const std::string dir = a.at("body-dir");
        std::vector<std::string> names;
        if (DIR* d = ::opendir(dir.c_str())) {
            while (dirent* e = ::readdir(d))
                if (e->d_name[0] != '.')
                    names.push_back(e->d_name);
            ::closedir(d);
        }
        std::sort(names.begin(), names.end());
        for (const auto& n : names) {
            std::ifstream f(dir + "/" + n, std::ios::binary);
            std::stringstream ss;
            ss << f.rdbuf();
            bodies.push_back(ss.str());
        }
    } else {
        bodies.push_back(str(a, "body", ""));
    }
    if (bodies.empty()) {
        std::fprintf(stderr, "http: no bodies\n");
        return 2;
    }
    std::vector<std::string> requests;
    std::vector<double> body_points;
    for (const auto& b : bodies) {
        std::string r = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
        if (!b.empty() || method == "POST")
            r += "Content-Type: " + ctype + "\r\nContent-Length: " + std::to_string(b.size()) +
                 "\r\n";
        r += "\r\n" + b;
        requests.push_back(std::move(r));
        const auto lines =
            std::count(b.begin(), b.end(), '\n') + (b.empty() || b.back() == '\n' ? 0 : 1);
        body_points.push_back(static_cast<double>(lines) * points_per_line);
    }

    const int ep = ::epoll_create1(0);
    std::vector<Conn> conns(static_cast<std::size_t>(connections));
    auto add = [&](std::size_t i) {
        conns[i].fd = connect_to(port);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
        ev.data.u64 = i;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
    };
    for (std::size_t i = 0; i < conns.size(); ++i)
        add(i);

    std::vector<double> lat;
    lat.reserve(1 << 20);
    std::size_t next = 0, ok = 0, errors = 0;
    double points = 0;
    std::string first_error;
    const auto t0 = Clock::now();
    const auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(once ? 1e9 : seconds));
    const auto interval = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(rate > 0 ? 1.0 / rate : 0));
    auto next_slot = t0;
    auto try_write = [&](Conn& c) {
        const std::string& r = requests[c.body];
        while (c.sent < r.size()) {
            const ssize_t n = ::send(c.fd, r.data() + c.sent, r.size() - c.sent, MSG_NOSIGNAL);
            if (n <= 0)
                return;
            c.sent += static_cast<std::size_t>(n);
        }
    };
    bool stopping = false;
    auto start = [&](Conn& c, Clock::time_point now) {
        if (once && next >= requests.size()) {
            stopping = true;
            return;
        }
        if (rate > 0) {
            if (next_slot > now)
                return;
            next_slot += interval;
            if (next_slot < now - std::chrono::milliseconds(50))
                next_slot = now;
        }
        c.body = next++ % requests.size();
        c.sent = 0;
        c.busy = true;
        c.started = now;
        try_write(c);
    };
    epoll_event events[64];
    while (true) {
        const auto now = Clock::now();
        if (now >= deadline)
            stopping = true;
        std::size_t busy = 0;
        for (auto& c : conns) {
            if (!c.busy && !stopping)
                start(c, now);
            busy += c.busy;
        }
        if (stopping && busy == 0)
            break;
        if (stopping && now > deadline + std::chrono::seconds(10))
            break;
        const int n = ::epoll_wait(ep, events, 64, rate > 0 ? 1 : 10);
        for (int i = 0; i < n; ++i) {
            Conn& c = conns[events[i].data.u64];
            if ((events[i].events & EPOLLOUT) && c.busy)
                try_write(c);
            if (!(events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                continue;
            char buf[65536];
            while (true) {
                const ssize_t r = ::recv(c.fd, buf, sizeof buf, 0);
                if (r > 0) {
                    c.in.append(buf, static_cast<std::size_t>(r));
                    continue;
                }
                if (r == 0) {
                    ::close(c.fd);
                    add(events[i].data.u64);
                    if (c.busy)
                        ++errors;
                    c.busy = false;
                    c.in.clear();
                }
                break;
            }
            int status = 0;
            while (std::size_t len = complete_response(c.in, status)) {
                const std::string_view resp(c.in.data(), len);
                if (status / 100 == 2) {
                    ++ok;
                    if (count == "accepted") {
                        const auto at = resp.find("\"accepted\":");
                        if (at != std::string_view::npos)
                            points += std::strtod(resp.data() + at + 11, nullptr);
                    } else if (count == "lines") {
                        points += body_points[c.body];
                    }
                } else {
                    ++errors;
                    if (first_error.empty())
                        first_error = std::string(resp.substr(0, 300));
                }
                const auto done = Clock::now();
                lat.push_back(std::chrono::duration<double, std::micro>(done - c.started).count());
                c.in.erase(0, len);
                c.busy = false;
                if (!stopping)
                    start(c, done);
            }
        }
    }
    const double elapsed = seconds_since(t0);
    std::sort(lat.begin(), lat.end());
    auto pct = [&](double p) {
        return lat.empty()
                   ? 0.0
                   : lat[std::min(lat.size() - 1,
                                  static_cast<std::size_t>(p * static_cast<double>(lat.size())))];
    };
    if (!first_error.empty())
        std::fprintf(stderr, "first error answer: %s\n", first_error.c_str());
    std::printf(
        "http path=%s connections=%d seconds=%.2f requests=%zu errors=%zu req_per_s=%.0f "
        "points=%.0f points_per_s=%.0f p50_us=%.0f p90_us=%.0f p99_us=%.0f p999_us=%.0f "
        "max_us=%.0f\n",
        path.substr(0, path.find('?')).c_str(), connections, elapsed, ok, errors, ok / elapsed,
        points, points / elapsed, pct(0.5), pct(0.9), pct(0.99), pct(0.999),
        lat.empty() ? 0.0 : lat.back());
    return errors > 0 && ok == 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(
            stderr, "usage: metrics_load udp-send|udp-sink|gen-json|gen-influx|gen-mem|http ...\n");
        return 2;
    }
    const std::string cmd = argv[1];
    const auto a = parse_args(argc, argv, 2);
    if (cmd == "udp-send")
        return udp_send(a);
    if (cmd == "udp-sink")
        return udp_sink(a);
    if (cmd == "gen-json")
        return gen_ingest(a, true);
    if (cmd == "gen-influx")
        return gen_ingest(a, false);
    if (cmd == "gen-mem")
        return gen_mem(a);
    if (cmd == "http")
        return http(a);
    std::fprintf(stderr, "metrics_load: unknown command %s\n", cmd.c_str());
    return 2;
}
