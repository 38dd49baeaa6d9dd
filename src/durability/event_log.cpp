#include "tally/durability/event_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <map>
#include <system_error>

#include "tally/durability/record.hpp"

namespace tally::durability {

namespace fs = std::filesystem;

bool parse_fsync_mode(std::string_view text, FsyncMode& mode) {
    if (text == "always") {
        mode = FsyncMode::always;
    } else if (text == "interval") {
        mode = FsyncMode::interval;
    } else if (text == "never") {
        mode = FsyncMode::never;
    } else {
        return false;
    }
    return true;
}

const char* fsync_mode_name(FsyncMode mode) {
    switch (mode) {
        case FsyncMode::always:
            return "always";
        case FsyncMode::interval:
            return "interval";
        case FsyncMode::never:
            return "never";
    }
    return "?";
}

struct EventLog::Writer {
    std::size_t index = 0;
    std::mutex mutex;  // the I/O thread appends, the interval thread syncs
    int fd = -1;
    std::uint64_t segment = 0;
    std::uint64_t size = 0;
    std::atomic<std::uint64_t> total_written{0};
    bool dirty = false;  // written since the last fsync
    std::string buffer;  // reused encoding buffer
};

namespace {

/// Parses "w<writer>-<segment>.log"; false for any other name.
bool parse_segment_name(const std::string& name, std::size_t& writer, std::uint64_t& segment) {
    if (name.size() < 8 || name[0] != 'w' || !name.ends_with(".log"))
        return false;
    const auto dash = name.find('-');
    if (dash == std::string::npos)
        return false;
    const char* begin = name.data() + 1;
    const char* mid = name.data() + dash;
    const char* end = name.data() + name.size() - 4;
    auto [p1, e1] = std::from_chars(begin, mid, writer);
    auto [p2, e2] = std::from_chars(mid + 1, end, segment);
    return e1 == std::errc{} && p1 == mid && e2 == std::errc{} && p2 == end;
}

std::string segment_name(std::size_t writer, std::uint64_t segment) {
    char name[64];
    std::snprintf(name, sizeof(name), "w%zu-%08llu.log", writer,
                  static_cast<unsigned long long>(segment));
    return name;
}

void sync_directory(const fs::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}

}  // namespace

EventLog::EventLog(EventLogOptions options) : options_(std::move(options)) {
    if (options_.writers == 0)
        options_.writers = 1;
    for (std::size_t i = 0; i < options_.writers; ++i) {
        auto writer = std::make_unique<Writer>();
        writer->index = i;
        writers_.push_back(std::move(writer));
    }
}

EventLog::~EventLog() {
    {
        std::lock_guard lock(interval_mutex_);
        stopping_ = true;
    }
    interval_cv_.notify_all();
    if (interval_thread_.joinable())
        interval_thread_.join();
    sync_all();
    for (auto& writer : writers_) {
        if (writer->fd >= 0)
            ::close(writer->fd);
    }
}

ReplayStats EventLog::replay(const std::function<void(const ingest::Event&)>& fn) {
    ReplayStats stats;
    std::error_code ec;
    fs::create_directories(options_.dir, ec);
    if (ec)
        throw std::system_error(ec, "cannot create " + options_.dir.string());

    // Every writer's segments, oldest first. Order across writers does not matter: each
    // record is counted once and the counts commute.
    std::map<std::pair<std::size_t, std::uint64_t>, fs::path> segments;
    for (const auto& entry : fs::directory_iterator(options_.dir)) {
        std::size_t writer = 0;
        std::uint64_t segment = 0;
        if (entry.is_regular_file() &&
            parse_segment_name(entry.path().filename().string(), writer, segment)) {
            segments.emplace(std::make_pair(writer, segment), entry.path());
        }
    }

    std::string data;
    ingest::Event event;
    for (const auto& [key, path] : segments) {
        const int fd = ::open(path.c_str(), O_RDONLY);
        if (fd < 0)
            throw std::system_error(errno, std::generic_category(), "cannot read " + path.string());
        data.clear();
        char chunk[1 << 16];
        for (;;) {
            const ssize_t n = ::read(fd, chunk, sizeof(chunk));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                const int err = errno;
                ::close(fd);
                throw std::system_error(err, std::generic_category(),
                                        "cannot read " + path.string());
            }
            if (n == 0)
                break;
            data.append(chunk, static_cast<std::size_t>(n));
        }
        ::close(fd);

        std::size_t offset = 0;
        while (offset < data.size()) {
            const DecodeResult result = decode_record(std::string_view(data).substr(offset), event);
            if (result.status != DecodeStatus::ok)
                break;
            fn(event);
            ++stats.records;
            offset += result.consumed;
        }
        stats.bytes += offset;
        if (offset < data.size()) {
            // A torn or damaged record: keep what came before it, cut the rest, so appends
            // resume after the last good record.
            ++stats.damaged_files;
            stats.cut_bytes += data.size() - offset;
            if (::truncate(path.c_str(), static_cast<off_t>(offset)) != 0) {
                throw std::system_error(errno, std::generic_category(),
                                        "cannot cut " + path.string());
            }
        }
        Writer* writer = key.first < writers_.size() ? writers_[key.first].get() : nullptr;
        if (writer != nullptr && key.second >= writer->segment) {
            writer->segment = key.second;
            writer->size = offset;
        }
    }
    return stats;
}

