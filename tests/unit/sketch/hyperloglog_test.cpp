// HyperLogLog without Redis: accuracy, the Redis byte format, and hostile input.
// hyperloglog_redis_test.cpp checks the same class against a real redis-server.

#include "tally/sketch/hyperloglog.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace {

using tally::sketch::HyperLogLog;

// SplitMix64: a fast generator whose outputs are a bijection of its state, so n draws are
// n distinct, well-mixed 64-bit values: n distinct members' hashes.
struct SplitMix64 {
    std::uint64_t state;
    std::uint64_t next() {
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
};

// ---------------------------------------------------------------------------------------
// Accuracy

// The spec's figure: Redis documents a standard error of 0.81 % (1.04 / sqrt(16384)).
constexpr double kSpecStandardError = 0.0081;

// Upper 99.9 % quantile of the chi-square distribution with k degrees of freedom, by the
// Wilson-Hilferty approximation (accurate to a fraction of a percent for k >= 10).
double chi_square_upper_999(int k) {
    const double z = 3.0902;  // the standard normal's 99.9 % quantile
    const double a = 2.0 / (9.0 * k);
    return k * std::pow(1.0 - a + z * std::sqrt(a), 3);
}

// Relative errors of `seeds` HyperLogLogs of n distinct members each.
std::vector<double> relative_errors(std::uint64_t n, int seeds) {
    std::vector<double> errors;
    for (int seed = 0; seed < seeds; ++seed) {
        // Unrelated starting states, so no two runs share a member.
        SplitMix64 start{n * 0x100000001b3ULL + static_cast<std::uint64_t>(seed)};
        SplitMix64 gen{start.next()};
        HyperLogLog hll;
        for (std::uint64_t i = 0; i < n; ++i)
            hll.add_hash(gen.next());
        errors.push_back(static_cast<double>(hll.count()) / static_cast<double>(n) - 1.0);
    }
    return errors;
}

double sum_of_squares(const std::vector<double>& v) {
    double s = 0;
    for (double x : v)
        s += x * x;
    return s;
}

// Why this statistic is sound. Each seed is an independent HyperLogLog of n distinct
// uniformly hashed members, and its relative error is close to normal with mean ~0 and
// the estimator's standard error sigma. The RMS over k seeds, r, then satisfies
// k r^2 / sigma^2 ~ chi-square(k). If sigma <= 0.81 %, r exceeds
// 0.81 % * sqrt(chi2_{k,0.999} / k) with probability at most 0.1 %, so the assertion below
// holds for a correct sketch (and with fixed seeds it is deterministic), while a broken
// hash, register update or estimator misses by far more than that allowance. A bare
// "r <= 0.81 %" would not be a test: at large n the estimator's true error is
// 1.04/sqrt(m) = 0.8125 %, so such an assertion passes or fails by the luck of the seeds.
// Seeds: many where they are cheap, fewer at 10^6 and 10^7, about two seconds in all in an
// optimised build (a run of 10^7 add_hash calls takes ~25 ms).
TEST(HyperLogLogAccuracy, StandardErrorWithinSpec) {
    struct Case {
        std::uint64_t n;
        int seeds;
    };
    const Case cases[] = {
        {1'000, 500}, {10'000, 500}, {100'000, 500}, {1'000'000, 200}, {10'000'000, 50}};
    double pooled = 0;
    int pooled_seeds = 0;
    for (const Case& c : cases) {
        const auto errors = relative_errors(c.n, c.seeds);
        const double rms = std::sqrt(sum_of_squares(errors) / c.seeds);
        const double limit =
            kSpecStandardError * std::sqrt(chi_square_upper_999(c.seeds) / c.seeds);
        std::printf("[ measured ] n=%-9llu seeds=%-4d RMS relative error %.4f %% (limit %.4f %%)\n",
                    static_cast<unsigned long long>(c.n), c.seeds, 100 * rms, 100 * limit);
        EXPECT_LE(rms, limit) << "n=" << c.n;
        pooled += sum_of_squares(errors);
        pooled_seeds += c.seeds;
    }
    // All sizes together: many more degrees of freedom, so a much tighter allowance.
    const double pooled_rms = std::sqrt(pooled / pooled_seeds);
    const double pooled_limit =
        kSpecStandardError * std::sqrt(chi_square_upper_999(pooled_seeds) / pooled_seeds);
    std::printf("[ measured ] pooled over %d runs: RMS %.4f %% (limit %.4f %%)\n", pooled_seeds,
                100 * pooled_rms, 100 * pooled_limit);
    EXPECT_LE(pooled_rms, pooled_limit);
}

// The same through add(string): the real MurmurHash64A path, not a synthetic hash.
TEST(HyperLogLogAccuracy, StringMembersThroughMurmur) {
    const int seeds = 100;
    const std::uint64_t n = 100'000;
    double squares = 0;
    for (int seed = 0; seed < seeds; ++seed) {
        HyperLogLog hll;
        std::string member;
        for (std::uint64_t i = 0; i < n; ++i) {
            member = "visitor:" + std::to_string(seed) + ":" + std::to_string(i);
            hll.add(member);
        }
        const double e = static_cast<double>(hll.count()) / n - 1.0;
        squares += e * e;
    }
    const double rms = std::sqrt(squares / seeds);
    std::printf("[ measured ] strings n=%llu seeds=%d RMS relative error %.4f %%\n",
                static_cast<unsigned long long>(n), seeds, 100 * rms);
    EXPECT_LE(rms, kSpecStandardError * std::sqrt(chi_square_upper_999(seeds) / seeds));
}

TEST(HyperLogLogAccuracy, SmallSetsAreNearlyExact) {
    // Below a few hundred members collisions are rare and the sigma term makes the
    // estimator linear counting: the answer is exact or off by one or two.
    HyperLogLog hll;
    EXPECT_EQ(hll.count(), 0u);
    EXPECT_TRUE(hll.empty());
    for (int i = 1; i <= 200; ++i) {
        hll.add("m" + std::to_string(i));
        EXPECT_NEAR(static_cast<double>(hll.count()), i, 2) << i;
    }
    EXPECT_FALSE(hll.empty());
}

// ---------------------------------------------------------------------------------------
// Registers, hash, merge

TEST(HyperLogLog, AddSetsTheRegisterRedisWould) {
    // register = low 14 bits; count = trailing zeros of (hash >> 14 | 1 << 50) + 1.
    HyperLogLog hll;
    EXPECT_TRUE(hll.add_hash(0x0000000000000005ULL | (std::uint64_t{1} << 14)));  // ctz 0
    EXPECT_EQ(hll.register_at(5), 1);
    EXPECT_TRUE(hll.add_hash(0x0000000000000005ULL | (std::uint64_t{1} << 17)));  // ctz 3
    EXPECT_EQ(hll.register_at(5), 4);
    EXPECT_FALSE(hll.add_hash(0x0000000000000005ULL | (std::uint64_t{1} << 15)));  // 2 < 4
    EXPECT_EQ(hll.register_at(5), 4);
    // All 50 high bits zero: the guard bit caps the count at 51.
    EXPECT_TRUE(hll.add_hash(0x3fff));
    EXPECT_EQ(hll.register_at(0x3fff), 51);
    EXPECT_THROW((void)hll.register_at(HyperLogLog::kRegisters), std::out_of_range);
}

TEST(HyperLogLog, HashIsBinarySafeAndCoversEveryTailLength) {
    // Lengths 0..17 go through every case of the tail switch and a second 8-byte block.
    std::string s;
    std::vector<std::uint64_t> hashes;
    for (int len = 0; len <= 17; ++len) {
        hashes.push_back(HyperLogLog::hash(s));
        s.push_back(static_cast<char>(len == 3 ? 0 : 0xa0 + len));  // an embedded NUL too
    }
    std::sort(hashes.begin(), hashes.end());
    EXPECT_EQ(std::adjacent_find(hashes.begin(), hashes.end()), hashes.end());
    EXPECT_NE(HyperLogLog::hash(std::string_view("a\0b", 3)), HyperLogLog::hash("a"));
    EXPECT_EQ(HyperLogLog::hash("tally"), HyperLogLog::hash(std::string("tally")));
}

TEST(HyperLogLog, MergeIsTheUnion) {
    HyperLogLog a, b, both;
    for (int i = 0; i < 30'000; ++i) {
        const std::string m = "u" + std::to_string(i);
        (i % 3 == 0 ? a : b).add(m);
        if (i % 5 == 0)
            a.add(m);  // overlap
        both.add(m);
    }
    HyperLogLog merged = a;
    merged.merge(b);
    EXPECT_EQ(merged, both);
    EXPECT_EQ(merged.count(), both.count());
    // Commutative and idempotent.
    HyperLogLog other = b;
    other.merge(a);
    EXPECT_EQ(other, merged);
    merged.merge(merged);
    EXPECT_EQ(merged, both);
}

// ---------------------------------------------------------------------------------------
// The Redis byte format

// Registers packed LSB-first, six bits each, independently of the class under test.
std::uint8_t packed_register(const std::string& dense, std::size_t i) {
    const std::size_t bit = i * 6;
    const auto* r = reinterpret_cast<const unsigned char*>(dense.data()) + 16;
    unsigned v = r[bit / 8] >> (bit % 8);
    if (bit % 8 > 2)
        v |= static_cast<unsigned>(r[bit / 8 + 1]) << (8 - bit % 8);
    return static_cast<std::uint8_t>(v & 63);
}

TEST(HyperLogLogFormat, DenseBytesLayout) {
    HyperLogLog hll;
    SplitMix64 gen{42};
    for (int i = 0; i < 50'000; ++i)
        hll.add_hash(gen.next());

    const std::string bytes = hll.dense_bytes();
    ASSERT_EQ(bytes.size(), 12304u);
    EXPECT_EQ(bytes.substr(0, 4), "HYLL");
    EXPECT_EQ(bytes[4], 0);  // dense
    EXPECT_EQ(bytes[5], 0);
    EXPECT_EQ(bytes[6], 0);
    EXPECT_EQ(bytes[7], 0);
    std::uint64_t card = 0;
    for (int i = 0; i < 8; ++i)
        card |= std::uint64_t{static_cast<unsigned char>(bytes[8 + i])} << (8 * i);
    EXPECT_EQ(card, hll.count());
    EXPECT_EQ(static_cast<unsigned char>(bytes[15]) & 0x80, 0);  // cache valid
    for (std::size_t i = 0; i < HyperLogLog::kRegisters; ++i) {
        ASSERT_EQ(packed_register(bytes, i), hll.register_at(i)) << i;
    }

    auto parsed = HyperLogLog::from_redis_bytes(bytes);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, hll);
}

TEST(HyperLogLogFormat, EmptyDenseAndEveryRegisterValue) {
    EXPECT_EQ(HyperLogLog().dense_bytes().substr(16), std::string(12288, '\0'));
    // A crafted dense string may hold any six-bit value; parse and re-emit keep it.
    std::string bytes = HyperLogLog().dense_bytes();
    for (std::size_t i = 16; i < bytes.size(); ++i)
        bytes[i] = static_cast<char>(0xff);
    auto all63 = HyperLogLog::from_redis_bytes(bytes);
    ASSERT_TRUE(all63.has_value());
    for (std::size_t i = 0; i < HyperLogLog::kRegisters; ++i)
        ASSERT_EQ(all63->register_at(i), 63);
    EXPECT_EQ(all63->dense_bytes().substr(16), bytes.substr(16));
    // Every register above q+1 = 51 gives z == 0 in hllCount; Redis answers with its
    // llroundl(inf) value, 2^63 as uint64_t. It must not crash, and the cache bit is then set.
    EXPECT_EQ(all63->count(), std::uint64_t{1} << 63);
    EXPECT_NE(static_cast<unsigned char>(all63->dense_bytes()[15]) & 0x80, 0);
}

// A sparse encoder written from the format description, to feed the parser inputs Redis
// would produce (and some it would not, such as ZERO runs where Redis uses XZERO).
std::string sparse_bytes(const std::vector<std::uint8_t>& regs, bool prefer_short_zero = false) {
    std::string out = "HYLL";
    out += '\x01';
    out.append(11, '\0');
    std::size_t i = 0;
    while (i < regs.size()) {
        std::size_t run = 1;
        while (i + run < regs.size() && regs[i + run] == regs[i])
            ++run;
        if (regs[i] == 0) {
            std::size_t left = run;
            while (left > 0) {
                if (prefer_short_zero || left <= 64) {
                    const std::size_t len = std::min<std::size_t>(left, 64);
                    out += static_cast<char>(len - 1);
                    left -= len;
                } else {
                    const std::size_t len = std::min<std::size_t>(left, 16384);
                    out += static_cast<char>(0x40 | ((len - 1) >> 8));
                    out += static_cast<char>((len - 1) & 0xff);
                    left -= len;
                }
            }
        } else {
            std::size_t left = run;
            while (left > 0) {
                const std::size_t len = std::min<std::size_t>(left, 4);
                out += static_cast<char>(0x80 | ((regs[i] - 1) << 2) | (len - 1));
                left -= len;
            }
        }
        i += run;
    }
    return out;
}

std::vector<std::uint8_t> registers_of(const HyperLogLog& hll) {
    std::vector<std::uint8_t> regs(HyperLogLog::kRegisters);
    for (std::size_t i = 0; i < regs.size(); ++i)
        regs[i] = hll.register_at(i);
    return regs;
}

TEST(HyperLogLogFormat, SparseDecodes) {
    // The fresh-key string Redis creates: XZERO:16384.
    const std::string fresh = std::string("HYLL\x01", 5) + std::string(11, '\0') + "\x7f\xff";
    auto empty = HyperLogLog::from_redis_bytes(fresh);
    ASSERT_TRUE(empty.has_value());
    EXPECT_TRUE(empty->empty());
    EXPECT_EQ(empty->count(), 0u);

    HyperLogLog hll;
    SplitMix64 gen{7};
    for (int i = 0; i < 700; ++i)
        hll.add_hash(gen.next());
    // Values above 32 cannot be sparse; a set this small has none.
    const auto regs = registers_of(hll);
    ASSERT_LE(*std::max_element(regs.begin(), regs.end()), 32);
    for (bool short_zero : {false, true}) {
        auto parsed = HyperLogLog::from_redis_bytes(sparse_bytes(regs, short_zero));
        ASSERT_TRUE(parsed.has_value());
        EXPECT_EQ(*parsed, hll);
        EXPECT_EQ(parsed->count(), hll.count());
    }
    // Every value 1..32 and every run length through VAL.
    std::vector<std::uint8_t> pattern(HyperLogLog::kRegisters);
    for (std::size_t i = 0; i < pattern.size(); ++i)
        pattern[i] = static_cast<std::uint8_t>((i / 7) % 33);
    auto parsed = HyperLogLog::from_redis_bytes(sparse_bytes(pattern));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(registers_of(*parsed), pattern);
}

TEST(HyperLogLogFormat, RejectsInvalidHeaders) {
    const std::string dense = HyperLogLog().dense_bytes();
    EXPECT_FALSE(HyperLogLog::from_redis_bytes("").has_value());
    EXPECT_FALSE(HyperLogLog::from_redis_bytes("HYLL").has_value());
    EXPECT_FALSE(HyperLogLog::from_redis_bytes(dense.substr(0, 15)).has_value());
    EXPECT_FALSE(HyperLogLog::from_redis_bytes(dense.substr(0, 16)).has_value());  // no registers
    for (int i = 0; i < 4; ++i) {
        std::string bad = dense;
        bad[i] = static_cast<char>(bad[i] ^ 0x20);
        EXPECT_FALSE(HyperLogLog::from_redis_bytes(bad).has_value()) << i;
    }
    for (int e = 2; e < 256; ++e) {
        std::string bad = dense;
        bad[4] = static_cast<char>(e);
        EXPECT_FALSE(HyperLogLog::from_redis_bytes(bad).has_value()) << e;
    }
    EXPECT_FALSE(HyperLogLog::from_redis_bytes(dense + '\0').has_value());
    EXPECT_FALSE(HyperLogLog::from_redis_bytes(dense.substr(0, dense.size() - 1)).has_value());
    // As in Redis, the unused bytes and the cache are not part of the validity check.
    std::string loose = dense;
    loose[5] = 1;
    loose[15] = static_cast<char>(0x80);
    EXPECT_TRUE(HyperLogLog::from_redis_bytes(loose).has_value());
}

TEST(HyperLogLogFormat, RejectsSparseRunsNotTotalling16384) {
    const std::string header = std::string("HYLL\x01", 5) + std::string(11, '\0');
    EXPECT_FALSE(HyperLogLog::from_redis_bytes(header).has_value());               // no runs
    EXPECT_FALSE(HyperLogLog::from_redis_bytes(header + "\x7f\xfe").has_value());  // 16383
    EXPECT_FALSE(
        HyperLogLog::from_redis_bytes(header + std::string("\x7f\xff\x00", 3)).has_value());
    EXPECT_FALSE(HyperLogLog::from_redis_bytes(header + "\x7f").has_value());  // cut XZERO
    // 16383 zeros then a VAL of 4: overruns the last register.
    EXPECT_FALSE(HyperLogLog::from_redis_bytes(header + "\x7f\xfe\x83").has_value());
    EXPECT_TRUE(HyperLogLog::from_redis_bytes(header + "\x7f\xfe\x80").has_value());
    // 255 zeros, then an XZERO whose second byte is missing: Redis would read its string's
    // trailing NUL there and see 16129 more, 16384 in all. A cut opcode is rejected here.
    EXPECT_FALSE(
        HyperLogLog::from_redis_bytes(header + std::string("\x3f\x3f\x3f\x3e\x7f")).has_value());
}

TEST(HyperLogLogFormat, TruncatedAndFlippedInputsNeverCrash) {
    HyperLogLog small;
    SplitMix64 gen{11};
    for (int i = 0; i < 300; ++i)
        small.add_hash(gen.next());
    const std::string sparse = sparse_bytes(registers_of(small));
    HyperLogLog big;
    for (int i = 0; i < 200'000; ++i)
        big.add_hash(gen.next());
    const std::string dense = big.dense_bytes();

    // Every strict prefix is invalid: sparse runs then total less than 16384, and a
    // dense string must be exactly 12304 bytes.
    for (std::size_t len = 0; len < sparse.size(); ++len) {
        ASSERT_FALSE(HyperLogLog::from_redis_bytes(sparse.substr(0, len)).has_value()) << len;
    }
    for (std::size_t len = 0; len < dense.size(); len += 97) {
        ASSERT_FALSE(HyperLogLog::from_redis_bytes(dense.substr(0, len)).has_value()) << len;
    }

    // Random byte flips: no crash; whatever parses is a well-formed sketch, and a parsed
    // sparse input re-encodes to itself when it was canonical.
    std::mt19937_64 rng(12345);
    int accepted = 0, rejected = 0;
    for (int round = 0; round < 20'000; ++round) {
        std::string s = (round % 2 ? dense : sparse);
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int f = 0; f < flips; ++f) {
            const std::size_t at = rng() % s.size();
            s[at] = static_cast<char>(s[at] ^ static_cast<char>(1 + rng() % 255));
        }
        if (rng() % 4 == 0)
            s.resize(rng() % (s.size() + 8), static_cast<char>(rng()));
        auto parsed = HyperLogLog::from_redis_bytes(s);
        if (parsed) {
            ++accepted;
            (void)parsed->count();
            const std::string re = parsed->dense_bytes();
            ASSERT_EQ(re.size(), HyperLogLog::kDenseSize);
            ASSERT_EQ(HyperLogLog::from_redis_bytes(re), parsed);
        } else {
            ++rejected;
        }
    }
    EXPECT_GT(accepted, 0);
    EXPECT_GT(rejected, 0);

    // Pure garbage, with and without a valid header in front.
    for (int round = 0; round < 20'000; ++round) {
        std::string s(rng() % 64, '\0');
        for (char& c : s)
            c = static_cast<char>(rng());
        if (round % 2)
            s = std::string("HYLL\x01", 5) + std::string(11, '\0') + s;
        auto parsed = HyperLogLog::from_redis_bytes(s);
        if (parsed)
            (void)parsed->count();
    }
}

}  // namespace
