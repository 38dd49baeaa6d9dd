#include "tally/durability/event_log.hpp"
#include "tally/telemetry/metrics.hpp"

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
#include <thread>

#include <spdlog/spdlog.h>

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
    std::mutex mutex;  // the I/O thread appends; the commit or interval thread syncs
    int fd = -1;
    std::uint64_t segment = 0;
    std::uint64_t size = 0;  // the last good offset: every byte before it is a whole record
    std::atomic<std::uint64_t> total_written{0};
    bool dirty = false;      // written since the last fsync
    bool needs_cut = false;  // a failed write left bytes past `size` and cutting them failed
    std::string buffer;      // reused encoding buffer

    // Health, guarded by `mutex`: the writer is failing while either is set.
    bool write_failed = false;
    bool sync_failed = false;

    // Group commit (mode always). The first three are guarded by `mutex`.
    std::vector<Durable> waiting;  // answered by the next fsync
    bool sync_lost = false;        // a rotation's fsync of the previous segment failed
    bool stop = false;             // closing: when_durable() answers at once
    std::vector<Durable> batch;    // commit_step's own: the requests its fsync answers
    BackgroundLoop commit;         // runs commit_step; when_durable() wakes it
};

namespace {

/// The commit thread runs when when_durable() wakes it; with nothing queued its step
/// returns at once, so this schedule of its own costs nothing.
constexpr std::chrono::seconds kCommitIdleInterval{1};

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
    close();
}

ReplayStats EventLog::replay(const std::function<void(const Event&)>& fn) {
    return replay_from({},
                       [&fn](std::size_t, const LogPosition&, const Event& event) { fn(event); });
}

namespace {

/// Every segment file in `dir` by (writer, segment): oldest first per writer.
std::map<std::pair<std::size_t, std::uint64_t>, fs::path> list_segments(const fs::path& dir) {
    std::map<std::pair<std::size_t, std::uint64_t>, fs::path> segments;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        std::size_t writer = 0;
        std::uint64_t segment = 0;
        if (it->is_regular_file() &&
            parse_segment_name(it->path().filename().string(), writer, segment)) {
            segments.emplace(std::make_pair(writer, segment), it->path());
        }
    }
    return segments;
}

/// Reads `path` from byte `offset` to its end into `data`. Throws naming the file.
void read_segment(const fs::path& path, std::uint64_t offset, std::string& data) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw std::system_error(errno, std::generic_category(), "cannot read " + path.string());
    data.clear();
    char chunk[1 << 16];
    auto at = static_cast<off_t>(offset);
    for (;;) {
        const ssize_t n = ::pread(fd, chunk, sizeof(chunk), at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            const int err = errno;
            ::close(fd);
            throw std::system_error(err, std::generic_category(), "cannot read " + path.string());
        }
        if (n == 0)
            break;
        data.append(chunk, static_cast<std::size_t>(n));
        at += n;
    }
    ::close(fd);
}

}  // namespace

void EventLog::replay_segments(std::size_t writer_index,
                               const std::vector<std::pair<std::uint64_t, fs::path>>& segments,
                               const LogPosition& start, const ReplayEvent& fn,
                               const ReplayPoint& on_point, ReplayStats& stats, LogPosition& end) {
    std::string data;
    LoggedRecord record;
    for (const auto& [segment, path] : segments) {
        std::error_code size_error;
        const std::uint64_t size = fs::file_size(path, size_error);
        if (segment < start.segment) {
            // Wholly inside the snapshot: not read at all.
            stats.skipped_bytes += size_error ? 0 : size;
            continue;
        }
        const std::uint64_t first = segment == start.segment ? start.offset : 0;
        if (size_error || first > size) {
            // The snapshot holds more of this writer than its file does (a machine crash
            // lost an unsynced tail): nothing here to replay; open() starts a new segment.
            end = std::max(end, start);
            continue;
        }
        read_segment(path, first, data);
        stats.skipped_bytes += first;

        RecordCursor cursor(data);
        DecodeStatus status = DecodeStatus::ok;
        while (!cursor.done()) {
            status = cursor.next(record);
            if (status != DecodeStatus::ok)
                break;
            // A batch's records all sit at its start: positions are batches' ends.
            const LogPosition at{segment, first + cursor.frame_offset()};
            if (!record.is_point)
                fn(writer_index, at, record.event);
            else if (on_point)
                on_point(writer_index, at, record.point);
            ++stats.records;
        }
        const std::size_t offset = cursor.end();
        stats.bytes += offset;
        const std::uint64_t good_end = first + offset;
        if (offset < data.size()) {
            // A torn or damaged record: keep what came before it, cut the rest, so appends
            // resume after the last good record. Nothing after it is read: a record
            // boundary guessed past a bad length could resurrect garbage.
            ++stats.damaged_files;
            stats.cut_bytes += data.size() - offset;
            stats.damage.push_back(
                {path, good_end, data.size() - offset, status == DecodeStatus::need_more});
            if (::truncate(path.c_str(), static_cast<off_t>(good_end)) != 0) {
                throw std::system_error(errno, std::generic_category(),
                                        "cannot cut " + path.string());
            }
        }
        end = std::max(end, LogPosition{segment, good_end});
        Writer* writer = writer_index < writers_.size() ? writers_[writer_index].get() : nullptr;
        if (writer != nullptr && segment >= writer->segment) {
            writer->segment = segment;
            writer->size = good_end;
        }
    }
}

