#pragma once
// The rejects log (the audit trail of seed 002): one JSON line per refused input, with the
// time, the route, the reason, the field, the error sentence and the raw payload (cut at
// 4 KiB), appended to <data-dir>/rejects.log. Rejections are the cold path; one mutex
// keeps lines whole.

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string_view>

namespace tally::durability {

class RejectsLog {
  public:
    static constexpr std::size_t kMaxPayload = 4096;

    /// Opens (creating) the file. Throws std::system_error naming it on failure.
    explicit RejectsLog(const std::filesystem::path& path);
    ~RejectsLog();
    RejectsLog(const RejectsLog&) = delete;
    RejectsLog& operator=(const RejectsLog&) = delete;

    void append(std::int64_t now_ms, std::string_view route, std::string_view reason,
                std::string_view field, std::string_view error, std::string_view payload);

  private:
    std::mutex mutex_;
    int fd_ = -1;
};

}  // namespace tally::durability
