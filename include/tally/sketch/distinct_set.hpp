#pragma once
// DistinctSet: the value of a `unique` (set) metric in one time bucket. Exact and small
// while it is small, a Redis-compatible HyperLogLog once it is not.
//
// What it is
// ----------
// Most buckets of a set metric are small: a 10-second bucket may see three user ids. A
// HyperLogLog costs 16 KiB whatever it holds, so a set starts as the sorted vector of its
// members' hashes, HyperLogLog::hash(member) (Redis's MurmurHash64A, exactly what PFADD
// hashes), and is promoted, one way, to a HyperLogLog fed those same hashes through
// add_hash() when it would hold more than kMaxExactHashes (512) of them.
//
// Invariants
//   Small form: hashes_ is strictly increasing, at most kMaxExactHashes long, and hll_ is
//   null. Large form: hll_ holds the registers of every hash ever added, and hashes_ is
//   empty. Either way, to_hyperloglog() has exactly the registers a HyperLogLog fed every
//   member (in any order, through any merges) would have: register updates are maxima, so
//   the order and grouping of the hashes cannot matter. That is what the mirror stores in
//   Redis, and why PFCOUNT there agrees with a HyperLogLog kept here.
//
// Error bound
//   Small: count() is the exact number of distinct hashes; two members colliding in 64 bits
//   is a 1-in-10^14 event for 512 members. Large: count() is the HyperLogLog's estimate,
//   within its 0.81 % standard error (about 0.55 % near the promotion size; see
//   hyperloglog.hpp). So the answer is exact up to 512 and then follows Redis's PFCOUNT.
//
// Merge
//   Small + small: the union of the two sorted vectors, promoted when past the threshold.
//   Any side large: the other's hashes are added to (a copy of) the large side's registers,
//   or the registers are maxed. The result equals, in both forms, the set fed both
//   streams, so merge is commutative and associative.
//
// Cost
//   add(): a hash, then a binary search and an insertion into at most 512 words (a
//   memmove of up to 4 KiB) while small; one register compare once large. count(): O(1)
//   small, one pass over 16384 registers large. merge(): linear in the small sides, one
//   register pass when both are large. Memory: 8 bytes a member (vector growth may double
//   it) plus the object, so 3 members cost well under 100 bytes; 16 KiB + the object once
//   large. memory_bytes() reports it.
//
// Encoding (encode appends; decode takes exactly one encoding, nothing after it)
//   u8 version (1) | u8 form | body.  Form 0 (small): varint n (<= 512), then n hashes, 8
//   bytes little-endian each, strictly increasing. Form 1 (large): the rest of the input is
//   a Redis HyperLogLog string (encode writes the 12304-byte dense form; decode also takes
//   the sparse one), parsed by HyperLogLog::from_redis_bytes. decode() refuses a wrong
//   version or form, truncation, trailing bytes, unsorted or duplicate hashes, n above the
//   threshold, and any invalid HyperLogLog string. The allocation is at most 512 words or
//   one HyperLogLog, whatever the input claims.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tally/sketch/hyperloglog.hpp"

namespace tally::sketch {

class DistinctSet {
  public:
    static constexpr std::size_t kMaxExactHashes = 512;
    static constexpr std::uint8_t kEncodingVersion = 1;

    DistinctSet() = default;
    DistinctSet(const DistinctSet& other);
    DistinctSet& operator=(const DistinctSet& other);
    DistinctSet(DistinctSet&&) noexcept = default;
    DistinctSet& operator=(DistinctSet&&) noexcept = default;
    ~DistinctSet() = default;

    /// Adds a member (its exact bytes, as PFADD would).
    void add(std::string_view member) { add_hash(HyperLogLog::hash(member)); }
    /// Adds a member by its HyperLogLog::hash().
    void add_hash(std::uint64_t hash);

    /// The union of both sets.
    void merge(const DistinctSet& other);

    /// Exact while small, the HyperLogLog estimate once large (see the essay).
    std::uint64_t count() const;
    bool empty() const { return !hll_ && hashes_.empty(); }
    /// True once promoted to a HyperLogLog.
    bool is_large() const { return hll_ != nullptr; }

    /// A HyperLogLog with exactly the registers of all members.
    HyperLogLog to_hyperloglog() const;

    /// Bytes owned: the object, the hash vector's allocation, the HyperLogLog if any.
    std::size_t memory_bytes() const;

    /// Appends the encoding described in the essay to `out`.
    void encode(std::string& out) const;
    /// The set `bytes` encodes, or nullopt when they are not exactly one valid encoding.
    static std::optional<DistinctSet> decode(std::string_view bytes);

    /// Same form and same content (hashes, or registers).
    bool operator==(const DistinctSet& other) const;

  private:
    // Moves the hashes into a new HyperLogLog (the one-way promotion).
    void promote();

    std::vector<std::uint64_t> hashes_;  // sorted, unique; empty once large
    std::unique_ptr<HyperLogLog> hll_;   // null while small
};

}  // namespace tally::sketch
