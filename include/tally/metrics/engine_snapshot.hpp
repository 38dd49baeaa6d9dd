#pragma once
// Snapshots of the metrics engine, and the engine's part in recovery (the LoggedState that
// durability::Persistence drives).
//
// File: <snapshot dir>/metrics-<created_ms>-<seq>.snap, written as a synced .tmp renamed
// into place. Layout (integers little-endian, f64 as IEEE-754 bits):
//
//   "TALLYMET" | u32 version (1) | i64 created_ms
//   u32 names   | names x (str workspace, str name, u8 type, u8 window)
//   u32 series  | series x (u32 name, u8 tags, tags x (str key, str value), f64 gauge_last)
//   u32 shards  | shards x (u64 segment, u64 offset, u32 n, n x series state)
//   u32 extra   | extra x (u64 segment, u64 offset)   writers past the shard count
//     series state: u32 id, u8 kind, f64 total_count, f64 total_sum, f64 last, i64 last_ms,
//                   3 tiers x (u32 buckets, buckets x (i64 number, bucket))
//     bucket:  counter f64 sum, f64 count | gauge f64 count, sum, min, max, last, i64 last_ms
//              distribution str DDSketch encoding | set f64 points, str DistinctSet encoding
//   u32 crc32c of every byte before it
//   (str = u32 length + bytes)
//
// The registry is written after the shards, so every series a shard holds is in it (ids
// only grow), and a shard's position is read under the lock its state is copied under:
// replaying that writer from there counts every later point exactly once. Loading into an
// engine with fewer shards merges a saved shard into shard i % n (bucket merges are exact).

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tally/durability/logged_state.hpp"
#include "tally/metrics/engine.hpp"

namespace tally::metrics {

class Derivations;

/// The snapshot bytes of `engine`; `extra_positions`: the log positions of writers past
/// the shard count (a previous run had more), wholly inside the state.
std::string encode_engine(const Engine& engine, std::int64_t created_ms,
                          const std::vector<store::LogPosition>& extra_positions = {});
/// Loads `bytes` into an empty engine. The positions saved per writer; nullopt, with the
/// reason in `error`, when the bytes are damaged (the engine is then to be discarded).
std::optional<std::vector<store::LogPosition>> decode_engine(std::string_view bytes, Engine& into,
                                                             std::string& error);

/// The engine's part in recovery and snapshots.
class EngineState final : public durability::LoggedState {
  public:
    EngineState(Engine& engine, const Derivations& derivations)
        : engine_(engine), derivations_(derivations) {}

    std::vector<store::LogPosition> load(const std::filesystem::path& dir) override;
    void replay(std::size_t writer, const Event& event, std::int64_t now_ms) override;
    void replay(std::size_t writer, MetricPoint& point, std::int64_t now_ms) override;
    void recovered(const std::vector<store::LogPosition>& ends) override;
    bool save(const std::filesystem::path& dir, std::size_t kept, std::int64_t now_ms) override;
    std::vector<store::LogPosition> needed_from(const std::filesystem::path& dir) override;
    std::uint64_t applied() const override { return engine_.points_applied(); }
    void retain(std::int64_t now_ms) override { engine_.prune(now_ms); }

  private:
    Engine& engine_;
    const Derivations& derivations_;
    std::vector<store::LogPosition> extra_positions_;  // writers past the shard count
    // The positions of the snapshots this run wrote or loaded (what retention may trust).
    std::map<std::filesystem::path, std::vector<store::LogPosition>> kept_positions_;
    std::uint64_t sequence_ = 0;
};

/// The metrics snapshots in `dir`, newest first.
std::vector<std::filesystem::path> list_engine_snapshots(const std::filesystem::path& dir);

}  // namespace tally::metrics
