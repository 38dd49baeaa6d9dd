// The first durability step: an event answered 200 is in the log; a restart (clean or
// kill -9) rebuilds the same figures from it; a torn tail is cut, not crashed on.

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "common.hpp"
#include "tally/durability/record.hpp"

namespace tally::test {
namespace {

TEST(Durability, RestartKeepsEveryFigure) {
    Tallyd daemon;
    json before;
    {
        HttpClient client(daemon.port());
        for (int i = 0; i < 50; ++i) {
            ASSERT_EQ(
                client
                    .post("/track/pageview",
                          pageview({{"page_url", "/p" + std::to_string(i % 7)},
                                    {"user_id", "u" + std::to_string(i % 13)},
                                    {"session_id", "s" + std::to_string(i % 17)},
                                    {"referrer", "https://r" + std::to_string(i % 3) + ".com/"}}))
                    .status,
                200);
        }
        ASSERT_EQ(
            client.post("/track/event", R"({"event_name":"signup","session_id":"s1"})").status,
            200);
        before = dashboard(client, "today");
        ASSERT_EQ(before["page_views"], 50);
    }
    for (int signal : {SIGTERM, SIGKILL}) {
        daemon.stop(signal);
        daemon.restart();
        HttpClient client(daemon.port());
        json after = dashboard(client, "today");
        EXPECT_EQ(after, before) << "after signal " << signal;
    }
}

TEST(Durability, TornTailIsCutAndReported) {
    Tallyd daemon;
    {
        HttpClient client(daemon.port());
        for (int i = 0; i < 10; ++i)
            ASSERT_EQ(client.post("/track/pageview", pageview()).status, 200);
    }
    daemon.stop();
    // Append half a record to the newest segment, as a crash mid-write would leave it.
    std::filesystem::path segment;
    for (const auto& e : std::filesystem::directory_iterator(daemon.data_dir() + "/log")) {
        if (std::filesystem::file_size(e.path()) > 0)
            segment = e.path();
    }
    ASSERT_FALSE(segment.empty());
    const auto good_size = std::filesystem::file_size(segment);
    {
        std::ofstream out(segment, std::ios::app | std::ios::binary);
        out << std::string("\x40\x00\x00\x00\x12\x34", 6);
    }
    daemon.restart();
    HttpClient client(daemon.port());
    EXPECT_EQ(dashboard(client, "today")["page_views"], 10);
    EXPECT_EQ(std::filesystem::file_size(segment), good_size);
    EXPECT_NE(daemon.log_text().find("damaged or torn"), std::string::npos);
    // Appends continue after the cut.
    EXPECT_EQ(client.post("/track/pageview", pageview()).status, 200);
    daemon.stop();
    daemon.restart();
    HttpClient again(daemon.port());
    EXPECT_EQ(dashboard(again, "today")["page_views"], 11);
}

}  // namespace
}  // namespace tally::test

