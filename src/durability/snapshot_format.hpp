#pragma once
// What the snapshot files share (private to src/durability): the frame of the format that
// snapshot.hpp lays out (magic, header, section and trailer sizes, section kinds), the
// bounds-checked Reader that decoding and read_snapshot_meta read it with, and the meta
// section's decoder, which both use. Writing, decoding and the files around them are in
// snapshot_encode.cpp, snapshot_decode.cpp and snapshot_files.cpp.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "tally/base/names.hpp"
#include "tally/durability/snapshot.hpp"

namespace tally::durability::detail {

inline constexpr std::string_view kMagic = "TALLYSNP";
inline constexpr std::string_view kEndMagic = "TALLYEND";
inline constexpr std::size_t kHeaderSize = 16;
inline constexpr std::size_t kSectionHeaderSize = 16;
inline constexpr std::size_t kTrailerSize = 20;

enum class Section : std::uint32_t {
    meta = 1,
    day = 2,
    windows = 3,
    sessions = 4,
    rollup = 5,
    funnel = 6,
    site_mark = 7
};

// Every string the store holds came through a JSON parser that checks it is UTF-8, and the
// JSON writers of the read side throw on anything else, so a snapshot string that is not
// UTF-8 (tally::valid_utf8) is corruption.

/// Bounds-checked reads over one section's payload; a failed read sticks and returns
/// zeros, so callers check ok() once after a group of reads.
class Reader {
  public:
    explicit Reader(std::string_view bytes) : bytes_(bytes) {}
    bool ok() const { return ok_; }
    bool done() const { return pos_ == bytes_.size(); }
    std::size_t left() const { return bytes_.size() - pos_; }

    std::uint32_t u32() { return static_cast<std::uint32_t>(fixed(4)); }
    std::uint64_t u64() { return fixed(8); }
    std::int64_t i64() { return static_cast<std::int64_t>(fixed(8)); }
    std::string_view bytes(std::size_t n) {
        if (!ok_ || n > left()) {
            ok_ = false;
            return {};
        }
        const std::string_view out = bytes_.substr(pos_, n);
        pos_ += n;
        return out;
    }
    /// A string: u32 length, then that many bytes of UTF-8.
    std::string_view str() {
        const std::string_view s = bytes(u32());
        if (!valid_utf8(s))
            ok_ = false;
        return s;
    }
    /// A count of items each at least `min_item` bytes long: one larger than what is left
    /// can only be corruption, so loops over it stay bounded by the input.
    std::uint64_t count(std::uint64_t n, std::size_t min_item) {
        if (!ok_ || n > left() / min_item) {
            ok_ = false;
            return 0;
        }
        return n;
    }
    void fail() { ok_ = false; }

  private:
    std::uint64_t fixed(int width) {
        if (!ok_ || static_cast<std::size_t>(width) > left()) {
            ok_ = false;
            return 0;
        }
        std::uint64_t v = 0;
        for (int i = width - 1; i >= 0; --i)
            v = (v << 8) | static_cast<unsigned char>(bytes_[pos_ + static_cast<std::size_t>(i)]);
        pos_ += static_cast<std::size_t>(width);
        return v;
    }

    std::string_view bytes_;
    std::size_t pos_ = 0;
    bool ok_ = true;
};

/// The meta section's payload (in.done() is the caller's to check); false when it is short.
bool decode_meta(Reader& in, SnapshotMeta& meta);

/// Sets *error (when given) to `reason`; false, for `return fail(...)`.
inline bool fail(std::string* error, std::string reason) {
    if (error)
        *error = std::move(reason);
    return false;
}

}  // namespace tally::durability::detail
