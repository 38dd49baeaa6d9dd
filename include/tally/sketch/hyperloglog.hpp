#pragma once
// HyperLogLog, byte-compatible with Redis 7 (src/hyperloglog.c, 7.0.x).
//
// What it is
// ----------
// A HyperLogLog estimates how many distinct members a stream holds, in fixed memory,
// without storing the members. Every member is hashed to 64 bits. The low 14 bits pick
// one of m = 2^14 = 16384 registers; the other 50 bits are a geometric random variable:
// the number of trailing zero bits plus one, "count", is k with probability 2^-k. Each
// register keeps the largest count it has seen. A register that has seen n/m members
// holds about log2(n/m), so the histogram of the registers tells the cardinality.
//
// Because the hash, register choice and estimator below are exactly Redis's, the same
// members give the same registers as PFADD, count() equals PFCOUNT to the unit, and
// dense_bytes() can be SET into Redis and used there as a native HyperLogLog.
//
// Hash (Redis's MurmurHash64A, seed 0xadc83b19)
// ----------------------------------------------
//   h = seed ^ (len * 0xc6a4a7935bd1e995); 8-byte little-endian blocks, then the 1-7 byte
//   tail, then h ^= h >> 47; h *= m; h ^= h >> 47. The input is the exact bytes of the
//   PFADD argument (binary-safe, an empty member is a member).
//
//   register index = hash & 0x3fff                      (the low 14 bits)
//   count          = ctz((hash >> 14) | 1 << 50) + 1    (1..51)
//
//   The guard bit 1 << 50 bounds count at 51 when the 50 high bits are all zero.
//
// Redis string layout (what GET returns, what SET may store)
// -----------------------------------------------------------
//   +------+---+---+---+---+---------------------------+---------------------------+
//   | HYLL | E | 0 | 0 | 0 | card (8 bytes, LE)        | registers ...             |
//   +------+---+---+---+---+---------------------------+---------------------------+
//    0..3   4   5   6   7   8 ................ 15         16 ...
//
//   E is the encoding: 0 = dense, 1 = sparse (Redis rejects anything else). Bytes 5-7 are
//   unused and zero. card is the cached cardinality; it is valid while bit 7 of byte 15 is
//   clear. Redis answers a single-key PFCOUNT from a valid cache without looking at the
//   registers, so a writer must either store the true estimate there (dense_bytes() does)
//   or set that bit.
//
// Dense registers (12288 bytes, total length exactly 12304)
//   The 16384 six-bit registers form one little-endian bit stream, least significant bit
//   first: register i occupies bits 6i .. 6i+5 of the stream, so it starts in byte 6i/8
//   at bit 6i%8 and may spill into the next byte. Four registers fill three bytes:
//
//        byte 0            byte 1            byte 2
//   +-----------------+-----------------+-----------------+
//   |1 1|0 0 0 0 0 0 | 2 2 2 2|1 1 1 1 | 3 3 3 3 3 3|2 2 |    (bit 7 on the left)
//   +-----------------+-----------------+-----------------+
//
//   register 0 = bits 0-5 of byte 0; register 1 = bits 6-7 of byte 0 (its low bits) and
//   bits 0-3 of byte 1 (its high bits); register 2 = bits 4-7 of byte 1 and bits 0-1 of
//   byte 2; register 3 = bits 2-7 of byte 2. Redis reads b[byte] and b[byte + 1] for every
//   register, even the last (it relies on the string's trailing NUL); packing and
//   unpacking in groups of three bytes, as here, never needs that pad byte.
//
// Sparse registers (what PFADD creates for small sets; any length)
//   A run-length code of opcodes, read left to right, covering the registers in order:
//     ZERO   00xxxxxx            xxxxxx + 1 (1..64) registers equal to 0
//     XZERO  01xxxxxx yyyyyyyy   (xxxxxx << 8 | yyyyyyyy) + 1 (1..16384) registers of 0
//     VAL    1vvvvvxx            xx + 1 (1..4) registers equal to vvvvv + 1 (1..32)
//   The runs must cover exactly 16384 registers. A fresh key is XZERO:16384 (18 bytes).
//   Redis promotes a key to dense, never back, when a count exceeds 32 or the string
//   exceeds hll-sparse-max-bytes (3000). This class only reads the sparse form.
//
// Invariants
//   registers_[i] <= 63 always (a six-bit field); add() only ever produces 0..51, a parsed
//   dense string may hold up to 63, which the estimator ignores beyond 51 exactly as Redis
//   does. A register never decreases: add() and merge() only take maxima, so merging is
//   commutative, associative and idempotent, and merge(a, b) has exactly the registers of
//   one HyperLogLog fed both streams.
//
// Estimator (Redis 7's hllCount; Ertl, arXiv:1702.01284)
//   With C[k] the number of registers equal to k, q = 50:
//     z = m * tau(1 - C[q+1]/m); for k = q .. 1: z = (z + C[k]) * 0.5; z += m * sigma(C[0]/m)
//     E = llroundl(alpha_inf * m * m / z),  alpha_inf = 1 / (2 ln 2)
//   evaluated in doubles in the same order as Redis, so the result is bit-identical.
//   sigma and tau correct for empty and saturated registers, so one formula serves from 0
//   to far beyond 10^9 without the linear-counting switch of the original HyperLogLog.
//
// Error bound
//   The relative standard error is about 1.04 / sqrt(m) = 1.04 / 128 = 0.81 % for large
//   cardinalities (Redis documents it as 0.81 %), and smaller below a few times m, where
//   the sigma term makes the estimate behave like linear counting (about 0.55 % at 1000).
//
// Cost
//   Memory: 16 KiB here (one byte per register: no bit twiddling on the hot path), 12304
//   bytes in Redis's dense form. add(): one MurmurHash64A pass over the member and one
//   compare, a few nanoseconds. count(), merge(), dense_bytes(), from_redis_bytes(): one
//   pass over the registers, about 10-20 microseconds each.

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
    static constexpr int kQ = 64 - kP;  // 50
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
    // Parsers for the two register encodings; `data` is everything after the header.
    // They fill registers_ and return false on malformed input without reading past it.
    bool parse_dense(std::string_view data);
    bool parse_sparse(std::string_view data);

    // One register per byte, values 0..63 (see Invariants).
    std::array<std::uint8_t, kRegisters> registers_;
};

/// Ertl's estimator as Redis's hllCount evaluates it, for any register count: `histogram`
/// holds, for k in 0..q+1, how many of the `registers` registers equal k, where q is 64
/// minus the index bits. HyperLogLog::count() is this with 16384 registers and q = 50;
/// smaller sketches (compact_distinct_set.hpp) share it.
std::uint64_t ertl_estimate(const int* histogram, std::size_t registers, int q);

}  // namespace tally::sketch