namespace tally::test {
namespace {

namespace fs = std::filesystem;

/// Every complete record in the daemon's log files (a torn tail, left by kill -9, ends a
/// file's records), as the pages they hold.
std::vector<std::string> logged_pages(const std::string& data_dir) {
    std::vector<std::string> pages;
    for (const auto& entry : fs::directory_iterator(data_dir + "/log")) {
        std::ifstream in(entry.path(), std::ios::binary);
        const std::string bytes{std::istreambuf_iterator<char>(in), {}};
        durability::LoggedRecord record;
        for (durability::RecordCursor cursor(bytes); !cursor.done();) {
            if (cursor.next(record) != durability::DecodeStatus::ok)
                break;
            pages.push_back(record.event.page);
        }
    }
    return pages;
}

std::size_t count_of(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
        ++n;
    return n;
}

// kill -9 while 4 clients send as fast as they can. Every request carries pages no other
// request has, so each answered 200 can be looked for in the log, one by one: every one is
// there exactly once, nothing is there twice, and what is there beyond the 200s belongs to
// the (at most 4) requests that were in flight without an answer at the kill. Then the
// restarted daemon counts exactly the log.
void kill_under_load(const std::string& mode, unsigned seed) {
    Tallyd daemon({"--fsync", mode});
    constexpr int kClients = 4;
    struct Client {
        std::vector<std::string> answered;    // pages of requests answered 200
        std::vector<std::string> unanswered;  // pages of the request in flight at the kill
        std::string failure;
    };
    std::vector<Client> clients(kClients);
    std::vector<std::thread> threads;
    threads.reserve(kClients);
    for (int c = 0; c < kClients; ++c) {
        threads.emplace_back([&, c] {
            Client& me = clients[static_cast<std::size_t>(c)];
            HttpClient client(daemon.port(), std::chrono::seconds(5));
            for (int i = 0; i < 1'000'000; ++i) {
                std::vector<std::string> pages;
                std::string path;
                std::string body;
                const std::string prefix = "/c" + std::to_string(c) + "-" + std::to_string(i);
                if (i % 8 == 7) {  // a batch of 5
                    json items = json::array();
                    for (int j = 0; j < 5; ++j) {
                        pages.push_back(prefix + "-" + std::to_string(j));
                        items.push_back({{"type", "pageview"},
                                         {"page_url", pages.back()},
                                         {"session_id", "s"}});
                    }
                    path = "/track/batch";
                    body = items.dump();
                } else {
                    pages.push_back(prefix);
                    path = "/track/pageview";
                    body = pageview({{"page_url", prefix}});
                }
                const HttpResponse r = client.post(path, body);
                if (r.status == 0) {  // the daemon died with this request in flight
                    me.unanswered = pages;
                    return;
                }
                if (r.status != 200 ||
                    (path == "/track/batch" && r.body != R"({"accepted":5,"rejected":[]})")) {
                    me.failure = std::to_string(r.status) + " " + r.body;
                    return;
                }
                me.answered.insert(me.answered.end(), pages.begin(), pages.end());
            }
        });
    }
    std::mt19937 random(seed);
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + random() % 700));
    ASSERT_EQ(daemon.stop(SIGKILL), 128 + SIGKILL);
    for (auto& thread : threads)
        thread.join();

    std::set<std::string> answered;
    std::set<std::string> in_flight;
    for (const auto& client : clients) {
        ASSERT_EQ(client.failure, "");
        answered.insert(client.answered.begin(), client.answered.end());
        in_flight.insert(client.unanswered.begin(), client.unanswered.end());
    }
    ASSERT_GT(answered.size(), 200u) << "too little load to mean anything";

    const std::vector<std::string> logged = logged_pages(daemon.data_dir());
    std::map<std::string, int> times;
    for (const auto& page : logged)
        ++times[page];
    std::size_t extra = 0;
    for (const auto& [page, n] : times) {
        ASSERT_EQ(n, 1) << page << " is in the log " << n << " times";
        if (!answered.contains(page)) {
            ASSERT_TRUE(in_flight.contains(page)) << page << " was never sent";
            ++extra;
        }
    }
    for (const auto& page : answered)
        ASSERT_TRUE(times.contains(page)) << page << " was answered 200 but is not in the log";
    EXPECT_EQ(logged.size(), answered.size() + extra);

    daemon.restart();
    HttpClient client(daemon.port());
    const json after = dashboard(client, "today");
    EXPECT_EQ(after["page_views"], logged.size())
        << mode << ": " << answered.size() << " answered 200, " << in_flight.size()
        << " in flight at the kill";
}

TEST(Durability, KillMinus9UnderLoadWithFsyncAlwaysCountsEvery200ExactlyOnce) {
    for (unsigned iteration = 0; iteration < 3; ++iteration) {
        SCOPED_TRACE("iteration " + std::to_string(iteration));
        kill_under_load("always", iteration);
        if (HasFatalFailure())
            return;
    }
}

TEST(Durability, KillMinus9UnderLoadWithFsyncIntervalCountsEvery200ExactlyOnce) {
    for (unsigned iteration = 0; iteration < 2; ++iteration) {
        SCOPED_TRACE("iteration " + std::to_string(iteration));
        kill_under_load("interval", 100 + iteration);
        if (HasFatalFailure())
            return;
    }
}

