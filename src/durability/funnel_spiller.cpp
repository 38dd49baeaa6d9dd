#include "tally/durability/funnel_spiller.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <system_error>

#include "tally/durability/funnel_run_files.hpp"
#include "tally/store/store.hpp"
#include "tally/telemetry/metrics.hpp"

namespace tally::durability {

namespace fs = std::filesystem;

namespace {

// Passes are bounded: a shard that cannot get under half its share (its logs are mostly
// labels, or the disk refuses) is left for the next interval.
constexpr int kMovesPerShardPass = 64;

std::string run_name(std::size_t shard, std::int64_t day, std::uint64_t sequence) {
    char name[64];
    std::snprintf(name, sizeof name, "f%zu-%lld-%08llu", shard, static_cast<long long>(day),
                  static_cast<unsigned long long>(sequence));
    return std::string(name) + std::string(kFunnelRunSuffix);
}

/// The sequence number of a run's file name, or 0 for another file.
std::uint64_t sequence_of(const std::string& name) {
    const auto dash = name.rfind('-');
    if (name.empty() || name[0] != 'f' || dash == std::string::npos)
        return 0;
    try {
        return std::stoull(name.substr(dash + 1));
    } catch (const std::exception&) {
        return 0;
    }
}

}  // namespace

FunnelSpiller::FunnelSpiller(FunnelSpillOptions options, store::Store& store)
    : options_(std::move(options)), store_(store) {
    std::error_code ec;
    fs::create_directories(options_.dir, ec);
    if (ec)
        throw std::system_error(ec, "cannot create " + options_.dir.string());
}

std::size_t FunnelSpiller::tidy() {
    const std::vector<std::string> held = store_.funnel_run_files();
    const std::set<std::string, std::less<>> keep(held.begin(), held.end());
    std::uint64_t highest = 0;
    std::size_t removed = 0;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(options_.dir, ec)) {
        const std::string name = entry.path().filename().string();
        highest = std::max(highest, sequence_of(name));
        if (keep.contains(name))
            continue;
        std::error_code remove_error;
        if (fs::remove(entry.path(), remove_error))
            ++removed;
    }
    next_sequence_ = highest + 1;
    if (removed > 0)
        spdlog::info("funnels: removed {} run files no snapshot holds", removed);
    return removed;
}

void FunnelSpiller::start() {
    loop_.start(
        options_.interval,
        [this] {
            // The logs just freed were the largest blocks the daemon had: hand the heap's
            // free pages back, or resident memory stays at its high-water mark.
            if (move_once() > 0)
                ::malloc_trim(0);
        },
        true);
}

std::size_t FunnelSpiller::move_once() {
    const std::size_t shards = store_.shard_count();
    const std::size_t share = options_.memory_budget_bytes / shards;
    std::size_t written = 0;
    for (std::size_t shard = 0; shard < shards; ++shard) {
        if (!move_largest(shard, share))
            continue;
        ++written;
        for (int i = 1; i < kMovesPerShardPass && move_largest(shard, share / 2); ++i)
            ++written;
    }
    return written;
}

bool FunnelSpiller::move_largest(std::size_t shard, std::size_t budget) {
    const std::optional<store::Store::FunnelToMove> chosen = store_.funnel_to_move(shard, budget);
    if (!chosen)
        return false;
    const std::string name = run_name(shard, chosen->day, next_sequence_++);
    std::shared_ptr<const store::FunnelRun> run;
    try {
        run = write_funnel_run(options_.dir, name, chosen->site, chosen->day, chosen->log,
                               chosen->steps);
    } catch (const std::system_error& e) {
        ++failures_;
        std::lock_guard lock(problem_mutex_);
        if (!failing_)
            spdlog::error("funnels: cannot move a day to disk, it stays in memory: {}", e.what());
        failing_ = true;
        return false;
    }
    {
        std::lock_guard lock(problem_mutex_);
        if (failing_)
            spdlog::info("funnels: moving days to disk works again");
        failing_ = false;
    }
    if (!store_.funnel_moved(shard, *chosen, run)) {
        std::error_code ec;
        fs::remove(options_.dir / name, ec);  // the day left meanwhile
        return false;
    }
    ++runs_written_;
    steps_moved_ += chosen->steps;
    return true;
}

void FunnelSpiller::register_metrics(telemetry::Metrics& metrics) const {
    metrics.add_callback("tally_funnel_runs_written_total",
                         "Funnel runs written: day logs moved from memory to disk.", "counter",
                         [this] { return static_cast<double>(runs_written_.load()); });
    metrics.add_callback("tally_funnel_steps_moved_total",
                         "Funnel steps moved from memory to runs on disk.", "counter",
                         [this] { return static_cast<double>(steps_moved_.load()); });
    metrics.add_callback("tally_funnel_run_failures_total",
                         "Funnel runs that could not be written (the day stayed in memory).",
                         "counter", [this] { return static_cast<double>(failures_.load()); });
    metrics.add_callback("tally_funnel_memory_budget_bytes",
                         "limits.funnel_memory_mb: the funnel logs' budget in memory.", "gauge",
                         [this] { return static_cast<double>(options_.memory_budget_bytes); });
    const auto total = [this](std::size_t store::Store::FunnelFootprint::*field) {
        std::size_t sum = 0;
        for (std::size_t shard = 0; shard < store_.shard_count(); ++shard)
            sum += store_.funnel_footprint(shard).*field;
        return static_cast<double>(sum);
    };
    metrics.add_callback("tally_funnel_memory_bytes", "Funnel steps held in memory, in bytes.",
                         "gauge",
                         [total] { return total(&store::Store::FunnelFootprint::memory_bytes); });
    metrics.add_callback("tally_funnel_runs", "Funnel runs on disk.", "gauge",
                         [total] { return total(&store::Store::FunnelFootprint::runs); });
    metrics.add_callback("tally_funnel_disk_bytes", "Funnel runs on disk, in bytes.", "gauge",
                         [total] { return total(&store::Store::FunnelFootprint::disk_bytes); });
}

}  // namespace tally::durability
