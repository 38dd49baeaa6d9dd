#pragma once
// HyperLogLog, byte-compatible with Redis 7's dense encoding.
// (The helper implementing src/sketch/hyperloglog.cpp writes the full essay here:
// header and register diagrams, hash, estimator, error bound, cost.)

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tally::sketch {

class HyperLogLog {
public:
    static constexpr int kP = 14;
    static constexpr std::size_t kRegisters = std::size_t{1} << kP;  // 16384
    static constexpr int kBits = 6;
    static constexpr int kQ = 64 - kP;                             // 50
    static constexpr std::size_t kHeaderSize = 16;
    static constexpr std::size_t kDenseSize = kHeaderSize + kRegisters * kBits / 8;  // 12304
    static constexpr std::uint64_t kHashSeed = 0xadc83b19ULL;

    HyperLogLog();

    /// MurmurHash64A of `member` with Redis's seed: exactly the hash PFADD computes.
    static std::uint64_t hash(std::string_view member);

    /// PFADD one member. Returns true when a register changed.
    bool add(std::string_view member);
    /// Same as add(), for a hash computed with hash().
    bool add_hash(std::uint64_t hash);

    /// Cardinality by Redis 7's estimator (hllCount): PFCOUNT on the same registers.
    std::uint64_t count() const;

    /// Register-wise max (PFMERGE).
    void merge(const HyperLogLog& other);

    std::uint8_t register_at(std::size_t index) const;
    bool empty() const;

    /// The 12304-byte Redis dense string: "HYLL", encoding 0, the cached cardinality
    /// set to count() with the cache marked valid.
    std::string dense_bytes() const;

    /// Parses a Redis HLL string, dense or sparse, as GET returns it. nullopt when the
    /// bytes are not a valid HLL (wrong magic, encoding, length or sparse run total).
    static std::optional<HyperLogLog> from_redis_bytes(std::string_view bytes);

    bool operator==(const HyperLogLog& other) const;

private:
    std::array<std::uint8_t, kRegisters> registers_;
};

}  // namespace tally::sketch