// SIGTERM flushes and syncs the log before exit 0: with fsync=never nothing syncs it
// during the run, and every answered event is in the files once the process is gone.
TEST(Durability, SigtermLeavesEveryAnsweredEventInTheFiles) {
    Tallyd daemon({"--fsync", "never"});
    {
        HttpClient client(daemon.port());
        for (int i = 0; i < 100; ++i) {
            ASSERT_EQ(
                client.post("/track/pageview", pageview({{"page_url", "/t" + std::to_string(i)}}))
                    .status,
                200);
        }
    }
    EXPECT_EQ(daemon.stop(SIGTERM), 0);
    EXPECT_NE(daemon.log_text().find("tallyd stopped"), std::string::npos);
    auto pages = logged_pages(daemon.data_dir());
    std::sort(pages.begin(), pages.end());
    ASSERT_EQ(pages.size(), 100u);
    EXPECT_EQ(std::adjacent_find(pages.begin(), pages.end()), pages.end());
}

/// Sends page views with unique pages on one connection until `failures` answers in a row
/// are not 200 (or `max` requests); returns how many were answered 200 and checks that
/// every other answer is the 503 of the event log.
struct Sent {
    int ok = 0;
    int failed = 0;
};
Sent send_until_failing(HttpClient& client, const std::string& prefix, int failures, int max) {
    Sent sent;
    int in_a_row = 0;
    for (int i = 0; i < max && in_a_row < failures; ++i) {
        const auto r =
            client.post("/track/pageview", pageview({{"page_url", prefix + std::to_string(i)}}));
        if (r.status == 200) {
            EXPECT_EQ(in_a_row, 0) << "a 200 after a 503 while the disk is still full";
            ++sent.ok;
            continue;
        }
        EXPECT_EQ(r.status, 503) << r.body;
        EXPECT_NE(r.body.find("the event log cannot be written"), std::string::npos) << r.body;
        ++sent.failed;
        ++in_a_row;
    }
    return sent;
}

// Disk trouble through a file-size limit on the daemon (tallyd ignores SIGXFSZ, so
// write(2) fails with EFBIG after a short write): 503s and never a false 200, /readyz
// failing with the reason, one loud line; the limit is raised on the running process and
// it recovers; after a restart the dashboard equals the 200s exactly.
TEST(Durability, FileSizeLimitAnswers503ThenRecovers) {
    constexpr rlim_t kLimit = rlim_t{48} * 1024;
    Tallyd daemon({"--fsync", "always"}, [] {
        struct rlimit limit {};
        ::getrlimit(RLIMIT_FSIZE, &limit);
        limit.rlim_cur = kLimit;
        ::setrlimit(RLIMIT_FSIZE, &limit);
    });
    daemon.set_child_setup(nullptr);  // restarts run without the limit
    HttpClient client(daemon.port());
    const Sent full = send_until_failing(client, "/a", 20, 5000);
    ASSERT_GT(full.ok, 100);
    ASSERT_EQ(full.failed, 20);
    auto ready = client.get("/readyz");
    EXPECT_EQ(ready.status, 503);
    EXPECT_NE(ready.body.find("File too large"), std::string::npos) << ready.body;
    EXPECT_EQ(count_of(daemon.log_text(), "event log: cannot write"), 1u) << daemon.log_text();
    EXPECT_NE(client.get("/metrics").body.find("tally_log_healthy 0"), std::string::npos);

    // Space returns: raise the running daemon's limit.
    struct rlimit unlimited {};
    ASSERT_EQ(::prlimit(daemon.pid(), RLIMIT_FSIZE, nullptr, &unlimited), 0);
    unlimited.rlim_cur = unlimited.rlim_max;
    ASSERT_EQ(::prlimit(daemon.pid(), RLIMIT_FSIZE, &unlimited, nullptr), 0);
    const Sent after = send_until_failing(client, "/b", 1, 50);
    EXPECT_EQ(after.ok, 50);
    EXPECT_EQ(client.get("/readyz").status, 200);
    EXPECT_EQ(count_of(daemon.log_text(), "event log: writable again"), 1u);
    EXPECT_EQ(dashboard(client, "today")["page_views"], full.ok + after.ok);

    daemon.restart();
    HttpClient again(daemon.port());
    EXPECT_EQ(dashboard(again, "today")["page_views"], full.ok + after.ok);
    EXPECT_EQ(daemon.log_text().find("damaged or torn"), std::string::npos)
        << "the failed writes left garbage in the log";
}

