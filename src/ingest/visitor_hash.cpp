// Cookieless visitor ids: SipHash-2-4 over (site, client IP, User-Agent), keyed by a random
// salt per UTC day. The salt makes ids unlinkable across days and, once deleted, makes an
// old id impossible to recompute from a known IP and User-Agent.

#include "tally/ingest/visitor_hash.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <system_error>

#include "tally/base/time.hpp"

namespace tally::ingest {

namespace {

// SipHash-2-4 as described in "SipHash: a fast short-input PRF" (Aumasson, Bernstein 2012):
// four 64-bit lanes initialised from the key, two SipRounds per 8-byte little-endian
// message word, the length in the top byte of the last word, then 0xff into v2 and four
// finalisation rounds. Streaming, so a visitor id hashes its three parts without first
// concatenating them.
class SipHash24 {
  public:
    explicit SipHash24(const std::array<std::uint8_t, 16>& key) {
        const std::uint64_t k0 = load_le64(key.data());
        const std::uint64_t k1 = load_le64(key.data() + 8);
        v0_ = k0 ^ 0x736f6d6570736575ULL;  // "somepseudorandomlygeneratedbytes"
        v1_ = k1 ^ 0x646f72616e646f6dULL;
        v2_ = k0 ^ 0x6c7967656e657261ULL;
        v3_ = k1 ^ 0x7465646279746573ULL;
    }

    void update(std::string_view data) {
        const auto* bytes = reinterpret_cast<const std::uint8_t*>(data.data());
        std::size_t size = data.size();
        length_ += size;
        // Top up a word left incomplete by the previous update.
        while (pending_bytes_ != 0 && size != 0) {
            pending_ |= std::uint64_t{*bytes++} << (8 * pending_bytes_);
            --size;
            if (++pending_bytes_ == 8) {
                compress(pending_);
                pending_ = 0;
                pending_bytes_ = 0;
            }
        }
        for (; size >= 8; size -= 8, bytes += 8) {
            compress(load_le64(bytes));
        }
        for (std::size_t i = 0; i < size; ++i) {
            pending_ |= std::uint64_t{bytes[i]} << (8 * pending_bytes_++);
        }
    }

    std::uint64_t finish() {
        compress(pending_ | (length_ << 56));  // the length modulo 256 goes in the last byte
        v2_ ^= 0xff;
        for (int i = 0; i < 4; ++i) {
            round();
        }
        return v0_ ^ v1_ ^ v2_ ^ v3_;
    }

  private:
    static std::uint64_t load_le64(const std::uint8_t* p) {
        std::uint64_t value = 0;
        for (int i = 7; i >= 0; --i) {
            value = (value << 8) | p[i];
        }
        return value;
    }
    static std::uint64_t rotl(std::uint64_t x, int bits) {
        return (x << bits) | (x >> (64 - bits));
    }

    void round() {
        v0_ += v1_;
        v1_ = rotl(v1_, 13);
        v1_ ^= v0_;
        v0_ = rotl(v0_, 32);
        v2_ += v3_;
        v3_ = rotl(v3_, 16);
        v3_ ^= v2_;
        v0_ += v3_;
        v3_ = rotl(v3_, 21);
        v3_ ^= v0_;
        v2_ += v1_;
        v1_ = rotl(v1_, 17);
        v1_ ^= v2_;
        v2_ = rotl(v2_, 32);
    }

    void compress(std::uint64_t word) {
        v3_ ^= word;
        round();  // c = 2 compression rounds
        round();
        v0_ ^= word;
    }

    std::uint64_t v0_, v1_, v2_, v3_;
    std::uint64_t pending_ = 0;  // bytes of an incomplete word, little-endian
    unsigned pending_bytes_ = 0;
    std::uint64_t length_ = 0;
};

constexpr char kHexDigits[] = "0123456789abcdef";
constexpr std::size_t kSaltFileSize = 33;  // 32 hex digits and a newline

std::optional<std::array<std::uint8_t, 16>> read_salt_file(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return std::nullopt;
    }
    char text[kSaltFileSize + 1];
    const ssize_t got = ::read(fd, text, sizeof text);
    ::close(fd);
    if (got != static_cast<ssize_t>(kSaltFileSize) || text[32] != '\n') {
        return std::nullopt;  // missing, truncated or foreign: the caller writes a new one
    }
    std::array<std::uint8_t, 16> salt{};
    for (std::size_t i = 0; i < 32; ++i) {
        const char c = text[i];
        unsigned nibble = 0;
        if (c >= '0' && c <= '9') {
            nibble = static_cast<unsigned>(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            nibble = static_cast<unsigned>(c - 'a' + 10);
        } else {
            return std::nullopt;
        }
        salt[i / 2] = static_cast<std::uint8_t>(salt[i / 2] << 4 | nibble);
    }
    return salt;
}

bool write_all(int fd, const char* data, std::size_t size) {
    while (size > 0) {
        const ssize_t wrote = ::write(fd, data, size);
        if (wrote < 0 && errno == EINTR) {
            continue;
        }
        if (wrote <= 0) {
            return false;
        }
        data += wrote;
        size -= static_cast<std::size_t>(wrote);
    }
    return true;
}

// Temp file, fsync, rename, fsync of the directory: after a crash the day's file is either
// absent or complete, never a torn salt that would silently change every visitor id.
bool write_salt_file(const std::filesystem::path& path, const std::array<std::uint8_t, 16>& salt) {
    char text[kSaltFileSize];
    for (std::size_t i = 0; i < 16; ++i) {
        text[2 * i] = kHexDigits[salt[i] >> 4];
        text[2 * i + 1] = kHexDigits[salt[i] & 0xf];
    }
    text[32] = '\n';

    std::filesystem::path temp = path;
    temp += ".tmp." + std::to_string(::getpid());
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return false;
    }
    const bool written = write_all(fd, text, sizeof text) && ::fsync(fd) == 0;
    ::close(fd);
    if (!written || ::rename(temp.c_str(), path.c_str()) != 0) {
        ::unlink(temp.c_str());
        return false;
    }
    const int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        ::fsync(dir);
        ::close(dir);
    }
    return true;
}

