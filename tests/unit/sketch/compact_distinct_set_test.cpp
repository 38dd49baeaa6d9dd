// CompactDistinctSet: exact up to its threshold, within its stated error past it, merges
// that equal one set fed both streams, and the encoding against hostile bytes.

#include "tally/sketch/compact_distinct_set.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "tally/sketch/hyperloglog.hpp"

namespace {

using tally::sketch::CompactDistinctSet;
using tally::sketch::HyperLogLog;

constexpr std::size_t kThreshold = CompactDistinctSet::kMaxExactHashes;

CompactDistinctSet set_of(int first, int last) {
    CompactDistinctSet set;
    for (int i = first; i < last; ++i)
        set.add_hash(HyperLogLog::hash("visitor-" + std::to_string(i)));
    return set;
}

TEST(CompactDistinctSet, ExactUpToTheThreshold) {
    for (int n : {0, 1, 2, 50, static_cast<int>(kThreshold)}) {
        const CompactDistinctSet set = set_of(0, n);
        EXPECT_EQ(set.count(), static_cast<std::uint64_t>(n));
        EXPECT_FALSE(set.is_large());
    }
    CompactDistinctSet twice = set_of(0, 100);
    twice.merge(set_of(0, 100));
    EXPECT_EQ(twice.count(), 100u);
}

TEST(CompactDistinctSet, PromotedPastTheThresholdAndBoundedInMemory) {
    const CompactDistinctSet set = set_of(0, kThreshold + 1);
    EXPECT_TRUE(set.is_large());
    EXPECT_LE(set.memory_bytes(), 1100u);
    EXPECT_LE(set_of(0, kThreshold).memory_bytes(), 1100u);
}

// 1.04 / sqrt(1024) = 3.25 %: every estimate within three standard errors, and the mean
// absolute error over many sets near one.
TEST(CompactDistinctSet, EstimateWithinItsStandardError) {
    const double standard_error = 1.04 / std::sqrt(1024.0);
    for (int n : {200, 1000, 10'000, 100'000}) {
        double total_relative_error = 0;
        const int sets = 20;
        for (int s = 0; s < sets; ++s) {
            const CompactDistinctSet set = set_of(s * 1'000'000, s * 1'000'000 + n);
            const double relative = std::abs(static_cast<double>(set.count()) - n) / n;
            EXPECT_LE(relative, 3 * standard_error) << n;
            total_relative_error += relative;
        }
        EXPECT_LE(total_relative_error / sets, 1.2 * standard_error) << n;
    }
}

TEST(CompactDistinctSet, MergeEqualsOneSetFedBoth) {
    for (auto [a, b] : {std::pair{10, 20}, std::pair{100, 100}, std::pair{100, 5000},
                        std::pair{5000, 100}, std::pair{3000, 4000}}) {
        CompactDistinctSet left = set_of(0, a);
        left.merge(set_of(a / 2, a / 2 + b));
        const CompactDistinctSet both = set_of(0, std::max(a, a / 2 + b));
        EXPECT_EQ(left.count(), both.count()) << a << " " << b;
        if (left.is_large() && both.is_large()) {
            EXPECT_TRUE(left == both);
        }
    }
}

TEST(CompactDistinctSet, EncodingRoundTrips) {
    for (int n : {0, 7, static_cast<int>(kThreshold), 4000}) {
        const CompactDistinctSet set = set_of(0, n);
        std::string bytes;
        set.encode(bytes);
        const auto back = CompactDistinctSet::decode(bytes);
        ASSERT_TRUE(back.has_value()) << n;
        EXPECT_TRUE(*back == set);
        EXPECT_EQ(back->count(), set.count());
    }
}

TEST(CompactDistinctSet, DecodeRefusesBadBytes) {
    std::string small;
    set_of(0, 3).encode(small);
    std::string large;
    set_of(0, 3000).encode(large);
    EXPECT_FALSE(CompactDistinctSet::decode(""));
    EXPECT_FALSE(CompactDistinctSet::decode(small.substr(0, small.size() - 1)));
    EXPECT_FALSE(CompactDistinctSet::decode(small + "x"));
    EXPECT_FALSE(CompactDistinctSet::decode(large.substr(0, large.size() - 1)));
    std::string wrong_version = small;
    wrong_version[0] = 2;
    EXPECT_FALSE(CompactDistinctSet::decode(wrong_version));
    std::string register_too_big = large;
    register_too_big[2] = 56;
    EXPECT_FALSE(CompactDistinctSet::decode(register_too_big));
    // Hashes out of order.
    std::string unsorted = small;
    std::swap_ranges(unsorted.begin() + 3, unsorted.begin() + 11, unsorted.begin() + 11);
    EXPECT_FALSE(CompactDistinctSet::decode(unsorted));
    // A count above the threshold.
    std::string too_many = "\x01\x00";
    too_many.push_back(static_cast<char>(kThreshold + 1));
    too_many.push_back(1);
    too_many.append((kThreshold + 1) * 8, '\0');
    EXPECT_FALSE(CompactDistinctSet::decode(too_many));
}

}  // namespace
