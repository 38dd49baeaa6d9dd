// The audit trail's files; see tally/audit/audit_log.hpp.

#include "tally/audit/audit_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <cerrno>
#include <nlohmann/json.hpp>
#include <system_error>

#include "tally/base/time.hpp"
#include "tally/durability/crc32c.hpp"
#include "tally/durability/files.hpp"
#include "tally/telemetry/metrics.hpp"

namespace tally::audit {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr int kPayloadVersion = 1;
constexpr std::string_view kSuffix = ".audit";
constexpr std::string_view kTornSuffix = ".torn-";
constexpr std::size_t kReadChunk = 64u << 10;
// 9999-12-31T23:59:59.999Z: the last time a day file's name (YYYY-MM-DD) can hold.
constexpr std::int64_t kLastTime = 253'402'300'799'999;

std::uint32_t get_u32(const char* p) {
    const auto* u = reinterpret_cast<const unsigned char*>(p);
    return std::uint32_t{u[0]} | std::uint32_t{u[1]} << 8 | std::uint32_t{u[2]} << 16 |
           std::uint32_t{u[3]} << 24;
}

void put_u32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i)
        out.push_back(static_cast<char>(v >> (8 * i)));
}

std::string cut(const std::string& text) {
    return text.size() <= kMaxField ? text : text.substr(0, kMaxField);
}

bool get_string(const json& payload, const char* key, std::string& out) {
    const auto it = payload.find(key);
    if (it == payload.end() || !it->is_string())
        return false;
    out = it->get<std::string>();
    return true;
}

bool get_int(const json& payload, const char* key, std::int64_t& out) {
    const auto it = payload.find(key);
    if (it == payload.end() || !it->is_number_integer())
        return false;
    out = it->get<std::int64_t>();
    return true;
}

bool decode_payload(std::string_view bytes, Entry& entry) {
    const json payload = json::parse(bytes, nullptr, false);
    if (!payload.is_object())
        return false;
    std::int64_t version = 0;
    return get_int(payload, "v", version) && version == kPayloadVersion &&
           get_int(payload, "time_ms", entry.time_ms) && entry.time_ms > 0 &&
           entry.time_ms <= kLastTime && get_string(payload, "workspace", entry.workspace) &&
           get_string(payload, "token_id", entry.token_id) &&
           get_string(payload, "action", entry.action) &&
           get_string(payload, "object_id", entry.object_id) &&
           get_int(payload, "version_before", entry.version_before) &&
           get_int(payload, "version_after", entry.version_after) &&
           get_string(payload, "detail", entry.detail);
}

std::string errno_text() {
    return std::system_category().message(errno);
}

/// Reads the frames of a file's first `limit` bytes one at a time through a bounded
/// buffer, so a day file of any size costs one frame's memory.
class FrameReader {
  public:
    FrameReader(int fd, std::uint64_t limit) : fd_(fd), limit_(limit) {}

    FrameStatus next(Entry& entry) {
        if (!fill(kFrameHeaderSize))
            return available() == 0 ? FrameStatus::end : FrameStatus::torn;
        const std::uint32_t length = get_u32(buffer_.data() + pos_);
        if (length == 0 || length > kMaxPayload)
            return FrameStatus::corrupt;
        if (!fill(kFrameHeaderSize + length))
            return FrameStatus::torn;
        std::size_t size = 0;
        const FrameStatus status =
            decode_frame(std::string_view(buffer_).substr(pos_), entry, size);
        if (status == FrameStatus::ok) {
            pos_ += size;
            offset_ += size;
        }
        return status;
    }

    /// Where the next frame begins: the end of the last whole frame.
    std::uint64_t offset() const { return offset_; }

  private:
    std::size_t available() const { return buffer_.size() - pos_; }

