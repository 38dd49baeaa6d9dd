#pragma once
// The cookieless visitor id: when an event has no user_id, the visitor is
// SipHash-2-4 keyed by a random salt of the event's UTC day, over (site, client IP,
// User-Agent). Salts live in <data-dir>/salts/<YYYY-MM-DD> so a restart keeps the day's
// visitors the same, and are deleted once their day is more than two days past, so an old
// hash can no longer be recomputed from the inputs.

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <shared_mutex>
#include <string>
#include <string_view>

namespace tally::ingest {

class VisitorHasher {
  public:
    /// `salt_dir` is created when missing. Throws std::runtime_error when it cannot be.
    explicit VisitorHasher(std::filesystem::path salt_dir);

    /// 16 hex digits. Thread-safe; the day's salt is created (and persisted) on first use.
    std::string visitor_id(std::int64_t day, std::string_view site, std::string_view client_ip,
                           std::string_view user_agent) const;

    /// Deletes the salts of days before `oldest_day_kept` from memory and disk.
    void forget_before(std::int64_t oldest_day_kept);

  private:
    using Salt = std::array<std::uint8_t, 16>;
    Salt salt_for(std::int64_t day) const;

    std::filesystem::path salt_dir_;
    mutable std::shared_mutex mutex_;
    mutable std::map<std::int64_t, Salt> salts_;  // day (days since epoch) -> salt
};

/// SipHash-2-4 (Aumasson & Bernstein), 64-bit output.
std::uint64_t siphash24(const std::array<std::uint8_t, 16>& key, std::string_view data);

}  // namespace tally::ingest
