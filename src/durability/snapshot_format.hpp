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

/// Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF). Every string
/// the store holds came through a JSON parser that checks this, and the JSON writers of the
/// read side throw on anything else, so a snapshot string that is not UTF-8 is corruption.
inline bool valid_utf8(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        const unsigned char c = *p;
        if (c < 0x80) {
            ++p;
            continue;
        }
        int extra;
        unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
        if (c >= 0xC2 && c <= 0xDF) {
            extra = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            extra = 2;
            if (c == 0xE0)
                lo = 0xA0;
            if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            extra = 3;
            if (c == 0xF0)
                lo = 0x90;
            if (c == 0xF4)
                hi = 0x8F;
        } else {
            return false;
        }
        if (end - p <= extra || p[1] < lo || p[1] > hi)
            return false;
        for (int i = 2; i <= extra; ++i) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
        }
        p += extra + 1;
    }
    return true;
}

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
