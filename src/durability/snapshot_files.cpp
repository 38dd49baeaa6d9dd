// Snapshots as files: their names (snapshot-<UTC time>-<seq>.snap), writing one safely
// (a synced .tmp renamed into place, the directory synced) with retention of the newest,
// loading the newest valid one, and reading just the meta section of one.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <system_error>

#include "snapshot_format.hpp"
#include "tally/durability/crc32c.hpp"
#include "tally/durability/files.hpp"

namespace tally::durability {

namespace fs = std::filesystem;

using namespace detail;

namespace {

/// Parses "snapshot-<stamp>-<seq>.snap"; false for any other name.
bool parse_snapshot_name(const std::string& name, std::uint64_t& seq) {
    if (!name.starts_with("snapshot-") || !name.ends_with(".snap"))
        return false;
    const std::size_t end = name.size() - 5;
    const std::size_t dash = name.rfind('-', end);
    if (dash == std::string::npos || dash < 9 || dash + 1 >= end)
        return false;
    auto [p, ec] = std::from_chars(name.data() + dash + 1, name.data() + end, seq);
    return ec == std::errc{} && p == name.data() + end;
}

std::string timestamp(std::int64_t ms) {
    const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    ::gmtime_r(&seconds, &tm);
    char out[64];
    std::snprintf(out, sizeof(out), "%04d%02d%02dT%02d%02d%02d%03d", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(((ms % 1000) + 1000) % 1000));
    return out;
}

[[noreturn]] void throw_errno(const std::string& what, const fs::path& path) {
    throw std::system_error(errno, std::generic_category(), what + " " + path.string());
}

}  // namespace

void sync_directory(const fs::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        throw_errno("open", dir);
    const int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0)
        throw_errno("fsync", dir);
}

void write_file_synced(const fs::path& path, std::string_view bytes) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        throw_errno("open", path);
    while (!bytes.empty()) {
        const ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            const int saved = errno;
            ::close(fd);
            errno = saved;
            throw_errno("write", path);
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    if (::fsync(fd) != 0) {
        const int saved = errno;
        ::close(fd);
        errno = saved;
        throw_errno("fsync", path);
    }
    if (::close(fd) != 0)
        throw_errno("close", path);
}

bool read_file(const fs::path& path, std::string& out, std::string& error) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error = "open: " + std::generic_category().message(errno);
        return false;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        error = "stat: " + std::generic_category().message(errno);
        ::close(fd);
        return false;
    }
    out.resize(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (got < out.size()) {
        const ssize_t n = ::read(fd, out.data() + got, out.size() - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += static_cast<std::size_t>(n);
    }
    ::close(fd);
    out.resize(got);  // a file that shrank while read fails its checks
    return true;
}

std::vector<fs::path> list_snapshots(const fs::path& dir) {
    std::vector<std::pair<std::uint64_t, fs::path>> found;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        std::uint64_t seq = 0;
        if (parse_snapshot_name(it->path().filename().string(), seq))
            found.emplace_back(seq, it->path());
    }
    std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first > b.first : a.second > b.second;
    });
    std::vector<fs::path> out;
    out.reserve(found.size());
    for (auto& [seq, path] : found)
        out.push_back(std::move(path));
    return out;
}

WrittenSnapshot write_snapshot(const store::Store& store, const SnapshotMeta& meta,
                               const fs::path& dir, std::size_t keep,
                               const PositionUnderLock& position) {
    WrittenSnapshot result;
    const std::string bytes = encode_snapshot(store, meta, &result.stats, position);

    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec)
        throw std::system_error(ec, "create_directories " + dir.string());

    // A .tmp is what a writer killed mid-snapshot left; with one writer per directory, any
    // found now is garbage.
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.starts_with("snapshot-") && name.ends_with(".tmp")) {
            std::error_code ignored;
            fs::remove(it->path(), ignored);
        }
    }
    ec.clear();

    std::uint64_t seq = 1;
    const std::vector<fs::path> existing = list_snapshots(dir);
    if (!existing.empty()) {
        std::uint64_t newest = 0;
        parse_snapshot_name(existing.front().filename().string(), newest);
        seq = newest + 1;
    }
    const fs::path tmp = dir / ("snapshot-" + std::to_string(meta.created_ms) + ".tmp");
    char name[96];
    std::snprintf(name, sizeof(name), "snapshot-%s-%08llu.snap", timestamp(meta.created_ms).c_str(),
                  static_cast<unsigned long long>(seq));
    result.path = dir / name;

    try {
        write_file_synced(tmp, bytes);
    } catch (...) {
        fs::remove(tmp, ec);
        throw;
    }
    if (::rename(tmp.c_str(), result.path.c_str()) != 0) {
        const int saved = errno;
        fs::remove(tmp, ec);
        errno = saved;
        throw_errno("rename", tmp);
    }
    sync_directory(dir);

    // Retention: the newest `keep`, counting the one just written.
    const std::vector<fs::path> all = list_snapshots(dir);
    for (std::size_t i = std::max<std::size_t>(keep, 1); i < all.size(); ++i) {
        if (fs::remove(all[i], ec))
            result.removed.push_back(all[i]);
    }
    if (!result.removed.empty())
        sync_directory(dir);
    return result;
}

std::optional<SnapshotMeta> read_snapshot_meta(const fs::path& path, std::string* error) {
    // The header and the meta section only: a whole-file check would read every byte.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail(error, "open: " + std::generic_category().message(errno));
        return std::nullopt;
    }
    std::string head(kHeaderSize + kSectionHeaderSize, '\0');
    const ssize_t n = ::pread(fd, head.data(), head.size(), 0);
    std::optional<SnapshotMeta> meta;
    if (n == static_cast<ssize_t>(head.size()) && head.starts_with(kMagic)) {
        Reader frame(std::string_view(head).substr(kHeaderSize));
        const std::uint32_t kind = frame.u32();
        const std::uint64_t length = frame.u64();
        const std::uint32_t crc = frame.u32();
        if (kind == static_cast<std::uint32_t>(Section::meta) && length <= (1u << 20)) {
            std::string payload(length, '\0');
            const auto at = static_cast<off_t>(head.size());
            if (::pread(fd, payload.data(), payload.size(), at) ==
                    static_cast<ssize_t>(payload.size()) &&
                crc32c(payload, crc32c(std::string_view(head).substr(kHeaderSize, 12))) == crc) {
                Reader in(payload);
                SnapshotMeta m;
                if (decode_meta(in, m) && in.done())
                    meta = std::move(m);
            }
        }
    }
    ::close(fd);
    if (!meta)
        fail(error, "no valid meta section");
    return meta;
}

std::optional<SnapshotMeta> load_newest_snapshot(const fs::path& dir, store::Store& into,
                                                 LoadReport* report, const fs::path& funnel_dir) {
    for (const fs::path& path : list_snapshots(dir)) {
        std::string bytes;
        std::string error;
        if (read_file(path, bytes, error)) {
            if (auto meta = decode_snapshot(bytes, into, &error, funnel_dir)) {
                if (report)
                    report->loaded = path;
                return meta;
            }
        }
        if (report)
            report->skipped.emplace_back(path, error);
    }
    return std::nullopt;
}

}  // namespace tally::durability
