#pragma once
// The little byte vocabulary the sketches' encoders share: LEB128 varints, zigzag for signed
// keys, IEEE-754 doubles and 64-bit words as 8 little-endian bytes, and a reader that never
// reads past its input. Private to src/sketch: the formats are documented in each sketch's
// header, this file only spells the bytes.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tally::sketch::codec {

inline void put_u64_le(std::string& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) {
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
}

inline void put_double(std::string& out, double v) {
    put_u64_le(out, std::bit_cast<std::uint64_t>(v));
}

inline void put_varint(std::string& out, std::uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<char>((v & 0x7f) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}

// Zigzag keeps small negative keys small: 0, -1, 1, -2 ... become 0, 1, 2, 3 ...
inline std::uint64_t zigzag(std::int64_t v) {
    return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
inline std::int64_t unzigzag(std::uint64_t v) {
    return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

// Reads forward through `bytes`; every read checks what is left and fails (nullopt) rather
// than reading past the end, so a truncated input is refused wherever it stops.
class Reader {
  public:
    explicit Reader(std::string_view bytes) : bytes_(bytes) {}

    std::size_t remaining() const { return bytes_.size() - pos_; }
    bool at_end() const { return pos_ == bytes_.size(); }

    std::optional<std::uint8_t> byte() {
        if (remaining() < 1) {
            return std::nullopt;
        }
        return static_cast<std::uint8_t>(bytes_[pos_++]);
    }

    std::optional<std::uint64_t> u64_le() {
        if (remaining() < 8) {
            return std::nullopt;
        }
        std::uint64_t v = 0;
        for (int i = 0; i < 8; ++i) {
            v |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(bytes_[pos_ + i])) << (8 * i);
        }
        pos_ += 8;
        return v;
    }

    std::optional<double> f64() {
        auto bits = u64_le();
        if (!bits) {
            return std::nullopt;
        }
        return std::bit_cast<double>(*bits);
    }

    // At most ten bytes, and the tenth may only carry the top bit of a 64-bit value:
    // anything longer or wider is malformed, not silently truncated.
    std::optional<std::uint64_t> varint() {
        std::uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            auto b = byte();
            if (!b) {
                return std::nullopt;
            }
            if (shift == 63 && (*b & 0xfe) != 0) {
                return std::nullopt;
            }
            v |= static_cast<std::uint64_t>(*b & 0x7f) << shift;
            if ((*b & 0x80) == 0) {
                return v;
            }
        }
        return std::nullopt;
    }

    std::string_view rest() {
        std::string_view r = bytes_.substr(pos_);
        pos_ = bytes_.size();
        return r;
    }

  private:
    std::string_view bytes_;
    std::size_t pos_ = 0;
};

}  // namespace tally::sketch::codec