    /// Makes `need` bytes from pos_ available; false when the file (or limit) ends first.
    bool fill(std::size_t need) {
        if (available() >= need)
            return true;
        buffer_.erase(0, pos_);
        pos_ = 0;
        while (buffer_.size() < need && read_ < limit_) {
            const std::size_t want = std::min<std::uint64_t>(
                std::max(kReadChunk, need - buffer_.size()), limit_ - read_);
            const std::size_t had = buffer_.size();
            buffer_.resize(had + want);
            const ssize_t n = ::pread(fd_, buffer_.data() + had, want, static_cast<off_t>(read_));
            if (n < 0 && errno == EINTR) {
                buffer_.resize(had);
                continue;
            }
            buffer_.resize(had + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
            if (n <= 0)
                break;
            read_ += static_cast<std::uint64_t>(n);
        }
        return available() >= need;
    }

    int fd_;
    std::uint64_t limit_;
    std::string buffer_;
    std::size_t pos_ = 0;       // of the next frame in buffer_
    std::uint64_t offset_ = 0;  // of the next frame in the file
    std::uint64_t read_ = 0;    // file bytes read into buffer_ so far
};

/// Writes all of `bytes` at the end of `fd` (O_APPEND); false with errno set on failure.
bool write_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return false;
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

/// Copies bytes [from, to) of `fd` into a new file at `path`, fsynced; false on failure.
bool copy_aside(int fd, std::uint64_t from, std::uint64_t to, const fs::path& path) {
    const int out = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0)
        return false;
    std::string chunk;
    bool ok = true;
    while (ok && from < to) {
        chunk.resize(std::min<std::uint64_t>(kReadChunk, to - from));
        const ssize_t n = ::pread(fd, chunk.data(), chunk.size(), static_cast<off_t>(from));
        if (n < 0 && errno == EINTR)
            continue;
        ok =
            n > 0 && write_all(out, std::string_view(chunk).substr(0, static_cast<std::size_t>(n)));
        from += static_cast<std::uint64_t>(std::max<ssize_t>(n, 0));
    }
    ok = ::fsync(out) == 0 && ok;
    ::close(out);
    return ok;
}

}  // namespace

std::string encode_frame(const Entry& entry) {
    json payload = json::object();
    payload["v"] = kPayloadVersion;
    payload["time_ms"] = entry.time_ms;
    payload["workspace"] = cut(entry.workspace);
    payload["token_id"] = cut(entry.token_id);
    payload["action"] = cut(entry.action);
    payload["object_id"] = cut(entry.object_id);
    payload["version_before"] = entry.version_before;
    payload["version_after"] = entry.version_after;
    payload["detail"] = cut(entry.detail);
    // A field cut inside a UTF-8 sequence (or sent as bytes that are not UTF-8) is written
    // with U+FFFD in its place rather than refused: an audit entry is never dropped for it.
    const std::string body = payload.dump(-1, ' ', false, json::error_handler_t::replace);
    std::string frame;
    frame.reserve(kFrameHeaderSize + body.size());
    put_u32(frame, static_cast<std::uint32_t>(body.size()));
    put_u32(frame, durability::crc32c(body));
    frame += body;
    return frame;
}

FrameStatus decode_frame(std::string_view bytes, Entry& entry, std::size_t& size) {
    if (bytes.empty())
        return FrameStatus::end;
    if (bytes.size() < kFrameHeaderSize)
        return FrameStatus::torn;
    const std::uint32_t length = get_u32(bytes.data());
    const std::uint32_t checksum = get_u32(bytes.data() + 4);
    // Checked before the length is trusted: a damaged length must not ask for more bytes.
    if (length == 0 || length > kMaxPayload)
        return FrameStatus::corrupt;
    if (bytes.size() - kFrameHeaderSize < length)
        return FrameStatus::torn;
    const std::string_view payload = bytes.substr(kFrameHeaderSize, length);
    if (durability::crc32c(payload) != checksum || !decode_payload(payload, entry))
        return FrameStatus::corrupt;
    size = kFrameHeaderSize + length;
    return FrameStatus::ok;
}

std::string file_name(std::int64_t day) {
    return format_day(day) + std::string(kSuffix);
}

std::optional<std::int64_t> file_day(std::string_view name) {
    if (name.size() != 10 + kSuffix.size() || !name.ends_with(kSuffix))
        return std::nullopt;
    return parse_day(name.substr(0, 10));
}