std::array<std::uint8_t, 16> random_salt() {
    std::array<std::uint8_t, 16> salt{};
    const int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        const ssize_t got = ::read(fd, salt.data(), salt.size());
        ::close(fd);
        if (got == static_cast<ssize_t>(salt.size())) {
            return salt;
        }
    }
    std::random_device device;  // fallback when /dev/urandom is not mounted (containers)
    for (std::size_t i = 0; i < salt.size(); i += 4) {
        const std::uint32_t word = device();
        for (std::size_t j = 0; j < 4; ++j) {
            salt[i + j] = static_cast<std::uint8_t>(word >> (8 * j));
        }
    }
    return salt;
}

}  // namespace

std::uint64_t siphash24(const std::array<std::uint8_t, 16>& key, std::string_view data) {
    SipHash24 hash(key);
    hash.update(data);
    return hash.finish();
}

VisitorHasher::VisitorHasher(std::filesystem::path salt_dir) : salt_dir_(std::move(salt_dir)) {
    std::error_code error;
    std::filesystem::create_directories(salt_dir_, error);
    if (error || !std::filesystem::is_directory(salt_dir_, error)) {
        throw std::runtime_error("cannot create the salt directory " + salt_dir_.string() + ": " +
                                 (error ? error.message() : "not a directory"));
    }
}

std::string VisitorHasher::visitor_id(std::int64_t day, std::string_view site,
                                      std::string_view client_ip,
                                      std::string_view user_agent) const {
    // The NUL separators keep ("ab", "c") and ("a", "bc") apart. Only the last part may
    // itself hold a NUL (site is [A-Za-z0-9._-], the IP comes from the server), so the
    // encoding stays unambiguous.
    SipHash24 hash(salt_for(day));
    hash.update(site);
    hash.update(std::string_view("\0", 1));
    hash.update(client_ip);
    hash.update(std::string_view("\0", 1));
    hash.update(user_agent);
    const std::uint64_t value = hash.finish();

    std::string id(16, '0');
    for (int i = 15, shift = 0; i >= 0; --i, shift += 4) {
        id[static_cast<std::size_t>(i)] = kHexDigits[(value >> shift) & 0xf];
    }
    return id;
}

VisitorHasher::Salt VisitorHasher::salt_for(std::int64_t day) const {
    {
        // Hot path: every request after the first of the day only reads.
        std::shared_lock lock(mutex_);
        if (const auto it = salts_.find(day); it != salts_.end()) {
            return it->second;
        }
    }
    std::unique_lock lock(mutex_);
    if (const auto it = salts_.find(day); it != salts_.end()) {
        return it->second;  // another thread created it while we waited
    }
    const std::filesystem::path path = salt_dir_ / format_day(day);
    std::optional<Salt> salt = read_salt_file(path);
    if (!salt) {
        salt = random_salt();
        // When the disk refuses the file, the salt still serves from memory: ids stay stable
        // until a restart, which beats rejecting every event of the day.
        write_salt_file(path, *salt);
    }
    salts_.emplace(day, *salt);
    return *salt;
}

void VisitorHasher::forget_before(std::int64_t oldest_day_kept) {
    std::unique_lock lock(mutex_);
    salts_.erase(salts_.begin(), salts_.lower_bound(oldest_day_kept));

    // Files named "<YYYY-MM-DD>" or a left-over "<YYYY-MM-DD>.tmp.<pid>" of an old day.
    std::error_code error;
    for (std::filesystem::directory_iterator it(salt_dir_, error), end; !error && it != end;
         it.increment(error)) {
        const std::string name = it->path().filename().string();
        const std::optional<std::int64_t> day = parse_day(std::string_view(name).substr(0, 10));
        if (day && *day < oldest_day_kept &&
            (name.size() == 10 || name.compare(10, 5, ".tmp.") == 0)) {
            std::error_code ignored;
            std::filesystem::remove(it->path(), ignored);
        }
    }
}

}  // namespace tally::ingest
