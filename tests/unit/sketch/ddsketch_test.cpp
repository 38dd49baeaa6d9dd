// DDSketch: the 1 % relative-error guarantee on several distributions and sizes, exact
// merge, the collapse bound, weights, edge cases, and the encoding against hostile bytes.

#include "tally/sketch/ddsketch.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using tally::sketch::DDSketch;

constexpr double kAlpha = 0.01;
// log() may put a value within an ulp of a bin boundary into the next bin, where its error
// is alpha plus a few ulps (see the header); this slack covers exactly that.
constexpr double kRoundingSlack = 1e-12;

const std::vector<double> kQuantiles = {0,    0.01, 0.05, 0.1,  0.25,  0.5,
                                        0.75, 0.9,  0.95, 0.99, 0.999, 1};

enum class Shape { uniform, lognormal, pareto, bimodal, constant, mixed_signs };

std::vector<double> sample(Shape shape, std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    std::lognormal_distribution<double> lognormal(0.0, 2.0);
    std::lognormal_distribution<double> low_mode(0.0, 0.5);
    std::lognormal_distribution<double> high_mode(10.0, 0.5);
    std::vector<double> values(n);
    for (double& v : values) {
        switch (shape) {
            case Shape::uniform:
                v = 1000.0 * (1.0 - unit(rng));  // (0, 1000]
                break;
            case Shape::lognormal:
                v = lognormal(rng);
                break;
            case Shape::pareto:  // x_m = 1, tail index 1.2: a heavy tail
                v = 1.0 / std::pow(1.0 - unit(rng), 1.0 / 1.2);
                break;
            case Shape::bimodal:
                v = unit(rng) < 0.5 ? low_mode(rng) : high_mode(rng);
                break;
            case Shape::constant:
                v = 42.5;
                break;
            case Shape::mixed_signs:
                v = unit(rng) < 0.05 ? 0.0 : -1000.0 + 2000.0 * unit(rng);
                break;
        }
    }
    return values;
}

// The nearest-rank value (rank ceil(q * n), at least 1) of each quantile. Selects in
// increasing rank order over a shrinking range: linear time, no full sort.
std::vector<double> exact_quantiles(std::vector<double> values) {
    std::vector<double> exact;
    std::size_t done = 0;
    const double n = static_cast<double>(values.size());
    for (double q : kQuantiles) {
        const auto rank = std::max<std::size_t>(1, static_cast<std::size_t>(std::ceil(q * n)));
        auto nth = values.begin() + static_cast<std::ptrdiff_t>(rank - 1);
        std::nth_element(values.begin() + static_cast<std::ptrdiff_t>(done), nth, values.end());
        done = rank - 1;
        exact.push_back(*nth);
    }
    return exact;
}

void expect_within_alpha(const DDSketch& sketch, const std::vector<double>& values,
                         const std::string& what) {
    const std::vector<double> exact = exact_quantiles(values);
    for (std::size_t i = 0; i < kQuantiles.size(); ++i) {
        const double estimate = sketch.quantile(kQuantiles[i]);
        EXPECT_LE(std::abs(estimate - exact[i]), (kAlpha + kRoundingSlack) * std::abs(exact[i]))
            << what << " q=" << kQuantiles[i] << " exact=" << exact[i] << " estimate=" << estimate;
    }
}

void check_accuracy(Shape shape, const char* name, std::size_t n, std::uint64_t seed) {
    const std::vector<double> values = sample(shape, n, seed);
    DDSketch sketch(kAlpha);
    for (double v : values) {
        sketch.add(v);
    }
    ASSERT_EQ(sketch.count(), static_cast<double>(n));
    expect_within_alpha(
        sketch, values,
        std::string(name) + " n=" + std::to_string(n) + " seed=" + std::to_string(seed));
}

