#pragma once
// FunnelRun: a day's funnel steps moved out of memory, read in place from a mapped file.
//
// Why: the funnel log keeps every step of a day (16 bytes each) so that /funnel is exact;
// on a busy day that is most of the daemon's memory. Beyond its budget a shard moves the
// steps of its largest day logs into runs, and /funnel reads memory and runs alike.
//
// What a run holds: the steps of one (site, day, shard) that were in memory when it was
// written, grouped by label (the step name: "signup", "pageview:/pricing"), each group in
// arrival order, with its own tables of labels and identities. A query reads only the
// groups of the labels it asks for, in place: no copy, no allocation per step.
//
// This file is the run's body. durability/funnel_run_files frames it (magic, checksum,
// fsync, rename) and maps it; the body alone is what parse() checks and reads:
//
//   u32 site length, site | i64 day | u64 steps |
//   u32 labels, each: u32 length, bytes, u64 steps in its group (groups follow each other
//     in label order and add up to the steps) |
//   u32 identities | u64 blob size | identities + 1 u64 offsets into the blob (0 first,
//     never decreasing, the blob size last) | blob |
//   steps x (u32 identity, i64le timestamp_ms)
//
// Invariants parse() checks, so readers never do: every range lies inside the body, the
// groups add up to the steps, every step's identity exists, labels are distinct and, like
// identities, UTF-8 (they came through the JSON parser).
//
// Cost: 12 bytes per step plus each identity once per run, on disk; in memory, the label
// index (one entry per label) and the mapping's resident pages, which the kernel may drop.

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "tally/store/day_state.hpp"

namespace tally::store {

/// Writes the body of a run holding `log`'s first `steps` steps of `site` on `day`, in
/// pieces handed to `sink` (so the caller checksums and writes them without a second copy).
/// The steps are sorted into their groups `chunk_bytes` at a time (a pass over the log
/// each): what a move holds besides the log.
void encode_funnel_run(std::string_view site, std::int64_t day, const FunnelLog::View& log,
                       std::size_t steps, const std::function<void(std::string_view)>& sink,
                       std::size_t chunk_bytes = std::size_t{8} << 20);

class FunnelRun {
  public:
    static constexpr std::size_t kStepBytes = 12;

    /// Checks `body` (see the format above). `owner` keeps the bytes alive (a mapping) as
    /// long as the run lives; `file` and `checksum` name what the body came from. nullptr,
    /// with `why` set, when the body is malformed.
    static std::shared_ptr<const FunnelRun> parse(std::shared_ptr<const void> owner,
                                                  std::string_view body, std::string file,
                                                  std::uint32_t checksum, std::string& why);

    const std::string& file() const { return file_; }
    std::uint32_t checksum() const { return checksum_; }
    std::string_view site() const { return site_; }
    std::int64_t day() const { return day_; }
    std::uint64_t steps() const { return steps_; }
    std::uint64_t bytes() const { return body_.size(); }

    /// Calls fn(std::uint32_t identity, std::int64_t timestamp_ms) for every step named
    /// `label`, in the order they arrived; identity_name() gives an identity's string.
    template <typename Fn>
    void for_each_step(std::string_view label, Fn&& fn) const {
        const auto it = groups_.find(label);
        if (it == groups_.end())
            return;
        const char* step = steps_at_ + it->second.first * kStepBytes;
        for (std::uint64_t i = 0; i < it->second.count; ++i, step += kStepBytes) {
            std::uint32_t identity = 0;
            std::int64_t timestamp_ms = 0;
            std::memcpy(&identity, step, 4);
            std::memcpy(&timestamp_ms, step + 4, 8);
            fn(identity, timestamp_ms);
        }
    }

    std::uint32_t identities() const { return identities_; }
    std::string_view identity_name(std::uint32_t identity) const {
        std::uint64_t from = 0;
        std::uint64_t to = 0;
        std::memcpy(&from, offsets_at_ + 8 * std::size_t{identity}, 8);
        std::memcpy(&to, offsets_at_ + 8 * (std::size_t{identity} + 1), 8);
        return {blob_at_ + from, static_cast<std::size_t>(to - from)};
    }

  private:
    struct Group {
        std::uint64_t first = 0;
        std::uint64_t count = 0;
    };
    FunnelRun() = default;
    bool read(std::string_view body, std::string& why);

    std::shared_ptr<const void> owner_;
    std::string_view body_;
    std::string file_;
    std::uint32_t checksum_ = 0;
    std::string_view site_;
    std::int64_t day_ = 0;
    std::uint64_t steps_ = 0;
    std::unordered_map<std::string_view, Group> groups_;
    std::uint32_t identities_ = 0;
    const char* offsets_at_ = nullptr;
    const char* blob_at_ = nullptr;
    const char* steps_at_ = nullptr;
};

}  // namespace tally::store
