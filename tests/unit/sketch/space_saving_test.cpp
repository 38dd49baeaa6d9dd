// Space-Saving: exact under capacity, within its bounds beyond, top() ordering, merges,
// and no allocation on the hot path.

#include "tally/sketch/space_saving.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <map>
#include <new>
#include <random>
#include <string>
#include <vector>

// Counts global allocations, so a test can assert that a code path makes none. Replacing
// the global operator new applies to the whole test binary; only deltas are compared.
// Every non-aligned form is replaced, so each allocation is freed by its own kind
// (AddressSanitizer checks that); the aligned forms are left alone, nothing here uses
// them. Not inlined, so GCC does not pair the malloc inside with the free of a
// std::allocator it has inlined and warn (-Wmismatched-new-delete).
namespace {
std::atomic<std::size_t> g_allocations{0};

[[gnu::noinline]] void* counted_malloc(std::size_t size) noexcept {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(size == 0 ? 1 : size);
}
[[gnu::noinline]] void* counted_malloc_or_throw(std::size_t size) {
    if (void* p = counted_malloc(size))
        return p;
    throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t size) {
    return counted_malloc_or_throw(size);
}
void* operator new[](std::size_t size) {
    return counted_malloc_or_throw(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    return counted_malloc(size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
    return counted_malloc(size);
}
[[gnu::noinline]] void operator delete(void* p) noexcept {
    std::free(p);
}
[[gnu::noinline]] void operator delete[](void* p) noexcept {
    std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
[[gnu::noinline]] void operator delete[](void* p, std::size_t) noexcept {
    std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}
[[gnu::noinline]] void operator delete[](void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}

namespace {

using tally::sketch::SpaceSaving;
using Exact = std::map<std::string, std::uint64_t>;

// A Zipf(s = 1.1) stream over `distinct` members: a few heavy hitters and a long tail,
// like page paths or referrers.
std::vector<std::string> zipf_stream(std::size_t events, std::size_t distinct, std::uint64_t seed) {
    std::vector<double> cdf(distinct);
    double sum = 0;
    for (std::size_t i = 0; i < distinct; ++i) {
        sum += 1.0 / std::pow(static_cast<double>(i + 1), 1.1);
        cdf[i] = sum;
    }
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0, sum);
    std::vector<std::string> stream;
    stream.reserve(events);
    for (std::size_t e = 0; e < events; ++e) {
        const auto rank = static_cast<std::size_t>(
            std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin());
        stream.push_back("/page/" + std::to_string(std::min(rank, distinct - 1)));
    }
    return stream;
}

Exact exact_counts(const std::vector<std::string>& stream) {
    Exact counts;
    for (const auto& m : stream)
        ++counts[m];
    return counts;
}

// Every guarantee of the header essay, checked against the exact counts.
void expect_bounds(const SpaceSaving& ss, const Exact& exact, std::uint64_t n) {
    const std::uint64_t m = ss.capacity();
    EXPECT_EQ(ss.total(), n);
    EXPECT_LE(ss.error_bound(), n / m);  // floor <= min <= N/m
    std::uint64_t sum = 0;
    for (const auto& e : ss.entries()) {
        const auto it = exact.find(e.member);
        const std::uint64_t f = it == exact.end() ? 0 : it->second;
        EXPECT_LE(e.count - e.error, f) << e.member;  // lower bound
        EXPECT_GE(e.count, f) << e.member;            // upper bound
        EXPECT_LE(e.error, ss.error_bound()) << e.member;
        EXPECT_LE(e.count - f, n / m) << e.member;
        sum += e.count;
    }
    EXPECT_LE(sum, n);
    for (const auto& [member, f] : exact) {
        if (f * m > n) {  // f > N/m: must be monitored
            EXPECT_GT(ss.count_of(member), 0u) << member << " f=" << f;
        }
        if (ss.count_of(member) == 0) {
            EXPECT_LE(f, ss.error_bound()) << member;
        }
    }
}

void expect_ranked(const std::vector<SpaceSaving::Entry>& top) {
    for (std::size_t i = 1; i < top.size(); ++i) {
        const auto& a = top[i - 1];
        const auto& b = top[i];
        EXPECT_TRUE(a.count > b.count || (a.count == b.count && a.member < b.member))
            << i << ": " << a.member << "=" << a.count << " then " << b.member << "=" << b.count;
    }
}

TEST(SpaceSaving, ExactUnderCapacity) {
    const auto stream = zipf_stream(200'000, 8'000, 1);
    const Exact exact = exact_counts(stream);
    ASSERT_LE(exact.size(), SpaceSaving::kDefaultCapacity);

    SpaceSaving ss;
    for (const auto& m : stream)
        ss.add(m);
    EXPECT_TRUE(ss.exact());
    EXPECT_EQ(ss.error_bound(), 0u);
    EXPECT_EQ(ss.size(), exact.size());
    EXPECT_EQ(ss.total(), stream.size());
    EXPECT_EQ(ss.capacity(), SpaceSaving::kDefaultCapacity);
    for (const auto& [member, f] : exact)
        EXPECT_EQ(ss.count_of(member), f) << member;
    for (const auto& e : ss.entries())
        EXPECT_EQ(e.error, 0u);
    EXPECT_EQ(ss.count_of("/never"), 0u);

    // top(k) is the exact ranking.
    std::vector<std::pair<std::string, std::uint64_t>> ranked(exact.begin(), exact.end());
    std::stable_sort(ranked.begin(), ranked.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    for (std::size_t k : {std::size_t{0}, std::size_t{1}, std::size_t{10}, std::size_t{500},
                          exact.size(), exact.size() + 10}) {
        const auto top = ss.top(k);
        ASSERT_EQ(top.size(), std::min(k, exact.size()));
        for (std::size_t i = 0; i < top.size(); ++i) {
            EXPECT_EQ(top[i].member, ranked[i].first) << i;
            EXPECT_EQ(top[i].count, ranked[i].second) << i;
        }
    }
}

TEST(SpaceSaving, WithinBoundsBeyondCapacity) {
    for (std::size_t capacity : {std::size_t{100}, std::size_t{1000}}) {
        SCOPED_TRACE("capacity " + std::to_string(capacity));
        const auto stream = zipf_stream(300'000, 50'000, capacity);
        const Exact exact = exact_counts(stream);
        SpaceSaving ss(capacity);
        for (const auto& m : stream)
            ss.add(m);
        EXPECT_FALSE(ss.exact());
        EXPECT_EQ(ss.size(), capacity);
        expect_bounds(ss, exact, stream.size());

        // Σ counts == N exactly for a summary built by add() alone.
        std::uint64_t sum = 0;
        for (const auto& e : ss.entries())
            sum += e.count;
        EXPECT_EQ(sum, stream.size());
        expect_ranked(ss.top(capacity));

        // The heavy hitters come out first and in the right order.
        const auto top = ss.top(5);
        for (int i = 0; i < 5; ++i)
            EXPECT_EQ(top[i].member, "/page/" + std::to_string(i));
    }
}

TEST(SpaceSaving, DefaultCapacityOnALongTail) {
    const auto stream = zipf_stream(1'000'000, 200'000, 99);
    const Exact exact = exact_counts(stream);
    SpaceSaving ss;
    for (const auto& m : stream)
        ss.add(m);
    expect_bounds(ss, exact, stream.size());
    std::printf("[ measured ] N=%zu distinct=%zu m=%zu: error bound %llu (N/m = %zu)\n",
                stream.size(), exact.size(), ss.capacity(),
                static_cast<unsigned long long>(ss.error_bound()), stream.size() / ss.capacity());
}

TEST(SpaceSaving, EvictionTakesTheOldestMinimum) {
    SpaceSaving ss(3);
    ss.add("b");
    ss.add("c");
    ss.add("a");
    EXPECT_TRUE(ss.exact());
    // All at 1: the one that reached 1 first, "b", goes.
    EXPECT_EQ(ss.add("d"), 2u);
    EXPECT_EQ(ss.count_of("b"), 0u);
    EXPECT_FALSE(ss.exact());
    EXPECT_EQ(ss.error_bound(), 1u);
    const auto top = ss.top(3);
    ASSERT_EQ(top.size(), 3u);
    EXPECT_EQ(top[0].member, "d");
    EXPECT_EQ(top[0].count, 2u);
    EXPECT_EQ(top[0].error, 1u);
    EXPECT_EQ(top[1].member, "a");  // ties in top() by member, not by age
    EXPECT_EQ(top[2].member, "c");
    // "c" (1) is now the oldest minimum; "b" comes back with count 1 + 5 and error 1.
    ss.add("a");
    EXPECT_EQ(ss.add("b", 5), 6u);
    EXPECT_EQ(ss.count_of("c"), 0u);
    EXPECT_EQ(ss.top(1)[0].error, 1u);
    EXPECT_EQ(ss.total(), 10u);
    // Now {d:2, a:2, b:6}: "d" reached 2 before "a" did.
    ss.add("e");
    EXPECT_EQ(ss.count_of("d"), 0u);
    EXPECT_EQ(ss.count_of("e"), 3u);
    EXPECT_EQ(ss.error_bound(), 2u);
}

TEST(SpaceSaving, ReportsTheMemberItEvicts) {
    SpaceSaving ss(2);
    std::string evicted = "untouched";
    EXPECT_FALSE(ss.add_reporting_eviction("a", evicted));
    EXPECT_FALSE(ss.add_reporting_eviction("b", evicted));
    EXPECT_FALSE(ss.add_reporting_eviction("a", evicted));  // monitored: no eviction
    EXPECT_FALSE(ss.add_reporting_eviction("zero", evicted, 0));
    EXPECT_EQ(evicted, "untouched");
    EXPECT_TRUE(ss.add_reporting_eviction("c", evicted));  // b is the minimum
    EXPECT_EQ(evicted, "b");
    EXPECT_EQ(ss.count_of("c"), 2u);
    EXPECT_EQ(ss.total(), 4u);
}

TEST(SpaceSaving, MergeEvictsTheLastRankedFirst) {
    // After a merge, equal counts are ordered by top()'s ranking: the last ranked goes.
    SpaceSaving a(3), b(3);
    a.add("x");
    a.add("y");
    b.add("z");
    a.merge(b);
    EXPECT_TRUE(a.exact());
    a.add("w");
    EXPECT_EQ(a.count_of("z"), 0u);
    EXPECT_EQ(a.count_of("x"), 1u);
    EXPECT_EQ(a.count_of("y"), 1u);
    EXPECT_EQ(a.count_of("w"), 2u);
}

TEST(SpaceSaving, TopOrdersTiesByMember) {
    SpaceSaving ss(100);
    const char* members[] = {"zeta", "alpha", "mu", "beta", "omega", "gamma"};
    for (const char* m : members)
        ss.add(m, 3);
    ss.add("mu", 2);
    ss.add("kappa", 5);
    ss.add("", 1);  // the empty member is a member
    const auto top = ss.top(10);
    const std::vector<std::string> expected = {"kappa", "mu",    "alpha", "beta",
                                               "gamma", "omega", "zeta",  ""};
    ASSERT_EQ(top.size(), expected.size());
    for (std::size_t i = 0; i < top.size(); ++i)
        EXPECT_EQ(top[i].member, expected[i]) << i;
    EXPECT_EQ(top[0].count, 5u);
    EXPECT_EQ(top[1].count, 5u);
    EXPECT_EQ(top.back().count, 1u);
    const auto top3 = ss.top(3);
    ASSERT_EQ(top3.size(), 3u);
    EXPECT_EQ(top3[2].member, "alpha");
}

TEST(SpaceSaving, WeightsAndZeroWeight) {
    SpaceSaving ss(2);
    EXPECT_EQ(ss.add("a", 10), 10u);
    EXPECT_EQ(ss.add("a", 0), 10u);
    EXPECT_EQ(ss.add("b", 0), 0u);  // not inserted
    EXPECT_EQ(ss.size(), 1u);
    EXPECT_EQ(ss.total(), 10u);
    EXPECT_THROW(SpaceSaving(0), std::invalid_argument);
}

TEST(SpaceSaving, MergeExactUnderCapacity) {
    const auto stream = zipf_stream(100'000, 5'000, 5);
    const Exact exact = exact_counts(stream);
    std::vector<SpaceSaving> parts(4);
    for (std::size_t i = 0; i < stream.size(); ++i)
        parts[i % 7 % 4].add(stream[i]);

    SpaceSaving merged = parts[0];
    for (std::size_t i = 1; i < parts.size(); ++i)
        merged.merge(parts[i]);
    EXPECT_TRUE(merged.exact());
    EXPECT_EQ(merged.total(), stream.size());
    EXPECT_EQ(merged.size(), exact.size());
    for (const auto& [member, f] : exact)
        EXPECT_EQ(merged.count_of(member), f) << member;

    // Self-merge doubles.
    SpaceSaving doubled = parts[1];
    doubled.merge(doubled);
    for (const auto& e : parts[1].entries())
        EXPECT_EQ(doubled.count_of(e.member), 2 * e.count);
    EXPECT_EQ(doubled.total(), 2 * parts[1].total());

    // Merging into an empty summary copies.
    SpaceSaving empty;
    empty.merge(merged);
    for (const auto& [member, f] : exact)
        EXPECT_EQ(empty.count_of(member), f);
}

TEST(SpaceSaving, MergeWithinBoundsBeyondCapacity) {
    const std::size_t capacity = 500;
    const auto stream = zipf_stream(400'000, 40'000, 6);
    const Exact exact = exact_counts(stream);

    // Eight shards with skewed shares of the stream, merged as a tree (merges of merges),
    // and, separately, folded left to right.
    std::vector<SpaceSaving> shards(8, SpaceSaving(capacity));
    std::mt19937_64 rng(3);
    for (const auto& m : stream)
        shards[rng() % 8 % (1 + rng() % 8)].add(m);
    for (const auto& s : shards)
        ASSERT_FALSE(s.exact());

    std::vector<SpaceSaving> level = shards;
    while (level.size() > 1) {
        std::vector<SpaceSaving> next;
        for (std::size_t i = 0; i + 1 < level.size(); i += 2) {
            next.push_back(level[i]);
            next.back().merge(level[i + 1]);
        }
        level = std::move(next);
    }
    SCOPED_TRACE("tree");
    expect_bounds(level[0], exact, stream.size());
    expect_ranked(level[0].top(capacity));
    EXPECT_EQ(level[0].size(), capacity);

    SpaceSaving folded = shards[0];
    for (std::size_t i = 1; i < shards.size(); ++i)
        folded.merge(shards[i]);
    SCOPED_TRACE("folded");
    expect_bounds(folded, exact, stream.size());

    // Adding after a merge keeps the guarantees.
    const auto more = zipf_stream(50'000, 40'000, 7);
    Exact all = exact;
    for (const auto& m : more) {
        folded.add(m);
        ++all[m];
    }
    SCOPED_TRACE("after more adds");
    expect_bounds(folded, all, stream.size() + more.size());
}

TEST(SpaceSaving, RandomWeightsAndMergesKeepBounds) {
    // Weighted adds move counters across several buckets at once; merges rebuild them.
    std::mt19937_64 rng(17);
    for (int trial = 0; trial < 20; ++trial) {
        const std::size_t capacity = 1 + rng() % 40;
        SpaceSaving ss(capacity);
        Exact exact;
        std::uint64_t n = 0;
        for (int op = 0; op < 3000; ++op) {
            const std::string member = "k" + std::to_string(rng() % (rng() % 4 == 0 ? 500 : 60));
            const std::uint64_t w = rng() % 3 == 0 ? 1 + rng() % 50 : 1;
            ss.add(member, w);
            exact[member] += w;
            n += w;
            if (op % 500 == 499) {
                // Another summary, itself usually past its capacity, of a different stream.
                SpaceSaving other(capacity);
                for (int j = 0; j < 400; ++j) {
                    const std::string m = "k" + std::to_string(rng() % 200);
                    const std::uint64_t ow = 1 + rng() % 5;
                    other.add(m, ow);
                    exact[m] += ow;
                    n += ow;
                }
                ss.merge(other);
            }
        }
        SCOPED_TRACE("trial " + std::to_string(trial));
        expect_bounds(ss, exact, n);
        // top(size()) is entries() in ranking order.
        auto all = ss.entries();
        std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
            return a.count != b.count ? a.count > b.count : a.member < b.member;
        });
        const auto top = ss.top(ss.size());
        ASSERT_EQ(top.size(), all.size());
        for (std::size_t i = 0; i < top.size(); ++i) {
            EXPECT_EQ(top[i].member, all[i].member);
            EXPECT_EQ(top[i].count, all[i].count);
        }
    }
}

TEST(SpaceSaving, CopyAndMove) {
    SpaceSaving a(50);
    for (int i = 0; i < 200; ++i)
        a.add("m" + std::to_string(i % 80), 1 + i % 3);
    SpaceSaving b = a;
    b.add("m1", 100);
    EXPECT_NE(a.count_of("m1"), b.count_of("m1"));
    const auto ea = a.top(50), eb_before = SpaceSaving(a).top(50);
    ASSERT_EQ(ea.size(), eb_before.size());
    for (std::size_t i = 0; i < ea.size(); ++i) {
        EXPECT_EQ(ea[i].member, eb_before[i].member);
        EXPECT_EQ(ea[i].count, eb_before[i].count);
        EXPECT_EQ(ea[i].error, eb_before[i].error);
    }
    // A copy keeps working on its own strings after the original is gone.
    SpaceSaving c(1);
    {
        SpaceSaving tmp = a;
        c = tmp;
    }
    c.add("new", 1000);
    EXPECT_EQ(c.count_of("new"), a.error_bound() + 1000);
    SpaceSaving d = std::move(c);
    EXPECT_EQ(d.count_of("new"), a.error_bound() + 1000);
    SpaceSaving e(3);
    e = std::move(d);
    EXPECT_EQ(e.capacity(), 50u);
}

TEST(SpaceSaving, HotPathDoesNotAllocate) {
    SpaceSaving ss(1000);
    std::vector<std::string> members;
    for (int i = 0; i < 3000; ++i)
        members.push_back("/p/" + std::to_string(i));
    for (int i = 0; i < 1000; ++i)
        ss.add(members[i]);

    // Adding monitored members: a string_view probe and a move between count buckets.
    std::size_t before = g_allocations.load();
    for (int round = 0; round < 10; ++round) {
        for (int i = 0; i < 1000; ++i)
            ss.add(std::string_view(members[i]), 1 + i % 3);
    }
    EXPECT_EQ(g_allocations.load() - before, 0u);
    (void)ss.count_of("/p/5");
    EXPECT_EQ(g_allocations.load() - before, 0u);

    // Evictions (members no longer than the evicted ones' buffers) reuse node and string.
    before = g_allocations.load();
    for (int i = 1000; i < 3000; ++i)
        ss.add(std::string_view(members[i]));
    EXPECT_EQ(g_allocations.load() - before, 0u);
    EXPECT_FALSE(ss.exact());

    // A copy (what a query works on) keeps the same property.
    SpaceSaving copy = ss;
    before = g_allocations.load();
    for (int i = 0; i < 3000; ++i)
        copy.add(std::string_view(members[i]), 1 + i % 5);
    EXPECT_EQ(g_allocations.load() - before, 0u);
}

}  // namespace
