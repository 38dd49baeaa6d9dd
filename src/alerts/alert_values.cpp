#include "tally/alerts/alert_values.hpp"

#include <algorithm>
#include <limits>
#include <mutex>
#include <string>
#include <unordered_map>

#include "tally/base/time.hpp"
#include "tally/query/query.hpp"

namespace tally::alerts {

namespace {

using metrics::Accumulator;
using metrics::Aggregation;
using metrics::kTierCount;
using metrics::kTierWidthMs;
using metrics::SeriesId;

constexpr std::int64_t kMinuteMs = 60'000;
/// Rules of one name that filter by tags before their series are indexed by tag=value
/// (fewer: a scan of the name's series each is cheaper than building the index).
constexpr std::size_t kIndexAfter = 4;

/// Which buckets make up a rule's windows: `windows` windows of `window_ms` from
/// `start_ms`, read from tier `tier` (whose width divides the window and the start).
struct Plan {
    std::size_t tier = 0;
    std::int64_t start_ms = 0;
    std::int64_t window_ms = 0;
    std::size_t windows = 1;
};

/// A window of a counter or gauge: Accumulator's figures without its sketch and set, which
/// are a few hundred bytes each and would dominate a round of many anomaly rules (61 windows
/// each). The same sums in the same order, so the same answers (values_test checks it).
struct PlainWindow {
    double count = 0;
    double sum = 0;
    double min = std::numeric_limits<double>::infinity();
    double max = -std::numeric_limits<double>::infinity();
    double last = 0;
    std::int64_t last_ms = std::numeric_limits<std::int64_t>::min();

    void add(const metrics::CounterBucket& bucket) {
        count += bucket.count;
        sum += bucket.sum;
    }
    void add(const metrics::GaugeBucket& bucket) {
        count += bucket.count;
        sum += bucket.sum;
        min = std::min(min, bucket.min);
        max = std::max(max, bucket.max);
        if (bucket.last_ms >= last_ms) {
            last = bucket.last;
            last_ms = bucket.last_ms;
        }
    }
    // A name's series are all of its kind: plain windows never see these.
    void add(const metrics::DistributionBucket&) {}
    void add(const metrics::SetBucket&) {}

    std::optional<double> value(const Aggregation& aggregation, double seconds) const {
        using Op = Aggregation::Op;
        if (count == 0)
            return std::nullopt;
        switch (aggregation.op) {
            case Op::sum:
                return sum;
            case Op::count:
                return count;
            case Op::rate:
                return seconds > 0 ? sum / seconds : 0.0;
            case Op::avg:
                return sum / count;
            case Op::min:
                return min;
            case Op::max:
                return max;
            case Op::last:
                return last;
            default:
                return std::nullopt;  // not answered by counters and gauges
        }
    }
};

/// One metric rule's read in this round. Its series and (for counters and gauges) its
/// windows live in the round's shared arenas (Scratch): the current window, then the
/// history's.
struct Job {
    std::size_t rule = 0;
    Aggregation aggregation;
    std::size_t ids_from = 0;
    std::size_t ids_count = 0;
    Plan current;
    std::optional<Plan> history;
    bool plain = true;                // a counter or gauge: windows in the arena
    std::size_t windows_from = 0;     // plain
    std::vector<Accumulator> merged;  // distributions and sets

