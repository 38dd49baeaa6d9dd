#include "tally/durability/funnel_run_files.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "tally/durability/crc32c.hpp"
#include "tally/durability/files.hpp"

namespace tally::durability {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kMagic = "TALLYFUN";
constexpr std::uint32_t kFormat = 1;
constexpr std::size_t kHeaderSize = 24;

[[noreturn]] void throw_errno(const char* what, const fs::path& path) {
    throw std::system_error(errno, std::generic_category(),
                            std::string("cannot ") + what + " " + path.string());
}

/// A read-only mapping, unmapped when the last run holding it goes.
struct Mapping {
    void* address = nullptr;
    std::size_t size = 0;
    Mapping() = default;
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    ~Mapping() {
        if (address != nullptr)
            ::munmap(address, size);
    }
};

/// Writes everything it is given to `fd` through a buffer (a run hands over each identity
/// on its own), adding it to a checksum.
class FileSink {
  public:
    static constexpr std::size_t kBuffer = std::size_t{1} << 20;

    FileSink(int fd, const fs::path& path) : fd_(fd), path_(path) { buffer_.reserve(kBuffer); }
    void write(std::string_view bytes) {
        crc_ = crc32c(bytes, crc_);
        size_ += bytes.size();
        if (buffer_.size() + bytes.size() > kBuffer)
            flush();
        if (bytes.size() >= kBuffer)
            write_all(bytes);
        else
            buffer_.append(bytes);
    }
    void flush() {
        write_all(buffer_);
        buffer_.clear();
    }
    std::uint32_t crc() const { return crc_; }
    std::uint64_t size() const { return size_; }

  private:
    void write_all(std::string_view bytes) {
        while (!bytes.empty()) {
            const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                throw_errno("write", path_);
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
    }

    int fd_;
    const fs::path& path_;
    std::string buffer_;
    std::uint32_t crc_ = 0;
    std::uint64_t size_ = 0;
};

std::string header(std::uint32_t crc, std::uint64_t body_size) {
    std::string out(kMagic);
    for (int i = 0; i < 4; ++i)
        out.push_back(static_cast<char>(kFormat >> (8 * i)));
    for (int i = 0; i < 4; ++i)
        out.push_back(static_cast<char>(crc >> (8 * i)));
    for (int i = 0; i < 8; ++i)
        out.push_back(static_cast<char>(body_size >> (8 * i)));
    return out;
}

}  // namespace

bool valid_funnel_run_name(std::string_view name) {
    if (name.size() > 64 || !name.ends_with(kFunnelRunSuffix) ||
        name.size() == kFunnelRunSuffix.size())
        return false;
    name.remove_suffix(kFunnelRunSuffix.size());
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    });
}

std::shared_ptr<const store::FunnelRun> write_funnel_run(const fs::path& dir,
                                                         const std::string& name,
                                                         std::string_view site, std::int64_t day,
                                                         const store::FunnelLog::View& log,
                                                         std::size_t steps) {
    const fs::path path = dir / name;
    const fs::path temporary = dir / (name + ".tmp");
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        throw_errno("create", temporary);
    try {
        FileSink sink(fd, temporary);
        // The header's place first, filled in once the body's checksum is known.
        if (::lseek(fd, static_cast<off_t>(kHeaderSize), SEEK_SET) < 0)
            throw_errno("seek in", temporary);
        store::encode_funnel_run(site, day, log, steps,
                                 [&sink](std::string_view piece) { sink.write(piece); });
        sink.flush();
        const std::string head = header(sink.crc(), sink.size());
        if (::pwrite(fd, head.data(), head.size(), 0) != static_cast<ssize_t>(head.size()))
            throw_errno("write", temporary);
        if (::fsync(fd) != 0)
            throw_errno("fsync", temporary);
    } catch (...) {
        ::close(fd);
        ::unlink(temporary.c_str());
        throw;
    }
    ::close(fd);
    if (::rename(temporary.c_str(), path.c_str()) != 0)
        throw_errno("rename", temporary);
    sync_directory(dir);
    std::string why;
    auto run = open_funnel_run(dir, name, why);
    if (run == nullptr)
        throw std::system_error(EIO, std::generic_category(), path.string() + ": " + why);
    return run;
}

std::shared_ptr<const store::FunnelRun> open_funnel_run(const fs::path& dir,
                                                        const std::string& name, std::string& why) {
    const fs::path path = dir / name;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        why = "cannot open: " + std::generic_category().message(errno);
        return nullptr;
    }
    struct stat info {};
    const bool sized = ::fstat(fd, &info) == 0;
    const auto size = sized ? static_cast<std::size_t>(info.st_size) : 0;
    auto mapping = std::make_shared<Mapping>();
    if (size >= kHeaderSize) {
        void* address = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
        if (address != MAP_FAILED) {
            mapping->address = address;
            mapping->size = size;
        }
    }
    ::close(fd);
    if (mapping->address == nullptr) {
        why = size < kHeaderSize ? "shorter than its header" : "cannot map";
        return nullptr;
    }
    const std::string_view bytes(static_cast<const char*>(mapping->address), size);
    std::uint32_t format = 0;
    std::uint32_t crc = 0;
    std::uint64_t body_size = 0;
    std::memcpy(&format, bytes.data() + 8, 4);
    std::memcpy(&crc, bytes.data() + 12, 4);
    std::memcpy(&body_size, bytes.data() + 16, 8);
    if (bytes.substr(0, kMagic.size()) != kMagic || format != kFormat) {
        why = "not a funnel run";
        return nullptr;
    }
    const std::string_view body = bytes.substr(kHeaderSize);
    if (body_size != body.size()) {
        why = "its size is not the one its header gives";
        return nullptr;
    }
    if (crc32c(body) != crc) {
        why = "its checksum does not match";
        return nullptr;
    }
    auto run = store::FunnelRun::parse(mapping, body, name, crc, why);
    // The checks read every page; let them go from this process's resident set (they stay
    // in the page cache), so resident memory counts what queries touch, not whole runs.
    ::madvise(mapping->address, mapping->size, MADV_DONTNEED);
    return run;
}

}  // namespace tally::durability
