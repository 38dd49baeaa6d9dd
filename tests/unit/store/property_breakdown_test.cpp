// Custom-property breakdowns: the properties text read as ingest writes it, counts and
// visitors per value, the caps and their overflow, merging, and the day's key cap.

#include "tally/store/property_breakdown.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "events.hpp"
#include "tally/query/query.hpp"
#include "tally/store/store.hpp"

namespace tally::store {
namespace {

using Members = std::vector<std::pair<std::string, std::string>>;

Members members_of(std::string_view object, bool* ok = nullptr) {
    Members out;
    const bool read = for_each_property(object, [&](std::string_view key, std::string_view value) {
        out.emplace_back(std::string(key), std::string(value));
    });
    if (ok)
        *ok = read;
    return out;
}

std::uint64_t hash_of(const std::string& visitor) {
    return sketch::HyperLogLog::hash(visitor);
}

TEST(ForEachProperty, ReadsEveryKindOfValue) {
    bool ok = false;
    const Members m = members_of(
        R"({"plan":"pro","seats":3,"trial":true,"gone":null,"tags":["a","b"],"o":{"x":"}"},"f":-1.5e3})",
        &ok);
    EXPECT_TRUE(ok);
    EXPECT_EQ(m, (Members{{"plan", "pro"},
                          {"seats", "3"},
                          {"trial", "true"},
                          {"gone", "null"},
                          {"tags", R"(["a","b"])"},
                          {"o", R"({"x":"}"})"},
                          {"f", "-1.5e3"}}));
}

TEST(ForEachProperty, UnescapesKeysAndStrings) {
    const Members m = members_of(R"({"k\"ey":"a\u00e9\n\ud83d\ude00\\","\u0041":"\ud800x"})");
    EXPECT_EQ(m, (Members{{"k\"ey", "a\xC3\xA9\n\xF0\x9F\x98\x80\\"}, {"A", "\xEF\xBF\xBDx"}}));
}

TEST(ForEachProperty, RefusesWhatIsNotAnObject) {
    for (const char* bad : {"", "[]", "{", R"({"a")", R"({"a":})", R"({"a":"b")", R"({"a":"b",})",
                            R"({"a":"\x"})", R"({"a":[1})", R"("a")", R"({a:1})"}) {
        bool ok = true;
        members_of(bad, &ok);
        EXPECT_FALSE(ok) << bad;
    }
    bool ok = false;
    EXPECT_TRUE(members_of("{}", &ok).empty());
    EXPECT_TRUE(ok);
}

TEST(PropertyBreakdown, CountsEventsAndDistinctVisitorsPerValue) {
    PropertyBreakdown b;
    std::size_t site_keys = 0;
    for (int i = 0; i < 30; ++i) {
        const std::string plan = i % 3 == 0 ? "pro" : "free";
        ASSERT_TRUE(b.record(R"({"plan":")" + plan + R"(","n":)" + std::to_string(i % 2) + "}",
                             hash_of("v" + std::to_string(i % 7)), site_keys));
    }
    EXPECT_EQ(site_keys, 2u);
    const PropertyKey& plan = b.keys().at("plan");
    EXPECT_EQ(plan.count(), 30u);
    EXPECT_EQ(plan.values.at("pro").count, 10u);
    EXPECT_EQ(plan.values.at("free").count, 20u);
    // pro: i in {0,3,...,27}: i % 7 takes all 7 values; free: also all 7.
    EXPECT_EQ(plan.values.at("pro").visitors.count(), 7u);
    EXPECT_EQ(plan.values.at("free").visitors.count(), 7u);
    EXPECT_EQ(b.keys().at("n").values.at("0").count, 15u);
    EXPECT_EQ(b.keys_refused(), 0u);
}

TEST(PropertyBreakdown, ValuesPastTheCapGoToOtherAndTheTotalStaysExact) {
    PropertyBreakdown b;
    std::size_t site_keys = 0;
    const std::size_t n = PropertyBreakdown::kMaxValuesPerKey + 250;
    for (std::size_t i = 0; i < n; ++i)
        b.record(R"({"id":"x)" + std::to_string(i) + R"("})", hash_of(std::to_string(i)),
                 site_keys);
    b.record(R"({"id":"x0"})", hash_of("again"), site_keys);
    const PropertyKey& id = b.keys().at("id");
    EXPECT_EQ(id.values.size(), PropertyBreakdown::kMaxValuesPerKey);
    EXPECT_EQ(id.other.count, 250u);
    EXPECT_EQ(id.other.visitors.count(), 250u);
    EXPECT_EQ(id.values.at("x0").count, 2u);  // admitted values keep counting
    EXPECT_EQ(id.count(), n + 1);
    EXPECT_TRUE(b.consistent());
}

