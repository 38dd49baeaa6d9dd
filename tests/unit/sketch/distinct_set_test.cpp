// DistinctSet: exact while small, the same registers as a HyperLogLog once promoted, merges
// across the threshold, and the encoding against hostile bytes.

#include "tally/sketch/distinct_set.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "tally/sketch/hyperloglog.hpp"

namespace {

using tally::sketch::DistinctSet;
using tally::sketch::HyperLogLog;

constexpr std::size_t kThreshold = DistinctSet::kMaxExactHashes;

std::string member(int i) {
    return "user-" + std::to_string(i);
}

DistinctSet set_of(int first, int last) {
    DistinctSet set;
    for (int i = first; i < last; ++i) {
        set.add(member(i));
    }
    return set;
}

HyperLogLog hll_of(int first, int last) {
    HyperLogLog hll;
    for (int i = first; i < last; ++i) {
        hll.add(member(i));
    }
    return hll;
}

TEST(DistinctSet, SmallSetsAreExactAndSmall) {
    DistinctSet set;
    EXPECT_TRUE(set.empty());
    EXPECT_EQ(set.count(), 0u);
    for (const char* m : {"a", "b", "c", "a", "b", ""}) {
        set.add(m);
    }
    EXPECT_EQ(set.count(), 4u);  // the empty member is a member, as in PFADD
    EXPECT_FALSE(set.is_large());
    EXPECT_LT(set.memory_bytes(), 128u);
}

TEST(DistinctSet, StaysExactUpToTheThresholdThenPromotes) {
    DistinctSet set = set_of(0, static_cast<int>(kThreshold));
    EXPECT_FALSE(set.is_large());
    EXPECT_EQ(set.count(), kThreshold);
    set.add(member(0));  // a repeat does not promote
    EXPECT_FALSE(set.is_large());
    set.add(member(static_cast<int>(kThreshold)));
    EXPECT_TRUE(set.is_large());
    EXPECT_EQ(set.to_hyperloglog(), hll_of(0, static_cast<int>(kThreshold) + 1));
}

TEST(DistinctSet, PromotionKeepsTheRegistersOfAHyperLogLogFedTheSameMembers) {
    const DistinctSet set = set_of(0, 20'000);
    const HyperLogLog direct = hll_of(0, 20'000);
    const HyperLogLog ours = set.to_hyperloglog();
    for (std::size_t i = 0; i < HyperLogLog::kRegisters; ++i) {
        ASSERT_EQ(ours.register_at(i), direct.register_at(i)) << "register " << i;
    }
    EXPECT_EQ(set.count(), direct.count());
    EXPECT_GE(set.memory_bytes(), sizeof(HyperLogLog));
}

TEST(DistinctSet, SmallToHyperLogLogHasTheSameRegisters) {
    EXPECT_EQ(set_of(0, 100).to_hyperloglog(), hll_of(0, 100));
    EXPECT_EQ(DistinctSet().to_hyperloglog(), HyperLogLog());
}

TEST(DistinctSet, MergeOfSmallSetsIsTheExactUnion) {
    DistinctSet a = set_of(0, 100);
    a.merge(set_of(50, 200));
    EXPECT_FALSE(a.is_large());
    EXPECT_EQ(a.count(), 200u);
    EXPECT_EQ(a, set_of(0, 200));
}

TEST(DistinctSet, MergeOfSmallSetsCrossingTheThresholdPromotes) {
    DistinctSet a = set_of(0, 300);
    a.merge(set_of(250, 600));
    EXPECT_TRUE(a.is_large());
    EXPECT_EQ(a.to_hyperloglog(), hll_of(0, 600));
    EXPECT_EQ(a, set_of(0, 600));
}

TEST(DistinctSet, MergeOfSmallAndLargeEitherWay) {
    DistinctSet small_first = set_of(0, 100);
    small_first.merge(set_of(50, 5000));
    DistinctSet large_first = set_of(50, 5000);
    large_first.merge(set_of(0, 100));
    EXPECT_TRUE(small_first.is_large());
    EXPECT_EQ(small_first, large_first);
    EXPECT_EQ(small_first.to_hyperloglog(), hll_of(0, 5000));
}

TEST(DistinctSet, MergeOfLargeSetsIsTheRegisterMax) {
    DistinctSet a = set_of(0, 3000);
    a.merge(set_of(2000, 9000));
    EXPECT_EQ(a.to_hyperloglog(), hll_of(0, 9000));
    DistinctSet self = a;
    self.merge(self);
    EXPECT_EQ(self, a);
}

TEST(DistinctSet, CopiesAreDeep) {
    const DistinctSet original = set_of(0, 1000);
    DistinctSet copy = original;
    copy.add("another");
    EXPECT_NE(copy.to_hyperloglog(), original.to_hyperloglog());
    copy = original;
    EXPECT_EQ(copy, original);
}

TEST(DistinctSet, EncodeDecodeRoundTrips) {
    for (const DistinctSet& original :
         {DistinctSet(), set_of(0, 3), set_of(0, 512), set_of(0, 513), set_of(0, 50'000)}) {
        std::string bytes;
        original.encode(bytes);
        const auto decoded = DistinctSet::decode(bytes);
        ASSERT_TRUE(decoded.has_value());
        EXPECT_EQ(*decoded, original);
        EXPECT_EQ(decoded->count(), original.count());
    }
    std::string small;
    set_of(0, 3).encode(small);
    EXPECT_EQ(small.size(), 2u + 1u + 3u * 8u);
}

TEST(DistinctSet, DecodeRefusesTruncationTrailingBytesAndDisorder) {
    for (const DistinctSet& original : {DistinctSet(), set_of(0, 40), set_of(0, 2000)}) {
        std::string bytes;
        original.encode(bytes);
        for (std::size_t len = 0; len < bytes.size(); ++len) {
            EXPECT_FALSE(DistinctSet::decode(std::string_view(bytes).substr(0, len)).has_value())
                << len;
        }
        EXPECT_FALSE(DistinctSet::decode(bytes + 'x').has_value());
    }
    std::string bytes;
    set_of(0, 2).encode(bytes);
    std::string swapped = bytes.substr(0, 3) + bytes.substr(11, 8) + bytes.substr(3, 8);
    EXPECT_FALSE(DistinctSet::decode(swapped).has_value());
    std::string duplicate = bytes.substr(0, 3) + bytes.substr(3, 8) + bytes.substr(3, 8);
    EXPECT_FALSE(DistinctSet::decode(duplicate).has_value());
    // A hostile count: 513 hashes claimed, and the bytes for them, is still refused.
    std::string too_many = "\x01\x00\x81\x04";
    too_many.append(513 * 8, '\x01');
    EXPECT_FALSE(DistinctSet::decode(too_many).has_value());
}

TEST(DistinctSet, DecodeSurvivesGarbage) {
    std::mt19937_64 rng(3);
    std::uniform_int_distribution<int> byte(0, 255);
    for (int i = 0; i < 20'000; ++i) {
        std::string garbage(static_cast<std::size_t>(byte(rng) % 64), '\0');
        for (char& c : garbage) {
            c = static_cast<char>(byte(rng));
        }
        if (garbage.size() >= 2 && i % 2 == 0) {
            garbage[0] = '\x01';
            garbage[1] = static_cast<char>(i % 4 == 0 ? 0 : 1);
        }
        const auto decoded = DistinctSet::decode(garbage);
        if (decoded) {
            (void)decoded->count();
        }
    }
}

}  // namespace
