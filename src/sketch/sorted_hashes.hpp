#pragma once
// The small form that DistinctSet and CompactDistinctSet share: a strictly increasing vector
// of 64-bit member hashes, and its encoding (varint n, then n little-endian words). Private
// to src/sketch.

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "byte_codec.hpp"

namespace tally::sketch::sorted_hashes {

/// Inserts `hash` in order; false when it is already there.
inline bool insert(std::vector<std::uint64_t>& hashes, std::uint64_t hash) {
    const auto at = std::lower_bound(hashes.begin(), hashes.end(), hash);
    if (at != hashes.end() && *at == hash)
        return false;
    hashes.insert(at, hash);
    return true;
}

/// `into` becomes the union of both.
inline void unite(std::vector<std::uint64_t>& into, const std::vector<std::uint64_t>& other) {
    std::vector<std::uint64_t> both;
    both.reserve(into.size() + other.size());
    std::set_union(into.begin(), into.end(), other.begin(), other.end(), std::back_inserter(both));
    into = std::move(both);
}

inline void encode(std::string& out, const std::vector<std::uint64_t>& hashes) {
    codec::put_varint(out, hashes.size());
    for (const std::uint64_t h : hashes)
        codec::put_u64_le(out, h);
}

/// The rest of `in` as an encoding of at most `max` hashes, strictly increasing, nothing
/// after them; nullopt otherwise. Allocates at most `max` words whatever the input claims.
inline std::optional<std::vector<std::uint64_t>> decode(codec::Reader& in, std::size_t max) {
    const auto n = in.varint();
    if (!n || *n > max || *n * 8 != in.remaining())
        return std::nullopt;
    std::vector<std::uint64_t> hashes;
    hashes.reserve(*n);
    for (std::uint64_t i = 0; i < *n; ++i) {
        const std::uint64_t h = *in.u64_le();  // present: the length was checked above
        if (!hashes.empty() && h <= hashes.back())
            return std::nullopt;
        hashes.push_back(h);
    }
    return hashes;
}

}  // namespace tally::sketch::sorted_hashes