AuditLog::AuditLog(AuditOptions options) : options_(std::move(options)) {
    options_.retention_days = std::max(options_.retention_days, 1);
}

AuditLog::~AuditLog() {
    close_locked();
}

std::vector<AuditLog::Day> AuditLog::day_files() const {
    std::vector<Day> days;
    std::error_code ec;
    for (const auto& item : fs::directory_iterator(options_.dir, ec)) {
        if (const auto day = file_day(item.path().filename().string()))
            days.push_back(Day{*day, item.path()});
    }
    std::sort(days.begin(), days.end(), [](const Day& a, const Day& b) { return a.day < b.day; });
    return days;
}

void AuditLog::open(std::int64_t now_ms) {
    std::error_code ec;
    fs::create_directories(options_.dir, ec);
    if (ec)
        throw std::system_error(ec, "cannot create " + options_.dir.string());
    remove_expired(now_ms);
    const std::vector<Day> days = day_files();
    std::lock_guard lock(mutex_);
    close_locked();
    last_time_ = 0;
    if (days.empty())
        return;
    recover(days.back());
}

// Scans the newest file, cuts whatever follows its last whole frame, and leaves it open
// for appends. Called by open() with mutex_ held.
void AuditLog::recover(const Day& newest) {
    const int fd = ::open(newest.path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
    if (fd < 0)
        throw std::system_error(errno, std::system_category(),
                                "cannot open " + newest.path.string());
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int error = errno;
        ::close(fd);
        throw std::system_error(error, std::system_category(),
                                "cannot stat " + newest.path.string());
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    FrameReader reader(fd, size);
    Entry entry;
    FrameStatus status = FrameStatus::ok;
    // Entries are read in time order; the file's own day is a floor, so no later entry
    // can go to an older file than this one.
    last_time_ = newest.day * kMsPerDay;
    while ((status = reader.next(entry)) == FrameStatus::ok)
        last_time_ = std::max(last_time_, entry.time_ms);
    const std::uint64_t good = reader.offset();
    if (good < size) {
        torn_tails_.fetch_add(1);
        std::string kept = "not kept: a torn write";
        if (status == FrameStatus::corrupt) {
            const fs::path aside =
                newest.path.string() + std::string(kTornSuffix) + std::to_string(tally::now_ms());
            kept = copy_aside(fd, good, size, aside) ? "kept in " + aside.string()
                                                     : "could not be kept: " + errno_text();
        }
        if (::ftruncate(fd, static_cast<off_t>(good)) != 0 || ::fdatasync(fd) != 0) {
            const int error = errno;
            ::close(fd);
            throw std::system_error(error, std::system_category(),
                                    "cannot cut the damaged tail of " + newest.path.string());
        }
        spdlog::warn(
            "audit: {}: {} bytes after offset {} were {} and are cut ({}); appends "
            "continue after the last whole entry",
            newest.path.string(), size - good, good,
            status == FrameStatus::corrupt ? "damaged" : "a torn entry", kept);
    }
    fd_ = fd;
    day_ = newest.day;
    durable_ = good;
    dirty_ = false;
}

// Opens (or creates) `day`'s file for appends. Called with mutex_ held.
bool AuditLog::open_day_locked(std::int64_t day) {
    if (fd_ >= 0 && dirty_ && ::ftruncate(fd_, static_cast<off_t>(durable_)) != 0)
        spdlog::error("audit: a torn entry stays at the end of the {} file: {}", format_day(day_),
                      errno_text());
    close_locked();
    const fs::path path = options_.dir / file_name(day);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        spdlog::error("audit: cannot open {}: {}", path.string(), errno_text());
        return false;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        spdlog::error("audit: cannot stat {}: {}", path.string(), errno_text());
        ::close(fd);
        return false;
    }
    try {
        durability::sync_directory(options_.dir);  // the new file's name survives a crash
    } catch (const std::exception& e) {
        spdlog::error("audit: {}", e.what());
        ::close(fd);
        return false;
    }
    fd_ = fd;
    day_ = day;
    durable_ = static_cast<std::uint64_t>(st.st_size);
    dirty_ = false;
    return true;
}

void AuditLog::close_locked() {
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = -1;
}

