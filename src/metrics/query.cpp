#include "tally/metrics/query.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <span>

namespace tally::metrics {

namespace {

/// Which buckets a read merges: `windows` windows of `window_ms` from `start_ms`, read
/// from tier `tier` (whose width divides the window and the start).
struct WindowPlan {
    std::size_t tier = 0;
    std::int64_t start_ms = 0;
    std::int64_t window_ms = 0;
    std::size_t windows = 1;
};

/// Adds every bucket of `groups[g]`'s series inside the plan to the window it falls in,
/// `out[g * plan.windows + window]`. Each shard's lock is taken once for all the groups: a
/// query under ingest waits behind a writer's batch at most once per shard.
void accumulate(const Engine& engine, const std::vector<const std::vector<SeriesId>*>& groups,
                const WindowPlan& plan, std::vector<Accumulator>& out) {
    const std::int64_t width = kTierWidthMs[plan.tier];
    const std::int64_t first = floor_div(plan.start_ms, width);
    const std::int64_t end_ms =
        plan.start_ms + static_cast<std::int64_t>(plan.windows) * plan.window_ms;
    const std::int64_t last = floor_div(end_ms, width);
    for (std::size_t s = 0; s < engine.shard_count(); ++s) {
        const Shard& shard = engine.shard(s);
        std::lock_guard lock(shard.mutex);
        for (std::size_t g = 0; g < groups.size(); ++g) {
            Accumulator* windows = out.data() + g * plan.windows;
            for (SeriesId id : *groups[g]) {
                if (id >= shard.series.size() || !shard.series[id])
                    continue;
                std::visit(
                    [&](const auto& tiers) {
                        tiers.tier[plan.tier].visit(
                            first, last, [&](std::int64_t number, const auto& bucket) {
                                const auto index = static_cast<std::size_t>(
                                    (number * width - plan.start_ms) / plan.window_ms);
                                windows[index].add(bucket);
                            });
                    },
                    shard.series[id]->tiers);
            }
        }
    }
}

bool matches(const std::vector<MetricTag>& tags, const std::vector<TagFilter>& filters) {
    for (const TagFilter& filter : filters) {
        const auto tag = std::find_if(tags.begin(), tags.end(),
                                      [&](const MetricTag& t) { return t.key == filter.key; });
        if (tag == tags.end() || std::find(filter.values.begin(), filter.values.end(),
                                           tag->value) == filter.values.end()) {
            return false;
        }
    }
    return true;
}

std::optional<std::string> tag_value(const std::vector<MetricTag>& tags, const std::string& key) {
    for (const MetricTag& tag : tags) {
        if (tag.key == key)
            return tag.value;
    }
    return std::nullopt;
}

using Group = std::vector<std::optional<std::string>>;

/// The name's series that pass the filters, grouped by the group_by tags' values.
std::map<Group, std::vector<SeriesId>> group_series(const Engine& engine, const NameInfo& name,
                                                    const std::vector<TagFilter>& filters,
                                                    const std::vector<std::string>& group_by) {
    std::map<Group, std::vector<SeriesId>> groups;
    const std::vector<SeriesInfo> infos = engine.registry().series(name.series);
    for (std::size_t i = 0; i < infos.size(); ++i) {
        if (!matches(infos[i].tags, filters))
            continue;
        Group key;
        key.reserve(group_by.size());
        for (const std::string& tag : group_by)
            key.push_back(tag_value(infos[i].tags, tag));
        groups[key].push_back(name.series[i]);
    }
    return groups;
}

/// The plan of a trailing window: the bucket now is in, and the ones before it, that make
/// up `window` (10-second buckets up to an hour, minutes beyond).
WindowPlan trailing(MetricWindow window, std::int64_t now_ms) {
    const std::int64_t length = window_ms(window);
    WindowPlan plan;
    plan.tier = length <= kFineTierSpanMs[0] ? 0 : 1;
    const std::int64_t width = kTierWidthMs[plan.tier];
    plan.window_ms = length;
    plan.start_ms = (floor_div(now_ms, width) + 1) * width - length;
    plan.windows = 1;
    return plan;
}

void fill_distribution(Current& out, const Accumulator& merged) {
    const double seconds = 0;
    using Op = Aggregation::Op;
    out.p50 = merged.value({Op::percentile, 0.50}, seconds);
    out.p90 = merged.value({Op::percentile, 0.90}, seconds);
    out.p95 = merged.value({Op::percentile, 0.95}, seconds);
    out.p99 = merged.value({Op::percentile, 0.99}, seconds);
    out.min = merged.value({Op::min, 0}, seconds);
    out.max = merged.value({Op::max, 0}, seconds);
    out.avg = merged.value({Op::avg, 0}, seconds);
}

}  // namespace

std::vector<NameSummary> list_names(const Engine& engine, const std::string& workspace) {
    std::vector<NameSummary> out;
    for (const NameInfo& name : engine.registry().names(workspace))
        out.push_back({name.name, name.type, name.series.size()});
    std::sort(out.begin(), out.end(),
              [](const NameSummary& a, const NameSummary& b) { return a.name < b.name; });
    return out;
}

std::optional<Current> current(const Engine& engine, const std::string& workspace,
                               const std::string& name, std::optional<MetricWindow> window,
                               const std::vector<TagFilter>& filters, std::int64_t now_ms) {
    const std::optional<NameInfo> info = engine.registry().name(workspace, name);
    if (!info)
        return std::nullopt;
    Current out;
    out.name = info->name;
    out.type = info->type;
    out.window = window.value_or(info->window);
    std::vector<SeriesId> ids;
    for (auto& [group, members] : group_series(engine, *info, filters, {}))
        ids.insert(ids.end(), members.begin(), members.end());
    const WindowPlan plan = trailing(out.window, now_ms);
    std::vector<Accumulator> merged(1, Accumulator(kind_of(info->type)));
    accumulate(engine, {&ids}, plan, merged);
    const double seconds = static_cast<double>(window_ms(out.window)) / 1000.0;
    out.value = merged[0].value(Aggregation::natural(info->type), seconds);
    out.count = merged[0].count();
    if (kind_of(info->type) == MetricKind::distribution)
        fill_distribution(out, merged[0]);
    return out;
}

namespace {

/// The tier that answers windows of `window_ms` from `start_ms`: the coarsest whose bucket
/// width divides the window (fewest buckets to merge; every tier holds the same points, so
/// the answer is the same) and that still reaches back to `start_ms`. nullopt when none
/// does: the range is older than the finer tiers reach and the window shorter than the
/// coarser ones' buckets.
std::optional<std::size_t> pick_tier(const Engine& engine, std::int64_t start_ms,
                                     std::int64_t window_ms, std::int64_t now_ms) {
    for (std::size_t t = kTierCount; t-- > 0;) {
        if (window_ms % kTierWidthMs[t] != 0)
            continue;
        const bool reaches = start_ms >= engine.first_bucket(t, now_ms) * kTierWidthMs[t];
        if (t + 1 == kTierCount || reaches)
            return t;
        return std::nullopt;
    }
    return std::nullopt;
}

std::variant<WindowPlan, QueryError> plan_query(const Engine& engine, const RangeQuery& query,
                                                std::int64_t now_ms) {
    const std::int64_t length = window_ms(query.window);
    if (!query.start_ms)
        return trailing(query.window, now_ms);
    const std::int64_t start = floor_div(*query.start_ms, length) * length;
    const std::int64_t end = -floor_div(-*query.end_ms, length) * length;
    if (end <= start)
        return QueryError{400, "end_time must be after start_time", "end_time"};
    if ((end - start) / length > static_cast<std::int64_t>(kMaxAnswerPoints)) {
        return QueryError{400, "too many points: at most 10000 windows per answer", "window"};
    }
    const auto tier = pick_tier(engine, start, length, now_ms);
    if (!tier) {
        if (start >= engine.first_bucket(1, now_ms) * kTierWidthMs[1]) {
            return QueryError{400,
                              "window too fine: 10-second buckets reach back 1 hour, older data "
                              "is kept by the minute; ask for 1m (or coarser) windows",
                              "window"};
        }
        return QueryError{400,
                          "window too fine: data older than 48 hours is kept by the hour; ask "
                          "for 1h or 1d windows",
                          "window"};
    }
    return WindowPlan{*tier, start, length, static_cast<std::size_t>((end - start) / length)};
}

QueryResult group_result(const std::string& metric, const Aggregation& aggregation,
                         const std::vector<std::string>& group_by, const Group& group,
                         std::span<const Accumulator> windows, const WindowPlan& plan) {
    QueryResult result;
    result.metric = metric;
    result.aggregation = aggregation.name();
    for (std::size_t i = 0; i < group_by.size(); ++i)
        result.group.emplace_back(group_by[i], group[i]);
    const double seconds = static_cast<double>(plan.window_ms) / 1000.0;
    result.points.reserve(windows.size());
    for (std::size_t w = 0; w < windows.size(); ++w) {
        result.points.push_back({plan.start_ms + static_cast<std::int64_t>(w) * plan.window_ms,
                                 windows[w].value(aggregation, seconds)});
    }
    return result;
}

}  // namespace

std::variant<std::vector<QueryResult>, QueryError> run_query(const Engine& engine,
                                                             const RangeQuery& query,
                                                             std::int64_t now_ms) {
    const auto planned = plan_query(engine, query, now_ms);
    if (const auto* error = std::get_if<QueryError>(&planned))
        return *error;
    const WindowPlan plan = std::get<WindowPlan>(planned);
    std::vector<QueryResult> results;
    std::size_t groups_total = 0;
    for (const std::string& metric : query.metrics) {
        const std::optional<NameInfo> info = engine.registry().name(query.workspace, metric);
        if (!info)
            continue;  // nothing sent yet: no series, no results
        const MetricKind kind = kind_of(info->type);
        const Aggregation aggregation =
            query.aggregation.value_or(Aggregation::natural(info->type));
        if (!aggregation.answers(kind)) {
            return QueryError{400,
                              "aggregation '" + aggregation.name() + "' does not apply to '" +
                                  metric + "', a " + metric_kind_name(kind) + " metric",
                              "aggregation"};
        }
        const auto groups = group_series(engine, *info, query.filters, query.group_by);
        groups_total += groups.size();
        if (groups_total > kMaxAnswerGroups)
            return QueryError{400, "too many groups: at most 1000 per answer", "group_by"};
        if ((groups_total * plan.windows) > kMaxAnswerPoints)
            return QueryError{400, "too many points: at most 10000 per answer", "window"};
        std::vector<const std::vector<SeriesId>*> members;
        members.reserve(groups.size());
        for (const auto& [group, ids] : groups)
            members.push_back(&ids);
        std::vector<Accumulator> windows(groups.size() * plan.windows, Accumulator(kind));
        accumulate(engine, members, plan, windows);
        std::size_t g = 0;
        for (const auto& [group, ids] : groups) {
            const std::span<const Accumulator> own(windows.data() + g++ * plan.windows,
                                                   plan.windows);
            results.push_back(group_result(metric, aggregation, query.group_by, group, own, plan));
        }
    }
    return results;
}

}  // namespace tally::metrics