    std::size_t window_count() const { return 1 + (history ? history->windows : 0); }
};

/// The trailing window, as /current reads it: the bucket now is in and the ones before it
/// (10-second buckets up to an hour, minutes beyond).
Plan trailing(MetricWindow window, std::int64_t now_ms) {
    const std::int64_t length = window_ms(window);
    Plan plan;
    plan.tier = length <= metrics::kFineTierSpanMs[0] ? 0 : 1;
    const std::int64_t width = kTierWidthMs[plan.tier];
    plan.window_ms = length;
    plan.start_ms = (floor_div(now_ms, width) + 1) * width - length;
    return plan;
}

/// The kAnomalyWindows windows before `current`, from the finest tier that divides the
/// window and still reaches back to their start (the hour tier otherwise), aligned to its
/// buckets.
std::optional<Plan> history_plan(const metrics::Engine& engine, const Plan& current,
                                 std::int64_t now_ms) {
    for (std::size_t t = 0; t < kTierCount; ++t) {
        const std::int64_t width = kTierWidthMs[t];
        if (current.window_ms % width != 0)
            continue;
        const std::int64_t end = floor_div(current.start_ms, width) * width;
        const std::int64_t start =
            end - static_cast<std::int64_t>(kAnomalyWindows) * current.window_ms;
        if (t + 1 < kTierCount && start < engine.first_bucket(t, now_ms) * width)
            continue;
        return Plan{t, start, current.window_ms, kAnomalyWindows};
    }
    return std::nullopt;
}

template <typename Tiers, typename Window>
void add_plan(const Tiers& tiers, const Plan& plan, Window* windows) {
    const std::int64_t width = kTierWidthMs[plan.tier];
    const std::int64_t first = floor_div(plan.start_ms, width);
    const std::int64_t end =
        plan.start_ms + static_cast<std::int64_t>(plan.windows) * plan.window_ms;
    tiers.tier[plan.tier].visit(
        first, floor_div(end, width), [&](std::int64_t number, const auto& bucket) {
            const auto index =
                static_cast<std::size_t>((number * width - plan.start_ms) / plan.window_ms);
            windows[index].add(bucket);
        });
}

bool matches(const std::vector<MetricTag>& tags, const std::vector<metrics::TagFilter>& filters) {
    for (const metrics::TagFilter& filter : filters) {
        const auto tag = std::find_if(tags.begin(), tags.end(),
                                      [&](const MetricTag& t) { return t.key == filter.key; });
        if (tag == tags.end() || std::find(filter.values.begin(), filter.values.end(),
                                           tag->value) == filter.values.end())
            return false;
    }
    return true;
}

std::string tag_key(std::string_view key, std::string_view value) {
    std::string out(key);
    out += '\0';
    out += value;
    return out;
}

/// One name's series, with their tags and, when several rules filter, an index by
/// tag=value. Kept from round to round: a name's series are only ever added (in order), so
/// a round copies only the series that are new since the last one.
struct NameSeries {
    std::vector<SeriesId> ids;
    std::vector<metrics::SeriesInfo> infos;  // by position in ids; empty until someone filters
    std::unordered_map<std::string, std::vector<std::uint32_t>> by_tag;  // positions
    bool indexed = false;
    std::uint64_t used_in_round = 0;

    void update(const metrics::Engine& engine, const std::vector<SeriesId>& series,
                std::size_t filtering) {
        if (series.size() < ids.size() || !std::equal(ids.begin(), ids.end(), series.begin()))
            *this = NameSeries{};  // cannot happen (series are never removed): start over
        const std::size_t known = ids.size();
        ids.insert(ids.end(), series.begin() + static_cast<std::ptrdiff_t>(known), series.end());
        if (filtering == 0 && infos.empty())
            return;
        if (infos.size() < ids.size()) {
            const std::vector<SeriesId> fresh(
                ids.begin() + static_cast<std::ptrdiff_t>(infos.size()), ids.end());
            for (metrics::SeriesInfo& info : engine.registry().series(fresh))
                infos.push_back(std::move(info));
        }
        if (infos.size() != ids.size()) {  // cannot happen: every id has its tags
            *this = NameSeries{};
            return;
        }
        if (!indexed && filtering < kIndexAfter)
            return;
        const std::size_t from = indexed ? known : 0;
        for (std::size_t i = from; i < infos.size(); ++i) {
            for (const MetricTag& tag : infos[i].tags)
                by_tag[tag_key(tag.key, tag.value)].push_back(static_cast<std::uint32_t>(i));
        }
        indexed = true;
    }

