#pragma once
// Shared helpers for the integration tests.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "support/http_client.hpp"
#include "support/tallyd.hpp"
#include "tally/base/time.hpp"
#include "tally/ingest/parse.hpp"

namespace tally::test {

using json = nlohmann::json;

inline std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Under AddressSanitizer (scripts/build.sh -DTALLY_SANITIZE=ON, which builds tallyd and the
// tests alike) freed memory sits in a quarantine, so RSS says nothing about what is held.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kRssMeaningful = false;
#else
inline constexpr bool kRssMeaningful = true;
#endif

/// A figure of /proc/<pid>/status in KiB, as "VmRSS:" (0 when unreadable).
inline long status_kib(int pid, const std::string& field) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind(field, 0) == 0)
            return std::stol(line.substr(field.size()));
    }
    return 0;
}

/// VmRSS of process `pid` in KiB (0 when unreadable).
inline long rss_kib(int pid) {
    return status_kib(pid, "VmRSS:");
}

/// The anonymous part of the resident set (the heap, not pages of mapped files, which the
/// kernel drops under pressure), in KiB.
inline long rss_anon_kib(int pid) {
    return status_kib(pid, "RssAnon:");
}

inline std::string today() {
    return format_day(day_of(now_ms()));
}

inline std::string iso(std::int64_t ms) {
    return format_rfc3339_ms(ms);
}

/// A page view body with sensible defaults; `extra` fields override.
inline std::string pageview(json extra = json::object()) {
    json body = {{"page_url", "https://example.com/home"}, {"session_id", "s1"}, {"user_id", "u1"}};
    for (auto& [k, v] : extra.items())
        body[k] = v;
    return body.dump();
}

/// Batches `from` to `to` of a flood of page views of "/", each with a session id of its
/// own (batch b holds sessions b*1000 .. b*1000+999); true when every batch got 200.
inline bool flood_sessions(HttpClient& client, int from, int to) {
    for (int b = from; b < to; ++b) {
        json batch = json::array();
        for (int i = 0; i < 1'000; ++i) {
            batch.push_back({{"type", "pageview"},
                             {"page_url", "/"},
                             {"session_id", "flood-" + std::to_string(b * 1'000 + i)}});
        }
        if (client.post("/track/batch", batch.dump()).status != 200)
            return false;
    }
    return true;
}

inline json dashboard(HttpClient& client, const std::string& date,
                      const std::string& site = "default") {
    auto r = client.get("/dashboard/" + date + "?site=" + site);
    return r.status == 200 ? json::parse(r.body) : json();
}

struct RunResult {
    int status;          // the exit status (-1: still running after 10 s)
    std::string output;  // stdout and stderr
};

/// Runs tallyd with `args` to its end (bad flags, --help): a data dir of its own, so that
/// nothing lands in the working directory (a later --data-dir in `args` wins).
inline RunResult run_tallyd(const std::vector<std::string>& args) {
    TempDir dir;
    const std::string log = dir.path() + "/out.log";
    std::vector<std::string> argv = {tallyd_path(), "--data-dir", dir.path() + "/data"};
    argv.insert(argv.end(), args.begin(), args.end());
    Process p(argv, log);
    const int status = p.wait(std::chrono::seconds(10));
    std::ifstream in(log);
    std::stringstream s;
    s << in.rdbuf();
    return {status, s.str()};
}

/// A fixture with a fresh tallyd and a keep-alive client, and send() for events that
/// must be accepted.
class DaemonTest : public ::testing::Test {
  protected:
    Tallyd daemon;
    HttpClient client{daemon.port()};

    void send(const json& body, const std::string& path = "/track/pageview") {
        auto r = client.post(path, body.dump());
        ASSERT_EQ(r.status, 200) << body.dump() << " -> " << r.body;
    }
};

/// Sends DogStatsD datagrams to 127.0.0.1:`port`.
class UdpSender {
  public:
    explicit UdpSender(int port) : fd_(::socket(AF_INET, SOCK_DGRAM, 0)) {
        to_.sin_family = AF_INET;
        to_.sin_port = htons(static_cast<std::uint16_t>(port));
        to_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    ~UdpSender() { ::close(fd_); }
    void send(const std::string& datagram) {
        ASSERT_EQ(::sendto(fd_, datagram.data(), datagram.size(), 0,
                           reinterpret_cast<const sockaddr*>(&to_), sizeof to_),
                  static_cast<ssize_t>(datagram.size()));
    }

  private:
    int fd_;
    sockaddr_in to_{};
};

}  // namespace tally::test
