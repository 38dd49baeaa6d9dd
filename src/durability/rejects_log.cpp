#include "tally/durability/rejects_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <system_error>

#include "tally/base/time.hpp"

namespace tally::durability {

namespace fs = std::filesystem;

namespace {

/// Parses "r-YYYY-MM-DD-NNNN.log" into its day and seq; false for any other name.
bool parse_name(const std::string& name, std::int64_t& day, std::uint32_t& seq) {
    // r- (2) + day (10) + - (1) + seq (>=4) + .log (4)
    if (name.size() < 21 || !name.starts_with("r-") || !name.ends_with(".log") || name[12] != '-')
        return false;
    const auto parsed = parse_day(std::string_view(name).substr(2, 10));
    if (!parsed)
        return false;
    const char* begin = name.data() + 13;
    const char* end = name.data() + name.size() - 4;
    auto [p, ec] = std::from_chars(begin, end, seq);
    if (ec != std::errc{} || p != end)
        return false;
    day = *parsed;
    return true;
}

std::string file_name(std::int64_t day, std::uint32_t seq) {
    char tail[32];
    std::snprintf(tail, sizeof(tail), "-%04u.log", seq);
    return "r-" + format_day(day) + tail;
}

void add_payload(nlohmann::ordered_json& j, std::string_view payload) {
    const std::string_view cut = payload.substr(0, RejectsLog::kMaxPayload);
    j["payload"] = std::string(cut);
    if (cut.size() < payload.size())
        j["payload_bytes"] = payload.size();
}

std::string dump(const nlohmann::ordered_json& j) {
    // Payloads are arbitrary bytes: replace invalid UTF-8 rather than refuse to log them.
    std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    line += '\n';
    return line;
}

}  // namespace

RejectsLog::RejectsLog(RejectsLogOptions options) : options_(std::move(options)) {
    if (options_.retention_days < 1)
        options_.retention_days = 1;
    std::error_code ec;
    fs::create_directories(options_.dir, ec);
    if (ec)
        throw std::system_error(ec, "cannot create " + options_.dir.string());
}

RejectsLog::~RejectsLog() {
    if (fd_ >= 0)
        ::close(fd_);
}

std::vector<fs::path> RejectsLog::files(const fs::path& dir) {
    std::vector<std::pair<std::pair<std::int64_t, std::uint32_t>, fs::path>> found;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        std::int64_t day = 0;
        std::uint32_t seq = 0;
        if (parse_name(entry.path().filename().string(), day, seq))
            found.push_back({{day, seq}, entry.path()});
    }
    std::sort(found.begin(), found.end());
    std::vector<fs::path> paths;
    paths.reserve(found.size());
    for (auto& [key, path] : found)
        paths.push_back(std::move(path));
    return paths;
}

// Opens the file that takes `day`'s next lines: the day's newest while it has room, else a
// new one. Called with mutex_ held.
void RejectsLog::open_segment(std::int64_t day) {
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
    std::uint32_t seq = day == day_ ? seq_ + 1 : 1;
    if (day != day_) {
        // After a restart, continue the day's newest file.
        for (const auto& path : files(options_.dir)) {
            std::int64_t d = 0;
            std::uint32_t s = 0;
            if (parse_name(path.filename().string(), d, s) && d == day)
                seq = std::max(seq, s);
        }
    }
    for (;;) {
        const fs::path path = options_.dir / file_name(day, seq);
        fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd_ < 0)
            return;  // the next line tries again
        struct stat st {};
        size_ = ::fstat(fd_, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
        day_ = day;
        seq_ = seq;
        if (size_ < options_.segment_bytes)
            return;
        ::close(fd_);
        fd_ = -1;
        ++seq;
    }
}

void RejectsLog::write_line(std::int64_t now_ms, std::string& line) {
    const std::int64_t day = day_of(now_ms);
    std::lock_guard lock(mutex_);
    if (fd_ < 0 || day != day_ || size_ >= options_.segment_bytes)
        open_segment(day);
    if (fd_ < 0)
        return;
    // A failed write of the audit trail must not fail the answer; the metric still counts it.
    const ssize_t n = ::write(fd_, line.data(), line.size());
    if (n > 0)
        size_ += static_cast<std::uint64_t>(n);
}

void RejectsLog::append(std::int64_t now_ms, std::string_view route, std::string_view reason,
                        std::string_view field, std::string_view error, std::string_view payload) {
    nlohmann::ordered_json j;
    j["time"] = format_rfc3339_ms(now_ms);
    j["route"] = route;
    j["reason"] = reason;
    j["field"] = field;
    j["error"] = error;
    add_payload(j, payload);
    std::string line = dump(j);
    write_line(now_ms, line);
}

void RejectsLog::append_batch(std::int64_t now_ms, std::string_view route,
                              const std::vector<BatchItemRejection>& items,
                              std::string_view payload) {
    nlohmann::ordered_json j;
    j["time"] = format_rfc3339_ms(now_ms);
    j["route"] = route;
    j["reason"] = "batch_items";
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& item : items) {
        list.push_back({{"index", item.index},
                        {"reason", item.rejection.reason},
                        {"field", item.rejection.field},
                        {"error", item.rejection.message}});
    }
    j["items"] = std::move(list);
    add_payload(j, payload);
    std::string line = dump(j);
    write_line(now_ms, line);
}

std::vector<fs::path> RejectsLog::remove_expired(std::int64_t now_ms) {
    const std::int64_t oldest_kept = day_of(now_ms) - options_.retention_days + 1;
    std::vector<fs::path> removed;
    std::lock_guard lock(mutex_);  // not while a line is being written to a file going away
    for (const auto& path : files(options_.dir)) {
        std::int64_t day = 0;
        std::uint32_t seq = 0;
        if (!parse_name(path.filename().string(), day, seq) || day >= oldest_kept)
            continue;
        if (fd_ >= 0 && day == day_ && seq == seq_) {
            ::close(fd_);  // the clock went back or the window shrank: reopen on next line
            fd_ = -1;
            day_ = 0;
        }
        std::error_code ec;
        if (fs::remove(path, ec))
            removed.push_back(path);
    }
    return removed;
}

}  // namespace tally::durability
