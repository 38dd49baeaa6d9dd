// Replay speed on start (tests/bench/README.md, "Replay on start"): writes N events' log (default
// 5,000,000, varied like tests/bench/loadgen's traffic: Zipf-ish pages over 500 paths, 150k
// sessions, 50k users, referrers, countries, devices, a few custom events), then times
//   (1) EventLog::replay alone (read, frame, CRC32C, decode), and
//   (2) replay + Store::admit + Store::apply, as tallyd does on start,
// each in a fresh process-state (new EventLog, new Store). The files were just written, so
// they are in the page cache: this measures our CPU cost, not the disk.
//
//   replay_bench [events] [writers] [dir]

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tally/base/time.hpp"
#include "tally/durability/event_log.hpp"
#include "tally/store/store.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
    using namespace tally;
    const long events = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 5'000'000;
    const long writers = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 3;
    const std::filesystem::path dir = argc > 3 ? std::filesystem::path(argv[3])
                                               : std::filesystem::temp_directory_path() /
                                                     ("replay_bench." + std::to_string(::getpid()));
    if (events <= 0 || writers <= 0) {
        std::fprintf(stderr, "usage: replay_bench [events] [writers] [dir]\n");
        return 2;
    }
    std::filesystem::remove_all(dir);

    const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    const std::int64_t day_start = day_of(now) * kMsPerDay;
    const char* referrers[] = {"direct", "google.com", "news.ycombinator.com", "twitter.com",
                               "bing.com"};
    const char* countries[] = {"US", "DE", "FR", "GB", "IN", "BR", "JP", ""};

    // 1. Write the log, in batches as the I/O threads would.
    auto start = Clock::now();
    std::uint64_t bytes = 0;
    {
        durability::EventLog log(
            {dir, static_cast<std::size_t>(writers), durability::FsyncMode::never});
        log.replay([](const Event&) {});
        log.open();
        std::mt19937_64 random(42);
        std::vector<Event> batch(100);
        for (long i = 0; i < events;) {
            const long n = std::min<long>(static_cast<long>(batch.size()), events - i);
            for (long k = 0; k < n; ++k, ++i) {
                Event& e = batch[static_cast<std::size_t>(k)];
                const std::uint64_t r = random();
                const auto session = r % 150'000;
                e.kind = (r >> 20) % 10 == 0 ? EventKind::custom : EventKind::pageview;
                e.site = "default";
                e.timestamp_ms =
                    day_start + static_cast<std::int64_t>(
                                    (r >> 24) % static_cast<std::uint64_t>(
                                                    std::max<std::int64_t>(1, now - day_start)));
                // Zipf-ish: the square of a uniform number favours small page ids.
                const double u = static_cast<double>((r >> 32) & 0xFFFF) / 65536.0;
                e.page = e.kind == EventKind::pageview
                             ? "/page/" + std::to_string(static_cast<int>(u * u * 500))
                             : "";
                e.event_name =
                    e.kind == EventKind::custom ? (session % 3 == 0 ? "signup" : "click") : "";
                e.referrer = referrers[(r >> 48) % 5];
                e.country = countries[(r >> 52) % 8];
                e.device = static_cast<Device>((r >> 56) % kDeviceCount);
                e.session_id = "session-" + std::to_string(session);
                e.user_id = session % 3 == 0 ? "user-" + std::to_string(session % 50'000) : "";
                e.visitor_id = "visitor-" + std::to_string(session % 60'000);
                e.properties = e.kind == EventKind::custom ? R"({"plan":"pro"})" : "";
            }
            if (!log.append(static_cast<std::size_t>(i / 100) % static_cast<std::size_t>(writers),
                            batch.data(), static_cast<std::size_t>(n))) {
                std::fprintf(stderr, "append failed\n");
                return 1;
            }
        }
        bytes = log.bytes_written();
    }
    std::printf("wrote %ld events, %.1f MiB, %ld writer(s), in %.2f s\n", events,
                static_cast<double>(bytes) / (1 << 20), writers, seconds_since(start));

    // 2. Replay alone.
    {
        durability::EventLog log(
            {dir, static_cast<std::size_t>(writers), durability::FsyncMode::never});
        std::uint64_t pages = 0;
        start = Clock::now();
        const auto stats = log.replay([&](const Event& e) { pages += e.page.size(); });
        const double s = seconds_since(start);
        std::printf("replay (read + decode): %llu events in %.3f s = %.0f events/s, %.0f MiB/s\n",
                    static_cast<unsigned long long>(stats.records), s,
                    static_cast<double>(stats.records) / s,
                    static_cast<double>(stats.bytes) / (1 << 20) / s);
    }

    // 3. Replay into a Store, as tallyd's start does (Persistence::recover): writer w into
    // shard w, once on one thread and once with a thread per core, same run.
    const unsigned cores = std::max(1U, std::thread::hardware_concurrency());
    for (const unsigned threads : {1U, cores}) {
        durability::EventLog log(
            {dir, static_cast<std::size_t>(writers), durability::FsyncMode::never});
        store::StoreOptions options;
        options.shards = static_cast<std::size_t>(writers);
        store::Store store(options);
        start = Clock::now();
        const auto stats = log.replay_from(
            {},
            [&](std::size_t writer, const durability::LogPosition&, const Event& e) {
                (void)store.admit(writer % options.shards, e);
                store.apply(writer % options.shards, e, now);
            },
            threads);
        const double s = seconds_since(start);
        std::printf(
            "replay + store apply (%u thread(s)): %llu events in %.3f s = %.0f events/s (target "
            ">= 2,000,000)\n",
            threads, static_cast<unsigned long long>(stats.records), s,
            static_cast<double>(stats.records) / s);
    }
    std::filesystem::remove_all(dir);
    return 0;
}
