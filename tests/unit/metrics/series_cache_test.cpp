// The shard's series cache (hits build nothing, so they must still tell series apart
// exactly) and the engine's batch admission built on it.

#include <string>
#include <vector>

#include "fixture.hpp"
#include "tally/metrics/series_cache.hpp"

namespace tally::metrics::test {
namespace {

SeriesRegistry::Found answer(SeriesId id) {
    SeriesRegistry::Found found;
    found.id = id;
    return found;
}

void remember(SeriesCache& cache, const MetricPoint& p, SeriesId id) {
    std::string key;
    SeriesRegistry::series_key(p, key);
    cache.insert(cache.hash_of(p), key, answer(id));
}

const SeriesRegistry::Found* look_up(const SeriesCache& cache, const MetricPoint& p) {
    return cache.find(p, cache.hash_of(p));
}

TEST(SeriesCache, FindsEverySeriesItHoldsThroughGrowth) {
    SeriesCache cache;
    std::vector<MetricPoint> points;
    for (int i = 0; i < 5000; ++i) {
        points.push_back(point("m" + std::to_string(i % 7), MetricType::count, 1, kNow,
                               {{"host", "h" + std::to_string(i)}, {"region", "eu-west-1"}}));
        remember(cache, points.back(), static_cast<SeriesId>(i));
    }
    EXPECT_EQ(cache.size(), 5000u);
    for (int i = 0; i < 5000; ++i) {
        const SeriesRegistry::Found* found = look_up(cache, points[static_cast<std::size_t>(i)]);
        ASSERT_NE(found, nullptr);
        EXPECT_EQ(found->id, static_cast<SeriesId>(i));
    }
}

TEST(SeriesCache, TellsApartSeriesThatDifferInOneFieldOrABoundary) {
    SeriesCache cache;
    const MetricPoint base = point("req", MetricType::count, 1, kNow, {{"a", "bc"}});
    remember(cache, base, 1);
    MetricPoint other_workspace = base;
    other_workspace.workspace = "w";
    const std::vector<MetricPoint> others = {
        point("req", MetricType::count, 1, kNow, {{"ab", "c"}}),
        point("req", MetricType::count, 1, kNow, {{"a", "bd"}}),
        point("req", MetricType::count, 1, kNow),
        point("req", MetricType::count, 1, kNow, {{"a", "bc"}, {"d", "e"}}),
        point("reqa", MetricType::count, 1, kNow, {{"a", "bc"}}),
        other_workspace,
    };
    for (const MetricPoint& p : others)
        EXPECT_EQ(look_up(cache, p), nullptr) << p.name;
    // Same series, another type or value: the cache answers by series alone.
    const SeriesRegistry::Found* same =
        look_up(cache, point("req", MetricType::gauge, 9, kNow + 1, {{"a", "bc"}}));
    ASSERT_NE(same, nullptr);
    EXPECT_EQ(same->id, 1u);
}

TEST(SeriesCache, TwoCachesHashDifferentlyYetAgreeOnAnswers) {
    SeriesCache first;
    SeriesCache second;
    const MetricPoint p = point("lat", MetricType::percentile, 1, kNow, {{"route", "/api"}});
    remember(first, p, 3);
    remember(second, p, 3);
    EXPECT_NE(first.hash_of(p), second.hash_of(p));  // seeded: 2^-64 chance of a false alarm
    EXPECT_EQ(look_up(first, p)->id, look_up(second, p)->id);
}

TEST(EngineAdmitAll, MovesAdmittedPointsFirstAndReportsRefusalsByIndex) {
    Engine engine(EngineOptions{1, RegistryLimits{100, 100}, 30});
    ASSERT_FALSE(put(engine, point("jobs", MetricType::count, 1, kNow)));
    std::vector<MetricPoint> points = {
        point("temp", MetricType::gauge, 20, kNow),
        point("jobs", MetricType::gauge, 1, kNow),  // a counter already: refused
        point("temp", MetricType::gauge, 21, kNow),
        point("jobs", MetricType::count, 2, kNow),
    };
    points[2].gauge_delta = true;  // +21 on 20
    std::vector<SeriesId> ids;
    std::vector<BatchItemRejection> refused;
    const std::size_t admitted = engine.admit_all(0, points, ids, refused);
    ASSERT_EQ(admitted, 3u);
    ASSERT_EQ(refused.size(), 1u);
    EXPECT_EQ(refused[0].index, 1u);
    EXPECT_EQ(refused[0].rejection.reason, "type_conflict");
    ASSERT_EQ(ids.size(), 3u);
    EXPECT_EQ(points[0].name, "temp");
    EXPECT_EQ(points[1].name, "temp");
    EXPECT_EQ(points[2].name, "jobs");
    EXPECT_EQ(ids[0], ids[1]);
    EXPECT_DOUBLE_EQ(points[1].value, 41);  // the delta resolved in order
    EXPECT_FALSE(points[1].gauge_delta);
}

}  // namespace
}  // namespace tally::metrics::test