struct NamedShape {
    Shape shape;
    const char* name;
};
const std::vector<NamedShape> kShapes = {
    {Shape::uniform, "uniform"},   {Shape::lognormal, "lognormal"},
    {Shape::pareto, "pareto"},     {Shape::bimodal, "bimodal"},
    {Shape::constant, "constant"}, {Shape::mixed_signs, "mixed_signs"}};

// ---------------------------------------------------------------------------------------
// Accuracy

TEST(DDSketchAccuracy, EveryQuantileWithinOnePercentAcrossShapesSizesAndSeeds) {
    for (const NamedShape& s : kShapes) {
        for (std::size_t n : {std::size_t{1000}, std::size_t{10'000}, std::size_t{100'000},
                              std::size_t{1'000'000}}) {
            for (std::uint64_t seed = 1; seed <= 5; ++seed) {
                check_accuracy(s.shape, s.name, n, seed);
            }
        }
    }
}

TEST(DDSketchAccuracy, TenMillionHeavyTailedValues) {
    check_accuracy(Shape::pareto, "pareto", 10'000'000, 7);
}

TEST(DDSketchAccuracy, NearestRankConventionOnATinySample) {
    DDSketch sketch;
    for (double v : {1.0, 2.0, 3.0, 4.0}) {
        sketch.add(v);
    }
    EXPECT_EQ(sketch.quantile(0), 1.0);             // min, exactly
    EXPECT_EQ(sketch.quantile(1), 4.0);             // max, exactly
    EXPECT_NEAR(sketch.quantile(0.5), 2.0, 0.02);   // rank ceil(2) = 2
    EXPECT_NEAR(sketch.quantile(0.51), 3.0, 0.03);  // rank ceil(2.04) = 3
    EXPECT_NEAR(sketch.quantile(0.1), 1.0, 0.01);   // rank 1
}

// ---------------------------------------------------------------------------------------
// Merge

// Integers with signs and zeros: every sum is exact, so operator== can compare sketches
// built in different orders.
std::vector<double> integer_values(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::lognormal_distribution<double> magnitude(3.0, 2.0);
    std::uniform_int_distribution<int> sign(0, 9);
    std::vector<double> values(n);
    for (double& v : values) {
        const int s = sign(rng);
        v = s == 0 ? 0.0 : std::round(magnitude(rng)) * (s < 3 ? -1 : 1);
    }
    return values;
}

DDSketch sketch_of(const std::vector<double>& values, std::size_t max_bins = 2048) {
    DDSketch sketch(kAlpha, max_bins);
    for (double v : values) {
        sketch.add(v);
    }
    return sketch;
}

void expect_same_bins(const DDSketch& a, const DDSketch& b) {
    EXPECT_EQ(a.positive_bins(), b.positive_bins());
    EXPECT_EQ(a.negative_bins(), b.negative_bins());
    EXPECT_EQ(a.zero_count(), b.zero_count());
    EXPECT_EQ(a.count(), b.count());
    EXPECT_EQ(a.min(), b.min());
    EXPECT_EQ(a.max(), b.max());
}

TEST(DDSketchMerge, EqualsTheSketchOfTheUnionBinForBin) {
    std::mt19937_64 rng(11);
    for (std::size_t max_bins : {std::size_t{2048}, std::size_t{64}, std::size_t{8}}) {
        for (std::uint64_t seed = 1; seed <= 10; ++seed) {
            const std::vector<double> values = integer_values(5000, seed);
            std::vector<double> left;
            std::vector<double> right;
            const double share = std::uniform_real_distribution<double>(0, 1)(rng);
            for (double v : values) {
                (std::uniform_real_distribution<double>(0, 1)(rng) < share ? left : right)
                    .push_back(v);
            }
            DDSketch merged = sketch_of(left, max_bins);
            merged.merge(sketch_of(right, max_bins));
            const DDSketch whole = sketch_of(values, max_bins);
            expect_same_bins(merged, whole);
            EXPECT_EQ(merged, whole) << "max_bins=" << max_bins << " seed=" << seed;
        }
    }
}