void EventLog::open() {
    std::error_code ec;
    fs::create_directories(options_.dir, ec);
    if (ec)
        throw std::system_error(ec, "cannot create " + options_.dir.string());
    for (auto& writer : writers_) {
        if (writer->segment == 0)
            writer->segment = 1;
        const fs::path path = options_.dir / segment_name(writer->index, writer->segment);
        writer->fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (writer->fd < 0) {
            throw std::system_error(errno, std::generic_category(), "cannot open " + path.string());
        }
        struct stat st {};
        if (::fstat(writer->fd, &st) == 0)
            writer->size = static_cast<std::uint64_t>(st.st_size);
    }
    sync_directory(options_.dir);
    if (options_.fsync == FsyncMode::interval) {
        interval_thread_ = std::thread([this] { interval_loop(); });
    }
}

bool EventLog::write_all(Writer& writer, const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(writer.fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            // A partial record may now sit at the tail; cut it so the file stays a clean
            // sequence of records and a later append is not read as garbage.
            if (done > 0) {
                (void)::ftruncate(writer.fd, static_cast<off_t>(writer.size));
            }
            return false;
        }
        done += static_cast<std::size_t>(n);
    }
    return true;
}

void EventLog::rotate(Writer& writer) {
    const fs::path path = options_.dir / segment_name(writer.index, writer.segment + 1);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return;  // keep appending to the current segment; try again next time
    ::fsync(writer.fd);
    ::close(writer.fd);
    writer.fd = fd;
    ++writer.segment;
    writer.size = 0;
    sync_directory(options_.dir);
}

bool EventLog::append(std::size_t writer_index, const ingest::Event* events, std::size_t count) {
    Writer& writer = *writers_[writer_index % writers_.size()];
    std::lock_guard lock(writer.mutex);
    writer.buffer.clear();
    for (std::size_t i = 0; i < count; ++i)
        append_record(events[i], writer.buffer);
    if (writer.size >= options_.segment_bytes)
        rotate(writer);
    if (!write_all(writer, writer.buffer))
        return false;
    writer.size += writer.buffer.size();
    writer.total_written.fetch_add(writer.buffer.size(), std::memory_order_relaxed);
    if (options_.fsync == FsyncMode::always) {
        if (::fdatasync(writer.fd) != 0)
            return false;
    } else {
        writer.dirty = true;
    }
    return true;
}

void EventLog::sync_all() {
    for (auto& writer : writers_) {
        // fsync a duplicate of the descriptor outside the writer's lock: the I/O thread
        // keeps appending while the disk syncs (and a rotation may close the original).
        int fd = -1;
        {
            std::lock_guard lock(writer->mutex);
            if (writer->fd < 0 || !writer->dirty)
                continue;
            fd = ::dup(writer->fd);
            writer->dirty = false;
        }
        if (fd >= 0) {
            ::fdatasync(fd);
            ::close(fd);
        }
    }
}

std::uint64_t EventLog::bytes_written() const {
    std::uint64_t total = 0;
    for (const auto& writer : writers_)
        total += writer->total_written.load(std::memory_order_relaxed);
    return total;
}

void EventLog::interval_loop() {
    std::unique_lock lock(interval_mutex_);
    while (!stopping_) {
        interval_cv_.wait_for(lock, options_.fsync_interval, [this] { return stopping_; });
        lock.unlock();
        sync_all();
        lock.lock();
    }
}

}  // namespace tally::durability