// A failed fsync with durability.fsync=always answers 503, never 200: fdatasync(2) fails
// with EINVAL on a FIFO, so each writer's segment is made one before the daemon starts
// (with this test holding the reading end open, so the writes themselves succeed).
TEST(Durability, FailedFsyncAnswers503NeverA200) {
    TempDir dir;
    const std::string data = dir.path() + "/data";
    fs::create_directories(data + "/log");
    std::vector<int> readers;
    for (int writer = 0; writer < 3; ++writer) {  // 2 I/O threads + the demo's writer
        const std::string fifo = data + "/log/w" + std::to_string(writer) + "-00000001.log";
        ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
        readers.push_back(::open(fifo.c_str(), O_RDONLY | O_NONBLOCK));
        ASSERT_GE(readers.back(), 0);
    }
    {
        Tallyd daemon({"--fsync", "always", "--data-dir", data});
        HttpClient client(daemon.port());
        for (int i = 0; i < 5; ++i) {
            const auto r = client.post("/track/pageview", pageview());
            EXPECT_EQ(r.status, 503);
            EXPECT_NE(r.body.find("could not be synced"), std::string::npos) << r.body;
        }
        const auto batch = client.post("/track/batch", R"([{"type":"pageview","page_url":"/",
                                                           "session_id":"s"}])");
        EXPECT_EQ(batch.status, 503) << batch.body;
        const auto ready = client.get("/readyz");
        EXPECT_EQ(ready.status, 503);
        EXPECT_NE(ready.body.find("cannot fsync"), std::string::npos) << ready.body;
        EXPECT_EQ(count_of(daemon.log_text(), "event log: cannot fsync"), 1u);
        daemon.stop();
    }
    for (int fd : readers)
        ::close(fd);
}

/// A small tmpfs mounted for the test (root only); unmounted with it.
class SmallTmpfs {
  public:
    explicit SmallTmpfs(const std::string& path, const char* options) : path_(path) {
        fs::create_directories(path_);
        mounted_ = ::mount("tmpfs", path_.c_str(), "tmpfs", 0, options) == 0;
    }
    ~SmallTmpfs() {
        if (mounted_)
            ::umount2(path_.c_str(), MNT_DETACH);
    }
    bool mounted() const { return mounted_; }

  private:
    std::string path_;
    bool mounted_ = false;
};

// The same with a real full disk: a 1 MiB tmpfs, filled up by a file the test then deletes.
TEST(Durability, FullTmpfsAnswers503ThenRecovers) {
    TempDir dir;
    SmallTmpfs tmpfs(dir.path() + "/mnt", "size=1m");
    if (!tmpfs.mounted())
        GTEST_SKIP() << "mount -t tmpfs is not permitted here";
    const std::string data = dir.path() + "/mnt/data";
    json ok_total = 0;
    {
        Tallyd daemon({"--fsync", "always", "--data-dir", data});
        HttpClient client(daemon.port());
        ASSERT_EQ(client.post("/track/pageview", pageview({{"page_url", "/first"}})).status, 200);
        // Fill what is left, but for a few KiB.
        const std::string filler = dir.path() + "/mnt/filler";
        {
            std::ofstream out(filler, std::ios::binary);
            const std::string block(4096, 'x');
            while (out.write(block.data(), block.size()))
                out.flush();
        }
        fs::resize_file(filler, fs::file_size(filler) - std::uintmax_t{8} * 1024);
        const Sent full = send_until_failing(client, "/a", 20, 5000);
        ASSERT_EQ(full.failed, 20);
        const auto ready = client.get("/readyz");
        EXPECT_EQ(ready.status, 503);
        EXPECT_NE(ready.body.find("No space left on device"), std::string::npos) << ready.body;
        EXPECT_EQ(count_of(daemon.log_text(), "event log: cannot write"), 1u);

        fs::remove(filler);
        const Sent after = send_until_failing(client, "/b", 1, 50);
        EXPECT_EQ(after.ok, 50);
        EXPECT_EQ(client.get("/readyz").status, 200);
        ok_total = 1 + full.ok + after.ok;
        EXPECT_EQ(dashboard(client, "today")["page_views"], ok_total);
        daemon.restart();
        HttpClient again(daemon.port());
        EXPECT_EQ(dashboard(again, "today")["page_views"], ok_total);
    }
}

}  // namespace
}  // namespace tally::test