TEST(DDSketchMerge, RealValuedSplitsMatchBinForBinAndSumToRounding) {
    const std::vector<double> values = sample(Shape::mixed_signs, 20'000, 3);
    DDSketch merged = sketch_of({values.begin(), values.begin() + 7000});
    merged.merge(sketch_of({values.begin() + 7000, values.end()}));
    const DDSketch whole = sketch_of(values);
    expect_same_bins(merged, whole);
    EXPECT_NEAR(merged.sum(), whole.sum(), 1e-9 * 1000 * 20'000);
}

TEST(DDSketchMerge, CommutativeAndAssociative) {
    for (std::size_t max_bins : {std::size_t{2048}, std::size_t{16}}) {
        const DDSketch a = sketch_of(integer_values(3000, 1), max_bins);
        const DDSketch b = sketch_of(integer_values(2000, 2), max_bins);
        DDSketch c = sketch_of(integer_values(1000, 3), max_bins);
        c.add(1e12);  // widen c's range so that it, alone, forces a collapse when small

        DDSketch ab = a;
        ab.merge(b);
        DDSketch ba = b;
        ba.merge(a);
        EXPECT_EQ(ab, ba);

        DDSketch ab_c = ab;
        ab_c.merge(c);
        DDSketch bc = b;
        bc.merge(c);
        DDSketch a_bc = a;
        a_bc.merge(bc);
        EXPECT_EQ(ab_c, a_bc);
    }
}

TEST(DDSketchMerge, WithAnEmptySketchIsIdentity) {
    const DDSketch a = sketch_of(integer_values(500, 4));
    DDSketch merged = a;
    merged.merge(DDSketch());
    EXPECT_EQ(merged, a);
    DDSketch empty;
    empty.merge(a);
    EXPECT_EQ(empty, a);
}

TEST(DDSketchMerge, RefusesADifferentRelativeAccuracy) {
    DDSketch a(0.01);
    const DDSketch b(0.02);
    EXPECT_THROW(a.merge(b), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------
// Weights and bookkeeping

TEST(DDSketchWeights, CountSumAndBinsFollowTheWeights) {
    DDSketch weighted;
    weighted.add(10.0, 2.5);
    weighted.add(-4.0, 0.5);
    EXPECT_EQ(weighted.count(), 3.0);
    EXPECT_EQ(weighted.sum(), 10.0 * 2.5 - 4.0 * 0.5);
    EXPECT_EQ(weighted.min(), -4.0);
    EXPECT_EQ(weighted.max(), 10.0);
    ASSERT_EQ(weighted.positive_bins().size(), 1u);
    EXPECT_EQ(weighted.positive_bins()[0].count, 2.5);
    EXPECT_EQ(weighted.negative_bins()[0].count, 0.5);
}

TEST(DDSketchWeights, AnIntegerWeightEqualsRepeatedAdds) {
    DDSketch weighted;
    DDSketch repeated;
    for (double v : {1.0, 7.0, 300.0, -2.0, 0.0}) {
        weighted.add(v, 3.0);
        for (int i = 0; i < 3; ++i) {
            repeated.add(v);
        }
    }
    EXPECT_EQ(weighted, repeated);
}

TEST(DDSketchWeights, SampleRatesMoveTheRanks) {
    // 100 sampled at rate 0.25 stands for 4 values; 1 is unsampled: p50 of {1, 100 x 4}.
    DDSketch sketch;
    sketch.add(1.0);
    sketch.add(100.0, 1 / 0.25);
    EXPECT_EQ(sketch.count(), 5.0);
    EXPECT_NEAR(sketch.quantile(0.5), 100.0, 1.0);
    EXPECT_NEAR(sketch.quantile(0.2), 1.0, 0.01);  // rank 1: the unsampled value
}

TEST(DDSketchWeights, IgnoresNonFiniteValuesAndBadWeights) {
    DDSketch sketch;
    const double inf = std::numeric_limits<double>::infinity();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (double v : {nan, inf, -inf}) {
        sketch.add(v);
    }
    for (double w : {0.0, -1.0, nan, inf}) {
        sketch.add(5.0, w);
    }
    EXPECT_TRUE(sketch.empty());
    EXPECT_EQ(sketch, DDSketch());
}

// ---------------------------------------------------------------------------------------
// The collapse

TEST(DDSketchCollapse, BinsStayBoundedAndQuantilesAboveTheCollapsedMassKeepTheGuarantee) {
    constexpr std::size_t kMaxBins = 64;
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<double> latency(100.0, 300.0);  // 56 bins
    std::uniform_real_distribution<double> tiny_exponent(-6.0, 0.0);
    DDSketch sketch(kAlpha, kMaxBins);
    std::vector<double> values;
    std::size_t collapsed = 0;  // the tiny values, far below the 64 bins under 300
    for (int i = 0; i < 200'000; ++i) {
        const bool tiny = i % 100 == 0;
        const double v = tiny ? std::pow(10.0, tiny_exponent(rng)) : latency(rng);
        collapsed += tiny ? 1 : 0;
        values.push_back(v);
        sketch.add(v);
        if (i % 1000 == 0) {
            const auto bins = sketch.positive_bins();
            ASSERT_LE(bins.back().key - bins.front().key + 1, static_cast<int>(kMaxBins));
        }
    }
    const auto bins = sketch.positive_bins();
    ASSERT_LE(bins.size(), kMaxBins);
    EXPECT_EQ(bins.front().key, bins.back().key - static_cast<int>(kMaxBins) + 1);
    EXPECT_LE(sketch.memory_bytes(), sizeof(DDSketch) + kMaxBins * sizeof(double));

    const std::vector<double> exact = exact_quantiles(values);
    const double n = static_cast<double>(values.size());
    for (std::size_t i = 0; i < kQuantiles.size(); ++i) {
        const double rank = std::max(1.0, std::ceil(kQuantiles[i] * n));
        const double estimate = sketch.quantile(kQuantiles[i]);
        if (rank > static_cast<double>(collapsed) || kQuantiles[i] == 0) {
            EXPECT_LE(std::abs(estimate - exact[i]), (kAlpha + kRoundingSlack) * exact[i])
                << "q=" << kQuantiles[i];
        } else {
            // Among the collapsed values: answered by the floor bin, too high. The cost.
            EXPECT_GT(estimate, 50.0) << "q=" << kQuantiles[i];
        }
    }
}

TEST(DDSketchCollapse, NegativeStoreCollapsesTheMostNegativeValues) {
    constexpr std::size_t kMaxBins = 64;
    DDSketch sketch(kAlpha, kMaxBins);
    std::vector<double> values;
    for (int i = 1; i <= 10'000; ++i) {
        // -1000 .. -1000 * 1.0001^-10000 (about -368): 50 bins; plus far more negative ones.
        values.push_back(i % 50 == 0 ? -1e9 * i : -1000.0 * std::pow(1.0001, -i));
    }
    for (double v : values) {
        sketch.add(v);
    }
    EXPECT_LE(sketch.negative_bins().size(), kMaxBins);
    // The collapsed values are the lowest ranks: 200 of them; q >= 0.05 keeps the bound.
    const std::vector<double> exact = exact_quantiles(values);
    for (std::size_t i = 0; i < kQuantiles.size(); ++i) {
        if (kQuantiles[i] >= 0.05 || kQuantiles[i] == 0) {
            EXPECT_LE(std::abs(sketch.quantile(kQuantiles[i]) - exact[i]),
                      (kAlpha + kRoundingSlack) * std::abs(exact[i]))
                << "q=" << kQuantiles[i];
        }
    }
}

// ---------------------------------------------------------------------------------------
// Edge cases

TEST(DDSketchEdges, EmptySketchAnswersNaN) {
    const DDSketch sketch;
    EXPECT_TRUE(sketch.empty());
    EXPECT_EQ(sketch.count(), 0.0);
    EXPECT_EQ(sketch.sum(), 0.0);
    for (double q : kQuantiles) {
        EXPECT_TRUE(std::isnan(sketch.quantile(q)));
    }
    EXPECT_TRUE(std::isnan(sketch.min()));
    EXPECT_TRUE(std::isnan(sketch.max()));
}

TEST(DDSketchEdges, QuantileOutsideTheUnitIntervalIsNaN) {
    DDSketch sketch;
    sketch.add(3.0);
    EXPECT_TRUE(std::isnan(sketch.quantile(-0.1)));
    EXPECT_TRUE(std::isnan(sketch.quantile(1.1)));
    EXPECT_TRUE(std::isnan(sketch.quantile(std::numeric_limits<double>::quiet_NaN())));
}

TEST(DDSketchEdges, SingleValueIsExactEverywhere) {
    for (double v : {0.0, 1e-12, 3.7, -3.7, 1e300, -1e300}) {
        DDSketch sketch;
        sketch.add(v);
        for (double q : kQuantiles) {
            EXPECT_EQ(sketch.quantile(q), v) << v << " q=" << q;
        }
    }
}

TEST(DDSketchEdges, ZerosAndTinyMagnitudesCountInTheZeroBucket) {
    DDSketch sketch;
    sketch.add(0.0);
    sketch.add(-0.0);
    sketch.add(1e-10);
    sketch.add(-1e-10);
    EXPECT_EQ(sketch.zero_count(), 4.0);
    EXPECT_TRUE(sketch.positive_bins().empty());
    EXPECT_TRUE(sketch.negative_bins().empty());
    sketch.add(5.0);
    EXPECT_EQ(sketch.quantile(0.5), 0.0);
}

TEST(DDSketchEdges, AllNegativeValues) {
    std::vector<double> values = sample(Shape::lognormal, 10'000, 9);
    for (double& v : values) {
        v = -v;
    }
    const DDSketch sketch = sketch_of(values);
    EXPECT_TRUE(sketch.positive_bins().empty());
    expect_within_alpha(sketch, values, "all negative");
}

TEST(DDSketchEdges, ExtremeMagnitudesStayFinite) {
    DDSketch sketch;
    sketch.add(std::numeric_limits<double>::max());
    sketch.add(std::numeric_limits<double>::lowest());
    sketch.add(DDSketch::kMinIndexable);
    for (double q : kQuantiles) {
        EXPECT_TRUE(std::isfinite(sketch.quantile(q))) << q;
    }
}

TEST(DDSketchEdges, ClearForgetsEverything) {
    DDSketch sketch = sketch_of(integer_values(1000, 2));
    sketch.clear();
    EXPECT_EQ(sketch, DDSketch());
    sketch.add(2.0);
    EXPECT_EQ(sketch.quantile(0.5), 2.0);
}

TEST(DDSketchEdges, ConstructorRefusesBadParameters) {
    EXPECT_THROW((void)DDSketch(0.0), std::invalid_argument);
    EXPECT_THROW((void)DDSketch(0.9), std::invalid_argument);
    EXPECT_THROW((void)DDSketch(std::numeric_limits<double>::quiet_NaN()), std::invalid_argument);
    EXPECT_THROW((void)DDSketch(0.01, 0), std::invalid_argument);
    EXPECT_THROW((void)DDSketch(0.01, DDSketch::kMaxBinsLimit + 1), std::invalid_argument);
}

TEST(DDSketchEdges, SmallSketchesAreSmall) {
    DDSketch sketch;
    for (int i = 0; i < 100; ++i) {
        sketch.add(100.0 + i);  // about 35 bins
    }
    EXPECT_LT(sketch.memory_bytes(), 1024u);
}

// ---------------------------------------------------------------------------------------
// Encoding

std::vector<DDSketch> encoding_examples() {
    std::vector<DDSketch> examples;
    examples.emplace_back();
    examples.push_back(sketch_of(integer_values(2000, 1)));
    examples.push_back(sketch_of(sample(Shape::bimodal, 5000, 2)));
    examples.push_back(sketch_of(sample(Shape::pareto, 5000, 3), 16));  // collapsed
    DDSketch weighted(0.02, 100);
    weighted.add(3.3, 1 / 0.3);
    weighted.add(-7.0, 0.1);
    weighted.add(0.0, 2.0);
    examples.push_back(weighted);
    return examples;
}

TEST(DDSketchEncoding, RoundTripEqualsTheOriginal) {
    for (const DDSketch& original : encoding_examples()) {
        std::string bytes = "prefix";
        original.encode(bytes);
        const auto decoded = DDSketch::decode(std::string_view(bytes).substr(6));
        ASSERT_TRUE(decoded.has_value());
        EXPECT_EQ(*decoded, original);
        for (double q : kQuantiles) {
            const double a = decoded->quantile(q);
            const double b = original.quantile(q);
            EXPECT_TRUE(a == b || (std::isnan(a) && std::isnan(b)));
        }
    }
}

TEST(DDSketchEncoding, IsCompact) {
    std::string bytes;
    sketch_of(sample(Shape::lognormal, 100'000, 1)).encode(bytes);
    EXPECT_LT(bytes.size(), 4096u);  // ~1000 bins at 1-3 bytes each, plus a 59-byte header
}

TEST(DDSketchEncoding, DecodeRefusesEveryTruncationAndTrailingBytes) {
    for (const DDSketch& original : encoding_examples()) {
        std::string bytes;
        original.encode(bytes);
        for (std::size_t len = 0; len < bytes.size(); ++len) {
            EXPECT_FALSE(DDSketch::decode(std::string_view(bytes).substr(0, len)).has_value())
                << "prefix of " << len << " bytes";
        }
        EXPECT_FALSE(DDSketch::decode(bytes + '\0').has_value());
    }
}

TEST(DDSketchEncoding, DecodeSurvivesGarbageAndCorruption) {
    std::mt19937_64 rng(99);
    std::uniform_int_distribution<int> byte(0, 255);
    for (int i = 0; i < 20'000; ++i) {
        std::string garbage(static_cast<std::size_t>(byte(rng) % 80), '\0');
        for (char& c : garbage) {
            c = static_cast<char>(byte(rng));
        }
        if (i % 2 == 0 && garbage.size() > 0) {
            garbage[0] = static_cast<char>(DDSketch::kEncodingVersion);
        }
        (void)DDSketch::decode(garbage);
    }
    // Every single-byte corruption of a valid encoding: refused, or a sketch that
    // re-encodes to something that decodes to itself.
    std::string bytes;
    sketch_of(integer_values(300, 5)).encode(bytes);
    for (std::size_t at = 0; at < bytes.size(); ++at) {
        for (int flip : {0x01, 0x80, 0xff}) {
            std::string corrupt = bytes;
            corrupt[at] = static_cast<char>(corrupt[at] ^ flip);
            const auto decoded = DDSketch::decode(corrupt);
            if (decoded) {
                std::string again;
                decoded->encode(again);
                const auto twice = DDSketch::decode(again);
                ASSERT_TRUE(twice.has_value());
                EXPECT_EQ(*twice, *decoded);
                (void)decoded->quantile(0.5);
            }
        }
    }
}

TEST(DDSketchEncoding, HostileLengthsAreRefusedBeforeAllocating) {
    std::string bytes;
    DDSketch(kAlpha, DDSketch::kMaxBinsLimit).encode(bytes);
    // The empty sketch ends with two zero store lengths; claim 65536 bins for the first.
    bytes.resize(bytes.size() - 2);
    bytes += "\x80\x80\x04";  // varint 65536
    bytes += "\x00";
    EXPECT_FALSE(DDSketch::decode(bytes).has_value());
}

}  // namespace
