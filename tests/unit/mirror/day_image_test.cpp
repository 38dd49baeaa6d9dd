// The mirror's pure parts: what a day image lacks against a checkpoint (day_image.hpp) and
// the checkpoint's round trip.

#include "tally/mirror/day_image.hpp"

#include <gtest/gtest.h>

namespace tally::mirror {
namespace {

Event view(std::string page, int minute, std::string visitor = "v") {
    Event event;
    event.kind = EventKind::pageview;
    event.timestamp_ms = std::int64_t{minute} * 60'000;
    event.page = std::move(page);
    event.referrer = "direct";
    event.country = "DE";
    event.device = Device::mobile;
    event.visitor_id = std::move(visitor);
    event.session_id = "s";
    return event;
}

Event custom(std::string name) {
    Event event;
    event.kind = EventKind::custom;
    event.event_name = std::move(name);
    event.visitor_id = "v";
    event.session_id = "s";
    return event;
}

/// The checkpoint a successful flush of `delta` writes, read back as Redis would return it.
Shipped through_checkpoint(const Shipped& before, const DayDelta& delta) {
    std::vector<std::pair<std::string, std::string>> fields;
    for_each_checkpoint_field(before, delta, [&](const std::string& field, std::uint64_t value) {
        fields.emplace_back(field, std::to_string(value));
    });
    return parse_checkpoint(fields);
}

TEST(DayImage, SumsShardsAndDiffsAgainstNothingShipped) {
    store::DayState a(100), b(100);
    a.apply(view("/a", 61));
    a.apply(view("/a", 61));
    b.apply(view("/b", 62, "w"));
    b.apply(custom("signup"));
    DayImage image;
    image.add(a);
    image.add(b);
    const DayDelta delta = diff(image, Shipped{});
    EXPECT_EQ(delta.page_views(), 3);
    ASSERT_EQ(delta.minutes.size(), 2u);
    EXPECT_EQ(delta.minutes[0], (std::pair<int, std::int64_t>{61, 2}));
    EXPECT_EQ(delta.minutes[1], (std::pair<int, std::int64_t>{62, 1}));
    EXPECT_EQ(delta.hours(), (std::vector<std::pair<int, std::int64_t>>{{1, 3}}));
    EXPECT_EQ(delta.devices[static_cast<std::size_t>(Device::mobile)], 3);
    ASSERT_EQ(delta.events.size(), 1u);
    EXPECT_EQ(delta.events[0].second, 1);
    EXPECT_EQ(delta.pages.size(), 2u);
    EXPECT_TRUE(delta.visitors);
    EXPECT_TRUE(delta.sessions);
    // 2 minutes, 1 device, 1 event, 2 pages, 1 referrer, 1 country, 2 HyperLogLogs.
    EXPECT_EQ(delta.fields(), 10u);
}

TEST(DayImage, OnlyTheChangeSinceTheLastFlushIsShipped) {
    store::DayState state(100);
    state.apply(view("/a", 10));
    DayImage first;
    first.add(state);
    Shipped shipped;
    const DayDelta d1 = diff(first, shipped);
    record_shipped(shipped, first, d1);
    EXPECT_TRUE(diff(first, shipped).empty());

    state.apply(view("/a", 10));
    state.apply(view("/c", 700));
    DayImage second;
    second.add(state);
    const DayDelta d2 = diff(second, shipped);
    EXPECT_EQ(d2.page_views(), 2);
    EXPECT_EQ(d2.minutes.size(), 2u);
    EXPECT_EQ(d2.pages.size(), 2u);      // /a +1, /c +1
    EXPECT_FALSE(d2.visitors);           // the same visitor: no register moved
    EXPECT_EQ(d2.referrers.size(), 1u);  // direct +2
    EXPECT_EQ(d2.referrers[0].second, 2u);
}

TEST(DayImage, TheCheckpointRoundTripsWhatWasShipped) {
    store::DayState state(100);
    for (int i = 0; i < 50; ++i)
        state.apply(view("/p" + std::to_string(i % 7), i * 29 % 1440, "v" + std::to_string(i)));
    state.apply(custom("signup"));
    state.apply(custom("a:b.c-d"));
    DayImage image;
    image.add(state);
    Shipped shipped;
    const DayDelta delta = diff(image, shipped);
    const Shipped restored = through_checkpoint(shipped, delta);
    record_shipped(shipped, image, delta);
    EXPECT_EQ(restored.minutes, shipped.minutes);
    EXPECT_EQ(restored.devices, shipped.devices);
    EXPECT_EQ(restored.events, shipped.events);
    EXPECT_EQ(restored.pages, shipped.pages);
    EXPECT_EQ(restored.referrers, shipped.referrers);
    EXPECT_EQ(restored.countries, shipped.countries);
    // Restored from the checkpoint, nothing but the HyperLogLogs is pending (they carry no
    // checkpoint: merging them again is harmless).
    const DayDelta again = diff(image, restored);
    EXPECT_EQ(again.fields(), 2u);
    EXPECT_TRUE(again.visitors && again.sessions);
}

TEST(DayImage, ACheckpointWrittenInStepsAddsUp) {
    // Two flushes, each writing only the fields it changed: the hash holds the union.
    store::DayState state(100);
    state.apply(view("/a", 5));
    DayImage first;
    first.add(state);
    Shipped shipped;
    std::map<std::string, std::string> hash;
    auto flush = [&](const DayImage& image) {
        const DayDelta delta = diff(image, shipped);
        for_each_checkpoint_field(shipped, delta, [&](const std::string& f, std::uint64_t v) {
            hash[f] = std::to_string(v);
        });
        record_shipped(shipped, image, delta);
    };
    flush(first);
    state.apply(view("/b", 6));
    state.apply(view("/a", 5));
    DayImage second;
    second.add(state);
    flush(second);
    const Shipped restored = parse_checkpoint({hash.begin(), hash.end()});
    EXPECT_EQ(restored.minutes[5], 2u);
    EXPECT_EQ(restored.minutes[6], 1u);
    EXPECT_EQ(restored.pages.at("/a"), 2u);
    EXPECT_EQ(restored.pages.at("/b"), 1u);
    EXPECT_EQ(hash.at("d:mobile"), "3");
}

TEST(DayImage, ADamagedCheckpointSkipsBadFieldsAndSaysSo) {
    std::size_t bad = 0;
    const Shipped shipped = parse_checkpoint({{"m:10", "4"},
                                              {"m:1440", "1"},   // past the day
                                              {"m:x", "1"},      // not a minute
                                              {"p:/a", "-3"},    // not a count
                                              {"d:phone", "2"},  // no such device
                                              {"z:q", "1"},      // unknown kind
                                              {"", "1"},
                                              {"c:DE", "7"}},
                                             &bad);
    EXPECT_EQ(bad, 6u);
    EXPECT_EQ(shipped.minutes[10], 4u);
    EXPECT_EQ(shipped.countries.at("DE"), 7u);
    EXPECT_TRUE(shipped.pages.empty());
}

TEST(DayImage, CountersShrinkingShipNegativeChangesTopListsDoNot) {
    Shipped shipped;
    shipped.minutes[3] = 5;
    shipped.pages["/gone"] = 9;
    shipped.pages["/back"] = 9;
    DayImage image;
    image.minutes[3] = 4;      // the store lost an event it had shipped (a machine crash)
    image.pages["/back"] = 2;  // evicted and back with a smaller count
    const DayDelta delta = diff(image, shipped);
    ASSERT_EQ(delta.minutes.size(), 1u);
    EXPECT_EQ(delta.minutes[0].second, -1);
    EXPECT_TRUE(delta.pages.empty());
}

TEST(DayImage, HoursThatNetToZeroAreLeftAlone) {
    DayDelta delta;
    delta.minutes = {{60, 3}, {61, -3}, {125, 1}};
    EXPECT_EQ(delta.hours(), (std::vector<std::pair<int, std::int64_t>>{{2, 1}}));
    EXPECT_EQ(delta.page_views(), 1);
}

}  // namespace
}  // namespace tally::mirror
