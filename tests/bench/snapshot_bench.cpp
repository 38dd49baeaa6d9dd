// Snapshot size and speed for one big day (issue 3's benchmark): by default 1,000,000
// visitors viewing 100,000 distinct pages, two page views each, on one site and day,
// spread over the shards as the I/O threads would. Prints the snapshot's size, the time to
// write it (encode + write + fsync + rename), to load it into a fresh store, and the longest
// time one shard's lock was held while encoding (what ingest may wait).
//
//   snapshot_bench [visitors] [pages] [shards] [dir]

#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "tally/durability/snapshot.hpp"
#include "tally/ingest/time.hpp"
#include "tally/query/query.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
    using namespace tally;
    const long visitors = argc > 1 ? std::atol(argv[1]) : 1'000'000;
    const long pages = argc > 2 ? std::atol(argv[2]) : 100'000;
    const long shards = argc > 3 ? std::atol(argv[3]) : 2;
    const std::filesystem::path dir = argc > 4
                                          ? std::filesystem::path(argv[4])
                                          : std::filesystem::temp_directory_path() /
                                                ("snapshot_bench." + std::to_string(::getpid()));
    if (visitors <= 0 || pages <= 0 || shards <= 0) {
        std::fprintf(stderr, "usage: snapshot_bench [visitors] [pages] [shards] [dir]\n");
        return 2;
    }

    const std::int64_t day_start = 1'700'000'000'000 / ingest::kMsPerDay * ingest::kMsPerDay;
    const std::int64_t now = day_start + ingest::kMsPerDay - 60'000;
    store::StoreOptions options;
    options.shards = static_cast<std::size_t>(shards);
    store::Store store(options);

    auto start = Clock::now();
    ingest::Event e;
    e.site = "bench";
    e.referrer = "direct";
    long events = 0;
    for (long v = 0; v < visitors; ++v) {
        e.visitor_id = "visitor-" + std::to_string(v);
        e.session_id = "session-" + std::to_string(v);
        e.user_id = v % 4 == 0 ? e.visitor_id : "";
        for (int k = 0; k < 2; ++k) {
            // Each page gets about the same share; a visitor's second view is elsewhere.
            e.page = "/page/" + std::to_string((v * 2 + k) * 7919 % pages);
            e.referrer = k == 0 ? "site" + std::to_string(v % 5000) + ".example" : "direct";
            e.country = v % 3 == 0 ? "" : (v % 3 == 1 ? "DE" : "US");
            e.device = static_cast<ingest::Device>(v % ingest::kDeviceCount);
            e.timestamp_ms = day_start + (v * ingest::kMsPerDay / visitors) + k * 1000;
            store.apply(static_cast<std::size_t>(v % shards), e, now);
            ++events;
        }
    }
    std::printf("fed %ld events (%ld visitors, %ld pages, %ld shards) in %.0f ms\n", events,
                visitors, pages, shards, ms_since(start));

    durability::SnapshotMeta meta{now, {{1, 4096}, {2, 8192}}, 0};
    start = Clock::now();
    const durability::WrittenSnapshot written = durability::write_snapshot(store, meta, dir);
    const double write_ms = ms_since(start);
    std::printf("snapshot: %.1f MiB, written in %.0f ms (encode + write + fsync + rename)\n",
                static_cast<double>(written.stats.bytes) / (1 << 20), write_ms);
    std::printf("shard lock held: max %.1f ms, total %.1f ms over %ld shards\n",
                static_cast<double>(written.stats.max_lock_hold.count()) / 1e6,
                static_cast<double>(written.stats.total_lock_hold.count()) / 1e6, shards);

    // The alternative to encoding under the lock: copy the shard's state under it and
    // encode the copy afterwards. This is how long that copy would hold shard 0's lock.
    {
        const auto copy_start = Clock::now();
        double copy_ms = 0;
        store.visit_shard(0, [&](const store::StringMap<store::SiteShard>& sites) {
            const store::StringMap<store::SiteShard> copy = sites;
            copy_ms = ms_since(copy_start);
        });
        std::printf("copying shard 0's state instead would hold its lock %.1f ms\n", copy_ms);
    }

    store::Store loaded(options);
    start = Clock::now();
    durability::LoadReport report;
    const auto m = durability::load_newest_snapshot(dir, loaded, &report);
    const double load_ms = ms_since(start);
    if (!m) {
        std::fprintf(stderr, "load failed\n");
        return 1;
    }
    std::printf("loaded in %.0f ms\n", load_ms);

    // The loaded store answers like the original.
    const auto range = query::parse_range(ingest::format_day(ingest::day_of(day_start)), now);
    const bool same = query::to_json(query::build_dashboard(store, "bench", *range, now)) ==
                      query::to_json(query::build_dashboard(loaded, "bench", *range, now));
    std::printf("dashboards equal: %s\n", same ? "yes" : "NO");

    std::error_code ec;
    if (argc <= 4)
        std::filesystem::remove_all(dir, ec);
    return same ? 0 : 1;
}