    /// Appends the series that pass `filters` to `out`.
    void select(const std::vector<metrics::TagFilter>& filters, std::vector<SeriesId>& out) const {
        if (filters.empty()) {
            out.insert(out.end(), ids.begin(), ids.end());
            return;
        }
        const auto consider = [&](std::uint32_t i) {
            if (matches(infos[i].tags, filters))
                out.push_back(ids[i]);
        };
        if (!indexed) {
            for (std::uint32_t i = 0; i < infos.size(); ++i)
                consider(i);
            return;
        }
        // The first filter's values name disjoint sets of series (a series has one value
        // per key): their union, then the other filters.
        for (const std::string& value : filters.front().values) {
            const auto it = by_tag.find(tag_key(filters.front().key, value));
            if (it != by_tag.end())
                std::for_each(it->second.begin(), it->second.end(), consider);
        }
    }
};

}  // namespace

/// What a round reuses: the jobs, their series and windows in two flat arenas (a round of
/// 10,000 rules allocates nothing once the first has sized them), and each name's series.
struct ValueReader::Scratch {
    std::vector<Job> jobs;
    std::vector<SeriesId> ids;
    std::vector<PlainWindow> windows;
    std::unordered_map<std::string, NameSeries> names;  // by workspace '\0' name
    std::uint64_t round = 0;
};

namespace {

using Scratch = ValueReader::Scratch;

/// Merges every job's buckets, one shard at a time, kJobsPerLock jobs per lock taken.
void accumulate(const metrics::Engine& engine, Scratch& scratch) {
    std::vector<Job>& jobs = scratch.jobs;
    for (std::size_t s = 0; s < engine.shard_count(); ++s) {
        const metrics::Shard& shard = engine.shard(s);
        for (std::size_t from = 0; from < jobs.size(); from += kJobsPerLock) {
            const std::size_t to = std::min(jobs.size(), from + kJobsPerLock);
            std::lock_guard lock(shard.mutex);
            for (std::size_t j = from; j < to; ++j) {
                Job& job = jobs[j];
                const auto add = [&](const auto& tiers, auto* windows) {
                    add_plan(tiers, job.current, windows);
                    if (job.history)
                        add_plan(tiers, *job.history, windows + 1);
                };
                for (std::size_t i = job.ids_from; i < job.ids_from + job.ids_count; ++i) {
                    const SeriesId id = scratch.ids[i];
                    if (id >= shard.series.size() || !shard.series[id])
                        continue;
                    std::visit(
                        [&](const auto& tiers) {
                            if (job.plain)
                                add(tiers, scratch.windows.data() + job.windows_from);
                            else
                                add(tiers, job.merged.data());
                        },
                        shard.series[id]->tiers);
                }
            }
        }
    }
}

/// The jobs of one name's rules (`members`: indexes into `rules`).
void plan_name(const metrics::Engine& engine, std::span<const Rule* const> rules,
               const std::string& key, const std::vector<std::size_t>& members, std::int64_t now_ms,
               Scratch& scratch) {
    const Rule& first = *rules[members.front()];
    const std::optional<metrics::NameInfo> info =
        engine.registry().name(first.metrics_workspace, first.metric);
    if (!info)
        return;  // nothing sent yet: no data
    const MetricKind kind = kind_of(info->type);
    const std::size_t filtering = static_cast<std::size_t>(std::count_if(
        members.begin(), members.end(), [&](std::size_t r) { return !rules[r]->filters.empty(); }));
    NameSeries& series = scratch.names[key];
    series.update(engine, info->series, filtering);
    series.used_in_round = scratch.round;
    for (std::size_t r : members) {
        const Rule& rule = *rules[r];
        Job job;
        job.rule = r;
        job.aggregation = rule.aggregation.value_or(Aggregation::natural(info->type));
        if (!job.aggregation.answers(kind))
            continue;  // a name whose kind cannot answer it: no data
        job.ids_from = scratch.ids.size();
        series.select(rule.filters, scratch.ids);
        job.ids_count = scratch.ids.size() - job.ids_from;
        job.current = trailing(rule.window, now_ms);
        if (rule.op == Operator::anomaly)
            job.history = history_plan(engine, job.current, now_ms);
        job.plain = kind == MetricKind::counter || kind == MetricKind::gauge;
        if (job.plain) {
            job.windows_from = scratch.windows.size();
            scratch.windows.resize(scratch.windows.size() + job.window_count());
        } else {
            job.merged.assign(job.window_count(), Accumulator(kind));
        }
        scratch.jobs.push_back(std::move(job));
    }
}

void finish(const Job& job, const Scratch& scratch, Reading& out) {
    const double seconds = static_cast<double>(job.current.window_ms) / 1000.0;
    const auto value = [&](std::size_t w) {
        return job.plain ? scratch.windows[job.windows_from + w].value(job.aggregation, seconds)
                         : job.merged[w].value(job.aggregation, seconds);
    };
    out.value = value(0);
    for (std::size_t w = 1; w < job.window_count(); ++w) {
        if (auto v = value(w))
            out.previous.push_back(*v);
    }
}

/// What the rules of one site read: which counters, from which minute.
struct SiteNeeds {
    std::vector<std::size_t> rules;
    bool pageviews = false;
    bool realtime = false;
    std::vector<std::string> events;
    std::int64_t first_minute = std::numeric_limits<std::int64_t>::max();
};

/// A site's minute counters from `base` to now, as prefix sums: sum(a, b) is the count of
/// minutes [a, b).
struct MinuteSums {
    std::int64_t base = 0;
    std::vector<std::uint64_t> prefix;  // prefix[i]: minutes [base, base + i)