TEST(PropertyBreakdown, KeyCapsAndLongTextAreRefusedAndCounted) {
    PropertyBreakdown b;
    std::size_t site_keys = 0;
    std::string props = "{";
    for (std::size_t k = 0; k < PropertyBreakdown::kMaxKeysPerEvent + 5; ++k)
        props += (k ? "," : "") + std::string("\"k") + std::to_string(k) + "\":1";
    props += "}";
    ASSERT_TRUE(b.record(props, 1, site_keys));
    EXPECT_EQ(b.keys().size(), PropertyBreakdown::kMaxKeysPerEvent);
    EXPECT_EQ(b.keys_refused(), 5u);
    const std::string long_value(PropertyBreakdown::kMaxValueBytes + 1, 'v');
    const std::string long_key(PropertyBreakdown::kMaxKeyBytes + 1, 'k');
    b.record(R"({"k0":")" + long_value + R"("})", 1, site_keys);
    EXPECT_EQ(b.keys_refused(), 6u);
    PropertyBreakdown c;
    std::size_t other_keys = 0;
    c.record(R"({")" + long_key + R"(":1})", 1, other_keys);
    EXPECT_TRUE(c.keys().empty());
    EXPECT_EQ(c.keys_refused(), 1u);
}

TEST(PropertyBreakdown, DamagedTextCountsNothing) {
    PropertyBreakdown b;
    std::size_t site_keys = 0;
    EXPECT_FALSE(b.record(R"({"a":"b","c":)", 1, site_keys));
    EXPECT_TRUE(b.keys().empty());
    EXPECT_EQ(site_keys, 0u);
}

TEST(PropertyBreakdown, MergeEqualsOneBreakdownFedBothStreams) {
    PropertyBreakdown left, right, both;
    std::size_t l = 0, r = 0, all = 0;
    for (int i = 0; i < 200; ++i) {
        const std::string props = R"({"v":")" + std::to_string(i % 13) + R"("})";
        const std::uint64_t visitor = hash_of("u" + std::to_string(i % 37));
        (i % 2 ? left : right).record(props, visitor, i % 2 ? l : r);
        both.record(props, visitor, all);
    }
    std::size_t merged_keys = 0;
    PropertyBreakdown merged;
    merged.merge(left, merged_keys);
    merged.merge(right, merged_keys);
    ASSERT_EQ(merged.keys().size(), 1u);
    const PropertyKey& m = merged.keys().at("v");
    const PropertyKey& b = both.keys().at("v");
    ASSERT_EQ(m.values.size(), b.values.size());
    for (const auto& [value, stats] : b.values) {
        EXPECT_EQ(m.values.at(value).count, stats.count) << value;
        EXPECT_EQ(m.values.at(value).visitors, stats.visitors) << value;
    }
}

TEST(PropertyBreakdown, ADaySharesItsKeyCapAcrossEvents) {
    Store store(StoreOptions{});
    for (std::size_t e = 0; e < 12; ++e) {
        Event event = test::custom("e" + std::to_string(e), "u", "s");
        event.properties = "{";
        for (std::size_t k = 0; k < 30; ++k)
            event.properties += (k ? "," : "") + std::string("\"k") + std::to_string(k) + "\":1";
        event.properties += "}";
        ASSERT_EQ(store.admit(0, event), Admission::ok);
        store.apply(0, event, test::kNoon);
    }
    auto range = query::parse_range(format_day(day_of(test::kNoon)), test::kNoon);
    std::size_t shown = 0;
    std::uint64_t refused = 0;
    for (std::size_t e = 0; e < 12; ++e) {
        const auto b = query::properties(store, "default", *range, "e" + std::to_string(e));
        shown += b.keys.size();
        refused += b.keys_not_broken_down;
    }
    EXPECT_EQ(shown, PropertyBreakdown::kMaxKeysPerSite);
    EXPECT_EQ(refused, 12u * 30u - PropertyBreakdown::kMaxKeysPerSite);
}

TEST(PropertiesQuery, RanksValuesAndMergesShards) {
    Store store(StoreOptions{3});
    for (int i = 0; i < 60; ++i) {
        Event event = test::custom("signup", "u" + std::to_string(i % 10), "s");
        event.properties = R"({"plan":")" +
                           std::string(i % 4 == 0   ? "pro"
                                       : i % 4 == 1 ? "team"
                                                    : "free") +
                           R"("})";
        store.admit(static_cast<std::size_t>(i), event);
        store.apply(static_cast<std::size_t>(i), event, test::kNoon);
    }
    Event pageview = test::page("/", "u1", "s");
    pageview.properties = R"({"author":"ann"})";
    store.apply(0, pageview, test::kNoon);
    auto range = query::parse_range("today", test::kNoon);
    const auto b = query::properties(store, "default", *range, "signup", 2);
    ASSERT_EQ(b.keys.size(), 1u);
    EXPECT_EQ(b.keys[0].key, "plan");
    EXPECT_EQ(b.keys[0].count, 60u);
    EXPECT_EQ(b.keys[0].distinct_values, 3u);
    EXPECT_EQ(b.keys[0].visitors, 10u);
    ASSERT_EQ(b.keys[0].values.size(), 2u);  // the two most frequent
    EXPECT_EQ(b.keys[0].values[0].value, "free");
    EXPECT_EQ(b.keys[0].values[0].count, 30u);
    EXPECT_EQ(b.keys[0].values[0].visitors, 10u);  // i % 4 in {2,3} meets every i % 10
    EXPECT_EQ(b.keys[0].values[1].value, "pro");
    EXPECT_EQ(b.keys[0].values[1].count, 15u);
    const auto pages = query::properties(store, "default", *range, "pageview");
    ASSERT_EQ(pages.keys.size(), 1u);
    EXPECT_EQ(pages.keys[0].values[0].value, "ann");
}

}  // namespace
}  // namespace tally::store