bool AuditLog::append(const Entry& entry) {
    std::lock_guard lock(mutex_);
    Entry stamped = entry;
    if (stamped.time_ms <= 0 || stamped.time_ms > kLastTime)
        stamped.time_ms = tally::now_ms();
    stamped.time_ms = std::max(stamped.time_ms, last_time_);
    const std::int64_t day = day_of(stamped.time_ms);
    if ((fd_ < 0 || day != day_) && !open_day_locked(day)) {
        write_failures_.fetch_add(1);
        return false;
    }
    const std::string frame = encode_frame(stamped);
    // After a failed write, what did land is cut first, so no entry follows a torn frame.
    const bool clean = !dirty_ || ::ftruncate(fd_, static_cast<off_t>(durable_)) == 0;
    dirty_ = !clean;
    if (!clean || !write_all(fd_, frame) || ::fdatasync(fd_) != 0) {
        const std::string why = errno_text();
        // What did land is cut now, and again before the next write if that fails.
        dirty_ = ::ftruncate(fd_, static_cast<off_t>(durable_)) != 0;
        write_failures_.fetch_add(1);
        spdlog::error("audit: cannot write {} of {}: {}", stamped.action,
                      (options_.dir / file_name(day)).string(), why);
        return false;
    }
    durable_ += frame.size();
    last_time_ = stamped.time_ms;
    entries_.fetch_add(1);
    return true;
}

std::vector<Entry> AuditLog::read(std::string_view workspace, std::int64_t since_ms,
                                  std::size_t limit) const {
    std::vector<Entry> out;
    if (limit == 0)
        return out;
    std::int64_t open_day = 0;
    std::uint64_t durable = 0;
    bool open = false;
    {
        std::lock_guard lock(mutex_);
        open = fd_ >= 0;
        open_day = day_;
        durable = durable_;
    }
    const std::int64_t first_day = day_of(since_ms);
    Entry entry;
    for (const Day& file : day_files()) {
        if (file.day < first_day)
            continue;
        const int fd = ::open(file.path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;  // removed by retention meanwhile
        // The file being appended to is read only as far as it is whole and durable.
        FrameReader reader(fd, open && file.day == open_day ? durable : UINT64_MAX);
        while (out.size() < limit && reader.next(entry) == FrameStatus::ok) {
            if (entry.time_ms >= since_ms && (workspace.empty() || entry.workspace == workspace))
                out.push_back(entry);
        }
        ::close(fd);
        if (out.size() >= limit)
            break;
    }
    return out;
}

void AuditLog::remove_expired(std::int64_t now_ms) {
    const std::int64_t oldest_kept = day_of(now_ms) - options_.retention_days + 1;
    std::lock_guard lock(mutex_);
    std::error_code ec;
    for (const auto& item : fs::directory_iterator(options_.dir, ec)) {
        const std::string name = item.path().filename().string();
        // A day file, or a damaged tail copied aside from one.
        if (name.size() < 10 + kSuffix.size() || name.substr(10, kSuffix.size()) != kSuffix)
            continue;
        const auto day = parse_day(std::string_view(name).substr(0, 10));
        if (!day || *day >= oldest_kept)
            continue;
        if (fd_ >= 0 && *day == day_ && name.size() == 10 + kSuffix.size())
            close_locked();
        std::error_code removed;
        fs::remove(item.path(), removed);
        if (removed)
            spdlog::warn("audit: cannot remove {}: {}", name, removed.message());
    }
}

void AuditLog::register_metrics(telemetry::Metrics& metrics) const {
    metrics.add_callback("tally_audit_entries_total", "Audit entries written since start.",
                         "counter", [this] { return static_cast<double>(entries_.load()); });
    metrics.add_callback("tally_audit_write_failures_total",
                         "Audit entries that could not be written.", "counter",
                         [this] { return static_cast<double>(write_failures_.load()); });
    metrics.add_callback("tally_audit_torn_tails_total",
                         "Torn or damaged tails cut from the audit log at start.", "counter",
                         [this] { return static_cast<double>(torn_tails_.load()); });
}

}  // namespace tally::audit