    std::uint64_t sum(std::int64_t from, std::int64_t to) const {
        const auto at = [&](std::int64_t minute) {
            const std::int64_t i =
                std::clamp<std::int64_t>(minute - base, 0, std::int64_t(prefix.size()) - 1);
            return prefix[static_cast<std::size_t>(i)];
        };
        return at(to) - at(from);
    }
};

/// The site's counters the rules need, each shard's part visited once; `held_from` gets
/// the first minute of the site's earliest day in the store (max when none).
void gather_site(const store::Store& store, const std::string& site, const SiteNeeds& needs,
                 std::int64_t now_minute, std::vector<MinuteSums>& sums, std::int64_t& held_from) {
    const std::int64_t base = needs.first_minute;
    const std::size_t length = static_cast<std::size_t>(now_minute - base + 1);
    const std::size_t sources = needs.events.size() + 1;  // events, then page views
    std::vector<std::vector<std::uint64_t>> counts(sources, std::vector<std::uint64_t>(length));
    held_from = std::numeric_limits<std::int64_t>::max();
    const std::int64_t first_day = floor_div(base, store::kMinutesPerDay);
    const auto add = [&](std::vector<std::uint64_t>& into, std::int64_t day,
                         const store::MinuteCounts& minutes) {
        for (std::int64_t m = 0; m < store::kMinutesPerDay; ++m) {
            const std::int64_t i = day * store::kMinutesPerDay + m - base;
            if (i >= 0 && i < static_cast<std::int64_t>(length))
                into[static_cast<std::size_t>(i)] += minutes[static_cast<std::size_t>(m)];
        }
    };
    store.visit_site(site, [&](const store::SiteShard& part) {
        if (!part.days.empty())
            held_from = std::min(held_from, part.days.begin()->first * store::kMinutesPerDay);
        for (auto it = part.days.lower_bound(first_day); it != part.days.end(); ++it) {
            if (needs.pageviews)
                add(counts.back(), it->first, it->second.pageviews_per_minute);
            for (std::size_t e = 0; e < needs.events.size(); ++e) {
                if (auto found = it->second.events.find(needs.events[e]);
                    found != it->second.events.end())
                    add(counts[e], it->first, found->second.per_minute);
            }
        }
    });
    sums.assign(sources, MinuteSums{base, {}});
    for (std::size_t s = 0; s < sources; ++s) {
        sums[s].prefix.resize(length + 1);
        for (std::size_t i = 0; i < length; ++i)
            sums[s].prefix[i + 1] = sums[s].prefix[i] + counts[s][i];
    }
}

/// An analytics count rule's reading from its site's sums.
void count_reading(const Rule& rule, const MinuteSums& sums, std::int64_t now_minute,
                   std::int64_t held_from, Reading& out) {
    const std::int64_t length = window_ms(rule.window) / kMinuteMs;
    const std::int64_t start = now_minute - length + 1;
    out.value = static_cast<double>(sums.sum(start, now_minute + 1));
    if (rule.op != Operator::anomaly)
        return;
    for (std::int64_t k = static_cast<std::int64_t>(kAnomalyWindows); k >= 1; --k) {
        const std::int64_t from = start - k * length;
        if (from >= held_from)
            out.previous.push_back(static_cast<double>(sums.sum(from, from + length)));
    }
}

void read_site(const store::Store& store, const std::string& site, const SiteNeeds& needs,
               std::span<const Rule* const> rules, std::int64_t now_ms, std::vector<Reading>& out) {
    const std::int64_t now_minute = floor_div(now_ms, kMinuteMs);
    std::optional<double> realtime;
    if (needs.realtime)
        realtime = static_cast<double>(query::real_time_users(store, site, now_ms));
    std::vector<MinuteSums> sums;
    std::int64_t held_from = std::numeric_limits<std::int64_t>::max();
    if (needs.pageviews || !needs.events.empty())
        gather_site(store, site, needs, now_minute, sums, held_from);
    for (std::size_t r : needs.rules) {
        const Rule& rule = *rules[r];
        if (rule.source == Source::realtime) {
            out[r].value = realtime;
            continue;
        }
        std::size_t source = sums.size() - 1;  // page views
        if (rule.source == Source::events)
            source = static_cast<std::size_t>(
                std::find(needs.events.begin(), needs.events.end(), rule.event) -
                needs.events.begin());
        count_reading(rule, sums[source], now_minute, held_from, out[r]);
    }
}

}  // namespace

ValueReader::ValueReader(const metrics::Engine& engine, const store::Store& store)
    : engine_(engine), store_(store), scratch_(std::make_unique<Scratch>()) {}

ValueReader::~ValueReader() = default;

void ValueReader::read(std::span<const Rule* const> rules, std::int64_t now_ms,
                       std::vector<Reading>& out) {
    std::lock_guard lock(mutex_);
    out.assign(rules.size(), Reading{});
    read_metrics(rules, now_ms, out);
    read_analytics(rules, now_ms, out);
}

void ValueReader::read_metrics(std::span<const Rule* const> rules, std::int64_t now_ms,
                               std::vector<Reading>& out) {
    std::unordered_map<std::string, std::vector<std::size_t>> by_name;
    for (std::size_t r = 0; r < rules.size(); ++r) {
        if (rules[r]->source == Source::metric)
            by_name[tag_key(rules[r]->metrics_workspace, rules[r]->metric)].push_back(r);
    }
    Scratch& scratch = *scratch_;
    ++scratch.round;
    scratch.jobs.clear();
    scratch.ids.clear();
    scratch.windows.clear();
    for (const auto& [key, members] : by_name)
        plan_name(engine_, rules, key, members, now_ms, scratch);
    accumulate(engine_, scratch);
    for (const Job& job : scratch.jobs)
        finish(job, scratch, out[job.rule]);
    // Names no rule reads any more leave the cache.
    std::erase_if(scratch.names,
                  [&](const auto& entry) { return entry.second.used_in_round != scratch.round; });
}

void ValueReader::read_analytics(std::span<const Rule* const> rules, std::int64_t now_ms,
                                 std::vector<Reading>& out) {
    std::unordered_map<std::string, SiteNeeds> sites;
    const std::int64_t now_minute = floor_div(now_ms, kMinuteMs);
    for (std::size_t r = 0; r < rules.size(); ++r) {
        const Rule& rule = *rules[r];
        if (rule.source == Source::metric)
            continue;
        SiteNeeds& needs = sites[rule.site];
        needs.rules.push_back(r);
        if (rule.source == Source::realtime) {
            needs.realtime = true;
            continue;
        }
        if (rule.source == Source::pageviews)
            needs.pageviews = true;
        else if (std::find(needs.events.begin(), needs.events.end(), rule.event) ==
                 needs.events.end())
            needs.events.push_back(rule.event);
        const std::int64_t length = window_ms(rule.window) / kMinuteMs;
        const std::int64_t windows =
            rule.op == Operator::anomaly ? 1 + static_cast<std::int64_t>(kAnomalyWindows) : 1;
        needs.first_minute = std::min(needs.first_minute, now_minute + 1 - windows * length);
    }
    for (const auto& [site, needs] : sites)
        read_site(store_, site, needs, rules, now_ms, out);
}

}  // namespace tally::alerts