ReplayStats EventLog::replay_from(const std::vector<LogPosition>& from, const ReplayEvent& fn,
                                  std::size_t threads, const ReplayPoint& on_point) {
    ReplayStats stats;
    std::error_code ec;
    fs::create_directories(options_.dir, ec);
    if (ec)
        throw std::system_error(ec, "cannot create " + options_.dir.string());

    // Each writer's segments, oldest first. A writer's records are replayed in order; order
    // across writers does not matter (each record is counted once and writers feed
    // different shards), so writers replay in parallel when asked: the store's hash maps
    // miss the cache on most records, and two cores hide twice the latency.
    std::vector<std::vector<std::pair<std::uint64_t, fs::path>>> by_writer;
    for (const auto& [key, path] : list_segments(options_.dir)) {
        const auto [writer_index, segment] = key;
        if (writer_index >= by_writer.size())
            by_writer.resize(writer_index + 1);
        by_writer[writer_index].emplace_back(segment, path);
    }
    stats.ends = from;
    if (stats.ends.size() < by_writer.size())
        stats.ends.resize(by_writer.size());

    std::vector<ReplayStats> partial(by_writer.size());
    std::vector<std::exception_ptr> errors(by_writer.size());
    auto replay_writer = [&](std::size_t writer_index) {
        try {
            replay_segments(writer_index, by_writer[writer_index],
                            writer_index < from.size() ? from[writer_index] : LogPosition{}, fn,
                            on_point, partial[writer_index], stats.ends[writer_index]);
        } catch (...) {
            errors[writer_index] = std::current_exception();
        }
    };
    const std::size_t workers = std::clamp<std::size_t>(threads, 1, by_writer.size() + 1);
    if (workers == 1) {
        for (std::size_t w = 0; w < by_writer.size(); ++w)
            replay_writer(w);
    } else {
        std::atomic<std::size_t> next{0};
        std::vector<std::thread> pool;
        for (std::size_t t = 0; t < workers; ++t) {
            pool.emplace_back([&] {
                for (std::size_t w; (w = next.fetch_add(1)) < by_writer.size();)
                    replay_writer(w);
            });
        }
        for (auto& thread : pool)
            thread.join();
    }
    for (const auto& error : errors) {
        if (error)
            std::rethrow_exception(error);
    }
    for (auto& part : partial) {
        stats.records += part.records;
        stats.bytes += part.bytes;
        stats.damaged_files += part.damaged_files;
        stats.cut_bytes += part.cut_bytes;
        stats.skipped_bytes += part.skipped_bytes;
        for (auto& damage : part.damage)
            stats.damage.push_back(std::move(damage));
    }

    // A writer must append after the position it was replayed from, or the next recovery
    // from the same snapshot would skip what it appends.
    for (std::size_t i = 0; i < writers_.size() && i < from.size(); ++i) {
        Writer& writer = *writers_[i];
        const LogPosition start = from[i];
        if (LogPosition{writer.segment, writer.size} < start) {
            writer.segment = start.offset == 0 ? start.segment : start.segment + 1;
            writer.size = 0;
            stats.ends[i] = LogPosition{writer.segment, 0};
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
        interval_loop_.start(
            options_.fsync_interval, [this] { sync_all(); }, /*first_step_after_interval=*/true);
    } else if (options_.fsync == FsyncMode::always) {
        for (auto& writer : writers_) {
            Writer& w = *writer;
            w.commit.start(kCommitIdleInterval, [this, &w] { commit_step(w); });
        }
    }
}

bool EventLog::write_all(Writer& writer, const std::string& bytes) {
    // O_APPEND writes land at the end of the file, so the end must be the last good offset.
    if (writer.needs_cut) {
        if (::ftruncate(writer.fd, static_cast<off_t>(writer.size)) != 0)
            return false;
        writer.needs_cut = false;
    }
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(writer.fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            const int error = n < 0 ? errno : EIO;
            // A partial record may now sit at the tail (a short write, then ENOSPC or
            // EFBIG); cut it so the file stays a clean sequence of records and a later
            // append is not read as garbage. If even the cut fails, the next append
            // retries it before writing.
            if (done > 0 && ::ftruncate(writer.fd, static_cast<off_t>(writer.size)) != 0)
                writer.needs_cut = true;
            errno = error;
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
    // The previous segment's tail may hold records whose answers wait for the commit
    // thread, which will sync the new file: sync the old one now, or fail those answers.
    if (::fdatasync(writer.fd) != 0) {
        writer.sync_lost = true;
        mark_failing(writer, &Writer::sync_failed, "fsync", errno);
    }
    ::close(writer.fd);
    writer.fd = fd;
    ++writer.segment;
    writer.size = 0;
    writer.needs_cut = false;
    sync_directory(options_.dir);
}

template <typename Encode>
bool EventLog::append_encoded(std::size_t writer_index, Encode&& encode, LogPosition* end) {
    Writer& writer = *writers_[writer_index % writers_.size()];
    std::lock_guard lock(writer.mutex);
    if (writer.fd < 0)
        return false;  // closed
    writer.buffer.clear();
    encode(writer.buffer);
    if (writer.size >= options_.segment_bytes)
        rotate(writer);
    if (!write_all(writer, writer.buffer)) {
        mark_failing(writer, &Writer::write_failed, "write", errno);
        return false;
    }
    writer.size += writer.buffer.size();
    writer.total_written.fetch_add(writer.buffer.size(), std::memory_order_relaxed);
    writer.dirty = true;
    mark_working(writer, &Writer::write_failed);
    if (end != nullptr)
        *end = LogPosition{writer.segment, writer.size};
    return true;
}

bool EventLog::append(std::size_t writer_index, const Event* events, std::size_t count,
                      LogPosition* end) {
    return append_encoded(
        writer_index, [&](std::string& buffer) { append_records(events, count, buffer); }, end);
}

bool EventLog::append(std::size_t writer_index, const MetricPoint* points, std::size_t count,
                      LogPosition* end) {
    return append_encoded(
        writer_index, [&](std::string& buffer) { append_records(points, count, buffer); }, end);
}

void EventLog::when_durable(std::size_t writer_index, Durable done) {
    if (options_.fsync != FsyncMode::always) {
        done(true);
        return;
    }
    Writer& writer = *writers_[writer_index % writers_.size()];
    std::unique_lock lock(writer.mutex);
    if (!writer.stop) {
        writer.waiting.push_back(std::move(done));
        lock.unlock();
        // A wake-up that comes while the step runs makes it run again at once, so a
        // request queued just after the step took its group goes with the next one.
        writer.commit.wake();
        return;
    }
    const bool synced = !writer.sync_failed;
    lock.unlock();
    done(synced);  // closing: the final sync has covered, or will cover, every append
}

namespace {
/// fdatasyncs and closes `copy`, a dup of a writer's descriptor taken under the writer's
/// lock, so the disk syncs outside it. 0 or the errno of the failed sync.
int sync_and_close(int copy) {
    const int error = ::fdatasync(copy) != 0 ? errno : 0;
    ::close(copy);
    return error;
}
}  // namespace

void EventLog::commit_step(Writer& writer) {
    std::unique_lock lock(writer.mutex);
    if (writer.waiting.empty())
        return;
    // Everything the waiters wrote is in the file (their write() returned before they
    // queued), so one fsync from now covers them all.
    writer.batch.swap(writer.waiting);
    bool durable = !writer.sync_lost;
    writer.sync_lost = false;
    writer.dirty = false;
    // A duplicate, synced outside the lock: appends go on meanwhile, and a rotation may
    // close the original.
    const int fd = writer.fd >= 0 ? ::dup(writer.fd) : -1;
    fsyncs_begun_.fetch_add(1, std::memory_order_relaxed);
    lock.unlock();

    const int error = fd < 0 ? (errno != 0 ? errno : EBADF) : sync_and_close(fd);
    durable = durable && error == 0;
    fsyncs_.fetch_add(1, std::memory_order_relaxed);
    waiters_answered_.fetch_add(writer.batch.size(), std::memory_order_relaxed);
    if (error != 0)
        fsyncs_failed_.fetch_add(1, std::memory_order_relaxed);
    for (auto& done : writer.batch)
        done(durable);
    writer.batch.clear();

    lock.lock();
    if (error != 0)
        mark_failing(writer, &Writer::sync_failed, "fsync", error);
    else
        mark_working(writer, &Writer::sync_failed);
}

bool EventLog::fsync_writer(Writer& writer) {
    // fsync a duplicate of the descriptor outside the writer's lock: the I/O thread keeps
    // appending while the disk syncs (and a rotation may close the original).
    int fd = -1;
    {
        std::lock_guard lock(writer.mutex);
        if (writer.fd < 0 || !writer.dirty)
            return true;
        fd = ::dup(writer.fd);
        writer.dirty = false;
    }
    if (fd < 0)
        return false;
    const int error = sync_and_close(fd);
    std::lock_guard lock(writer.mutex);
    if (error != 0) {
        writer.dirty = true;  // try again next time
        mark_failing(writer, &Writer::sync_failed, "fsync", error);
        return false;
    }
    mark_working(writer, &Writer::sync_failed);
    return true;
}

bool EventLog::sync_all() {
    bool ok = true;
    for (auto& writer : writers_)
        ok = fsync_writer(*writer) && ok;
    return ok;
}

void EventLog::close() {
    if (closed_.exchange(true))
        return;
    interval_loop_.stop();
    // Whoever still waits for a group commit is answered after one last fsync: from here on
    // when_durable() queues nothing, the commit thread finishes the group it may be
    // syncing, and one more step here takes what is left.
    for (auto& writer : writers_) {
        {
            std::lock_guard lock(writer->mutex);
            writer->stop = true;
        }
        writer->commit.stop();
        commit_step(*writer);
    }
    sync_all();
    for (auto& writer : writers_) {
        std::lock_guard lock(writer->mutex);
        if (writer->fd >= 0)
            ::close(writer->fd);
        writer->fd = -1;
    }
}

// Called with the writer's mutex held when a write or fsync fails: sets `flag`. A writer
// that was working becomes failing; the first one to fail starts an episode, which is
// logged once, loudly, however many requests fail during it.
void EventLog::mark_failing(Writer& writer, bool Writer::*flag, const char* what, int error) {
    const bool was_failing = writer.write_failed || writer.sync_failed;
    writer.*flag = true;
    if (was_failing)
        return;
    const fs::path file = options_.dir / segment_name(writer.index, writer.segment);
    std::string reason = std::string("cannot ") + what + " " + file.string() + ": " +
                         std::generic_category().message(error);
    const bool starts_episode = failing_writers_.fetch_add(1, std::memory_order_relaxed) == 0;
    {
        std::lock_guard lock(problem_mutex_);
        if (starts_episode || problem_.empty())
            problem_ = reason;
    }
    if (starts_episode && flag == &Writer::write_failed) {
        spdlog::error(
            "event log: {} (errno {}); new events are answered 503 and not counted until "
            "the log can be written again",
            reason, error);
    } else if (starts_episode) {
        spdlog::error(
            "event log: {} (errno {}); events whose fsync fails are answered 503 (written and "
            "counted, but maybe not on disk) until an fsync succeeds again",
            reason, error);
    }
}

// Called with the writer's mutex held when a write or fsync succeeds: clears `flag`; the
// last writer to recover ends the episode.
void EventLog::mark_working(Writer& writer, bool Writer::*flag) {
    if (!(writer.*flag))
        return;
    writer.*flag = false;
    if (writer.write_failed || writer.sync_failed)
        return;  // still failing the other way
    if (failing_writers_.fetch_sub(1, std::memory_order_relaxed) == 1) {
        std::string was;
        {
            std::lock_guard lock(problem_mutex_);
            was.swap(problem_);
        }
        spdlog::warn("event log: writable again (was: {}); events are accepted", was);
    }
}

std::string EventLog::problem() const {
    if (healthy())
        return {};
    std::lock_guard lock(problem_mutex_);
    return problem_;
}

CommitStats EventLog::commit_stats() const {
    return {fsyncs_begun_.load(std::memory_order_relaxed), fsyncs_.load(std::memory_order_relaxed),
            waiters_answered_.load(std::memory_order_relaxed),
            fsyncs_failed_.load(std::memory_order_relaxed)};
}

LogPosition EventLog::end_position(std::size_t writer_index) const {
    Writer& writer = *writers_[writer_index % writers_.size()];
    std::lock_guard lock(writer.mutex);
    return LogPosition{writer.segment, writer.size};
}

namespace {

/// The newest event timestamp in a segment; INT64_MAX when a record cannot be decoded (a
/// segment we cannot read wholly is never called old), INT64_MIN when it is empty.
std::int64_t newest_timestamp(const fs::path& path) {
    std::string data;
    try {
        read_segment(path, 0, data);
    } catch (const std::system_error&) {
        return INT64_MAX;
    }
    std::int64_t newest = INT64_MIN;
    LoggedRecord record;
    for (RecordCursor cursor(data); !cursor.done();) {
        if (cursor.next(record) != DecodeStatus::ok)
            return INT64_MAX;
        newest = std::max(newest, record.timestamp_ms());
    }
    return newest;
}

}  // namespace

std::vector<fs::path> EventLog::remove_segments(const std::vector<LogPosition>& keep_from,
                                                std::int64_t older_than_ms) {
    std::vector<fs::path> removed;
    std::lock_guard memory(newest_mutex_);
    for (const auto& [key, path] : list_segments(options_.dir)) {
        const auto [writer_index, segment] = key;
        if (writer_index >= keep_from.size() || segment >= keep_from[writer_index].segment)
            continue;
        if (writer_index < writers_.size()) {
            Writer& writer = *writers_[writer_index];
            std::lock_guard lock(writer.mutex);
            if (segment >= writer.segment)
                continue;  // the open segment
        }
        // Below every kept snapshot's position and not open: the file no longer changes,
        // so its newest timestamp is read once.
        auto it = newest_.find(path);
        if (it == newest_.end())
            it = newest_.emplace(path, newest_timestamp(path)).first;
        if (it->second >= older_than_ms)
            continue;
        std::error_code ec;
        if (fs::remove(path, ec)) {
            removed.push_back(path);
            newest_.erase(it);
        }
    }
    if (!removed.empty())
        sync_directory(options_.dir);
    return removed;
}

std::uint64_t EventLog::bytes_written() const {
    std::uint64_t total = 0;
    for (const auto& writer : writers_)
        total += writer->total_written.load(std::memory_order_relaxed);
    return total;
}

}  // namespace tally::durability

namespace tally::durability {

void EventLog::register_metrics(telemetry::Metrics& metrics) const {
    metrics.add_callback("tally_log_bytes_total",
                         "Bytes appended to the event log by this process.", "counter",
                         [this] { return static_cast<double>(bytes_written()); });
    metrics.add_callback("tally_log_healthy", "1 while the event log accepts writes.", "gauge",
                         [this] { return healthy() ? 1.0 : 0.0; });
    metrics.add_callback("tally_log_group_fsyncs_total",
                         "Group-commit fsyncs of the event log (fsync always).", "counter",
                         [this] { return static_cast<double>(commit_stats().fsyncs); });
    metrics.add_callback(
        "tally_log_group_waiters_total",
        "Requests answered by those fsyncs (divided by the fsyncs: the mean group size).",
        "counter", [this] { return static_cast<double>(commit_stats().waiters); });
}

}  // namespace tally::durability
