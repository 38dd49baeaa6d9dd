// FleetReader: the fleet's dashboard from Redis (see the header's essay).

#include "tally/query/fleet_reader.hpp"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <map>
#include <stdexcept>
#include <vector>

#include "fleet_replies.hpp"
#include "tally/base/time.hpp"
#include "tally/redis/keys.hpp"
#include "tally/redis/pipeline.hpp"
#include "tally/telemetry/metrics.hpp"

namespace tally::query {

namespace {

using namespace fleet;  // the reply checks (fleet_replies.hpp)

using redis::active_key;
using redis::DayKeys;
using redis::instances_key;

/// The dashboard's order: count descending, ties by member ascending; the best 10.
void keep_top(query::Ranked& list) {
    auto order = [](const auto& a, const auto& b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
    };
    const std::size_t n = std::min(list.size(), query::kTopListSize);
    std::partial_sort(list.begin(), list.begin() + static_cast<std::ptrdiff_t>(n), list.end(),
                      order);
    list.resize(n);
}

/// The exact 10 best members of the sum of several days' sorted sets, read without the
/// whole union (ZUNION returns every member, and builds the union in Redis's one thread:
/// 18 ms for a week of 10,000 pages a day). Fagin's threshold algorithm: read the days'
/// sets from the top in chunks (sorted access, ZREVRANGE), ask every day for the score of
/// each member seen for the first time (random access, ZMSCORE), so every seen member's
/// total is exact; a member not seen yet has at most, in each day, the last score read
/// there, so its total is at most their sum, the threshold. Done when the 10th best
/// total is above the threshold (equal is not enough: an unseen member could tie it with
/// a smaller name), or every set is read to its end. Chunks double, so a flat
/// distribution takes O(log members) rounds. The dashboard's skewed lists usually need one.
class UnionTop {
  public:
    UnionTop(std::vector<std::string> keys, std::size_t chunk)
        : keys_(std::move(keys)),
          last_(keys_.size(), 0),
          ended_(keys_.size(), false),
          chunk_(std::max<std::size_t>(chunk, 1)) {}

    bool done() const { return done_; }
    query::Ranked top() const { return top_; }

    /// Sorted access: the next chunk of each day not read to its end.
    std::size_t add_reads(std::vector<Command>& commands) const {
        std::size_t added = 0;
        for (std::size_t d = 0; d < keys_.size(); ++d) {
            if (ended_[d])
                continue;
            commands.push_back({"ZREVRANGE", keys_[d], std::to_string(offset_),
                                std::to_string(offset_ + chunk_ - 1), "WITHSCORES"});
            ++added;
        }
        return added;
    }

    /// Their replies, in order.
    void take_reads(const redisReply* const* replies) {
        fresh_.clear();
        std::size_t r = 0;
        for (std::size_t d = 0; d < keys_.size(); ++d) {
            if (ended_[d])
                continue;
            const redisReply* reply = array_of(replies[r++]);
            for_each_pair(reply, [&](std::string_view member, const redisReply* score) {
                last_[d] = score_of(text_of(score));
                if (totals_.find(member) == totals_.end()) {
                    totals_.emplace(std::string(member), 0);
                    fresh_.emplace_back(member);
                }
            });
            if (reply->elements / 2 < chunk_)
                ended_[d] = true;  // nothing unseen is left in it
        }
        offset_ += chunk_;
        chunk_ *= 2;
    }

    /// Random access: every day's score of the members first seen in the last read.
    std::size_t add_scores(std::vector<Command>& commands) const {
        if (fresh_.empty())
            return 0;
        for (const std::string& key : keys_) {
            Command zmscore = {"ZMSCORE", key};
            zmscore.insert(zmscore.end(), fresh_.begin(), fresh_.end());
            commands.push_back(std::move(zmscore));
        }
        return keys_.size();
    }

    /// Their replies, in order; then decides whether the top is known.
    void take_scores(const redisReply* const* replies) {
        for (std::size_t d = 0; d < keys_.size() && !fresh_.empty(); ++d) {
            const redisReply* scores = array_of(replies[d]);
            if (scores->elements != fresh_.size())
                throw ReadFailure("unexpected reply to ZMSCORE", false);
            for (std::size_t i = 0; i < fresh_.size(); ++i) {
                if (scores->element[i]->type != REDIS_REPLY_NIL)
                    totals_.find(fresh_[i])->second += score_of(text_of(scores->element[i]));
            }
        }
        top_.assign(totals_.begin(), totals_.end());
        keep_top(top_);
        std::uint64_t threshold = 0;
        bool all_read = true;
        for (std::size_t d = 0; d < keys_.size(); ++d) {
            if (!ended_[d]) {
                threshold += last_[d];
                all_read = false;
            }
        }
        done_ = all_read || (top_.size() == query::kTopListSize && top_.back().second > threshold);
    }

  private:
    std::vector<std::string> keys_;    // one sorted set per day
    std::vector<std::uint64_t> last_;  // per day: the last score read
    std::vector<bool> ended_;          // per day: read to its end
    std::size_t offset_ = 0;           // entries read from each day so far
    std::size_t chunk_;                // entries the next read asks each day for
    std::map<std::string, std::uint64_t, std::less<>> totals_;  // exact, of every seen member
    std::vector<std::string> fresh_;                            // first seen in the last read
    query::Ranked top_;
    bool done_ = false;
};

/// Runs the rounds of UnionTop for several lists together until each is done: per round,
/// one round trip for the scores of the members new to each, one for their next reads.
void finish_unions(redisContext* context, std::vector<UnionTop>& unions) {
    // Every list not done adds its commands; each gets its replies back.
    auto round = [&](auto add, auto take) {
        std::vector<Command> commands;
        std::vector<std::size_t> sizes(unions.size(), 0);
        for (std::size_t i = 0; i < unions.size(); ++i) {
            if (!unions[i].done())
                sizes[i] = add(unions[i], commands);
        }
        const std::vector<Reply> replies = round_trip(context, commands);
        std::vector<const redisReply*> views(replies.size());
        std::transform(replies.begin(), replies.end(), views.begin(),
                       [](const Reply& reply) { return reply.get(); });
        std::size_t at = 0;
        for (std::size_t i = 0; i < unions.size(); ++i) {
            if (!unions[i].done())
                take(unions[i], views.data() + at);
            at += sizes[i];
        }
        return !commands.empty();
    };
    while (true) {
        round([](const UnionTop& u, std::vector<Command>& c) { return u.add_scores(c); },
              [](UnionTop& u, const redisReply* const* r) { u.take_scores(r); });
        const bool read_more =
            round([](const UnionTop& u, std::vector<Command>& c) { return u.add_reads(c); },
                  [](UnionTop& u, const redisReply* const* r) { u.take_reads(r); });
        if (!read_more)
            return;
    }
}

/// The active:I keys of the instances that mirror `site` (its instances set).
std::vector<std::string> instance_active_keys(redisContext* context, const std::string& site) {
    const Reply reply = std::move(round_trip(context, {{"SMEMBERS", instances_key(site)}})[0]);
    const redisReply* members = array_of(reply.get());
    std::vector<std::string> keys;
    keys.reserve(members->elements);
    for (std::size_t i = 0; i < members->elements; ++i)
        keys.push_back(active_key(site, text_of(members->element[i])));
    std::sort(keys.begin(), keys.end());
    return keys;
}

/// A day's three top lists, in the order of tops_of().
constexpr const std::string DayKeys::*kLists[] = {&DayKeys::pages, &DayKeys::referrers,
                                                  &DayKeys::countries};

std::array<query::Ranked*, 3> tops_of(query::Dashboard& d) {
    return {&d.top_pages, &d.top_referrers, &d.countries};
}

/// One dashboard read, in the steps of the header's cost list: each step's commands, and
/// what it leaves for the next.
class DashboardRead {
  public:
    /// `instances`: the active:I keys to sum, or null for a range that does not hold today.
    DashboardRead(const std::string& site, const query::DayRange& range,
                  const std::vector<std::string>* instances, std::size_t union_chunk)
        : instances_(instances != nullptr && !instances->empty() ? instances : nullptr),
          union_chunk_(union_chunk) {
        for (std::int64_t day = range.first; day <= range.last; ++day)
            days_.emplace_back(site, format_day(day));
        d_.date = range.label;
        d_.site = site;
    }

    /// 1. Everything but the ties, for one transaction. Replies: per day [GET page views,
    /// HGETALL devices, HGETALL events], then PFCOUNT visitors, PFCOUNT sessions, the
    /// three top lists, and the MGET of the instances' real-time users when there is one.
    std::vector<Command> first_commands() {
        std::vector<Command> commands;
        for (const DayKeys& keys : days_) {
            commands.push_back({"GET", keys.pageviews});
            commands.push_back({"HGETALL", keys.devices});
            commands.push_back({"HGETALL", keys.events});
        }
        Command visitors = {"PFCOUNT"};
        Command sessions = {"PFCOUNT"};
        for (const DayKeys& keys : days_) {
            visitors.push_back(keys.visitors);
            sessions.push_back(keys.sessions);
        }
        commands.push_back(std::move(visitors));
        commands.push_back(std::move(sessions));
        for (const auto list : kLists) {
            if (one_day()) {
                commands.push_back({"ZREVRANGE", days_[0].*list, "0",
                                    std::to_string(query::kTopListSize - 1), "WITHSCORES"});
                continue;
            }
            std::vector<std::string> keys;  // several days: each list's first sorted access
            keys.reserve(days_.size());
            for (const DayKeys& day : days_)
                keys.push_back(day.*list);
            unions_.emplace_back(std::move(keys), union_chunk_);
            union_reads_.push_back(unions_.back().add_reads(commands));
        }
        if (instances_ != nullptr) {
            Command mget = {"MGET"};
            mget.insert(mget.end(), instances_->begin(), instances_->end());
            commands.push_back(std::move(mget));
        }
        return commands;
    }

    /// Their replies, in order (EXEC's array).
    void take_first(const redisReply* const* replies) {
        std::size_t at = take_days(replies);
        d_.unique_visitors = count_of(replies[at++]);
        d_.unique_sessions = count_of(replies[at++]);
        if (one_day()) {
            for (query::Ranked* top : tops_of(d_))
                *top = ranked_of(replies[at++]);
        } else {
            for (std::size_t i = 0; i < unions_.size(); ++i) {
                unions_[i].take_reads(replies + at);
                at += union_reads_[i];
            }
        }
        if (instances_ != nullptr) {
            const redisReply* values = array_of(replies[at++]);
            for (std::size_t i = 0; i < values->elements; ++i)
                d_.real_time_users += count_of(values->element[i]);  // nil: an instance that left
        }
    }

    /// 2. One day: ZREVRANGE gave the 10 best with ties broken by member descending. The
    /// members above the 10th score are right; those at it are the ascending first ones of
    /// everything at that score, which ZRANGEBYSCORE lists in that order.
    void fill_ties(redisContext* context) {
        if (!one_day())
            return;
        std::vector<Command> fills;
        std::vector<query::Ranked*> filled;
        const auto tops = tops_of(d_);
        for (std::size_t i = 0; i < tops.size(); ++i) {
            query::Ranked& top = *tops[i];
            if (top.size() < query::kTopListSize)
                continue;  // the whole set came back
            const std::uint64_t tenth = top.back().second;
            std::erase_if(top, [tenth](const auto& entry) { return entry.second == tenth; });
            const std::string score = std::to_string(tenth);
            fills.push_back({"ZRANGEBYSCORE", days_[0].*kLists[i], score, score, "LIMIT", "0",
                             std::to_string(query::kTopListSize - top.size())});
            filled.push_back(&top);
        }
        if (fills.empty())
            return;
        const std::vector<Reply> replies = round_trip(context, fills);
        for (std::size_t i = 0; i < fills.size(); ++i) {
            const std::uint64_t score = score_of(fills[i][2]);
            const redisReply* members = array_of(replies[i].get());
            for (std::size_t m = 0; m < members->elements; ++m)
                filled[i]->emplace_back(std::string(text_of(members->element[m])), score);
        }
    }

    /// 2'. Several days: the rest of the threshold algorithm. Then the dashboard.
    query::Dashboard finish(redisContext* context) {
        finish_unions(context, unions_);
        const auto tops = tops_of(d_);
        for (std::size_t i = 0; i < unions_.size(); ++i)
            *tops[i] = unions_[i].top();
        for (query::Ranked* top : tops)
            keep_top(*top);
        return std::move(d_);
    }

  private:
    bool one_day() const { return days_.size() == 1; }

    /// The days' counters and hashes: the first three replies of each day. Returns how
    /// many replies it took.
    std::size_t take_days(const redisReply* const* replies) {
        std::map<std::string, std::uint64_t, std::less<>> events;
        std::size_t at = 0;
        for (std::size_t i = 0; i < days_.size(); ++i) {
            d_.page_views += count_of(replies[at++]);
            for_each_pair(replies[at++], [&](std::string_view device, const redisReply* value) {
                for (int k = 0; k < kDeviceCount; ++k) {
                    if (device == device_name(static_cast<Device>(k)))
                        d_.devices[static_cast<std::size_t>(k)] += count_of(value);
                }
            });
            for_each_pair(replies[at++], [&](std::string_view name, const redisReply* value) {
                auto it = events.find(name);
                if (it == events.end())
                    it = events.emplace(std::string(name), 0).first;
                it->second += count_of(value);
            });
        }
        d_.events.assign(events.begin(), events.end());
        return at;
    }

    std::vector<DayKeys> days_;
    const std::vector<std::string>* instances_;  // null: none, or not asked for
    std::size_t union_chunk_;
    std::vector<UnionTop> unions_;          // several days: one per top list
    std::vector<std::size_t> union_reads_;  // the commands each added to the first step
    query::Dashboard d_;
};

}  // namespace

FleetReader::FleetReader(FleetReaderOptions options)
    : options_(std::move(options)),
      backoff_(options_.min_backoff),
      probe_backoff_(options_.min_backoff) {
    // The first step runs at once: it connects, so up() turns true soon after the start.
    loop_.start(options_.health_interval, [this] { step(); });
}

FleetReader::~FleetReader() {
    stop();
}

bool FleetReader::read_dashboard(std::string site, query::DayRange range, Done done) {
    Job job;
    job.site = std::move(site);
    job.range = std::move(range);
    job.done = std::move(done);
    return enqueue(std::move(job));
}

bool FleetReader::read_pageview_series(std::string site, query::TimeseriesRequest request,
                                       SeriesDone done) {
    Job job;
    job.site = std::move(site);
    job.series = std::move(request);
    job.series_done = std::move(done);
    return enqueue(std::move(job));
}

bool FleetReader::enqueue(Job job) {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ || queue_.size() >= options_.queue_capacity)
            return false;
        queue_.push_back(std::move(job));
    }
    loop_.wake();
    return true;
}

void FleetReader::register_metrics(telemetry::Metrics& metrics) const {
    metrics.add_callback("tally_redis_reads_total", "Dashboards read from Redis.", "counter",
                         [this] { return static_cast<double>(reads()); });
    metrics.add_callback(
        "tally_redis_read_errors_total",
        "Reads from Redis that failed (answered from the last good figures, or 503).", "counter",
        [this] { return static_cast<double>(errors()); });
    metrics.add_callback("tally_redis_stale_answers_total",
                         "Fleet reads answered from the last good figures (Redis unreadable).",
                         "counter", [this] { return static_cast<double>(stale_answers()); });
    metrics.add_callback("tally_redis_circuit_open",
                         "1 while fleet reads skip Redis and its probes have not yet succeeded.",
                         "gauge", [this] { return circuit_open() ? 1.0 : 0.0; });
    metrics.add_callback("tally_redis_reader_up",
                         "1 while the dashboard reader's Redis connection works.", "gauge",
                         [this] { return up() ? 1.0 : 0.0; });
}

std::string FleetReader::problem() const {
    std::lock_guard lock(mutex_);
    return problem_;
}

void FleetReader::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    loop_.stop();  // a read being answered is finished first
    std::deque<Job> left;
    {
        std::lock_guard lock(mutex_);
        left.swap(queue_);
    }
    for (Job& job : left) {
        if (job.series)
            job.series_done(std::nullopt, "tallyd is stopping");
        else
            job.done(std::nullopt, "tallyd is stopping");
    }
}

void FleetReader::step() {
    if (circuit_open_.load(std::memory_order_relaxed))
        probe();
    bool served = false;
    while (std::optional<Job> job = next_job()) {
        serve(*job);
        served = true;
    }
    // Idle: the PING (or the reconnection) that keeps up() true to Redis without reads.
    if (!served && Clock::now() - last_served_ >= options_.health_interval)
        check_health();
}

std::optional<FleetReader::Job> FleetReader::next_job() {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.empty())
        return std::nullopt;
    Job job = std::move(queue_.front());
    queue_.pop_front();
    return job;
}

namespace {

/// What a kept answer stands for: a dashboard's site and days; a series' site, event,
/// buckets and the length of its window (a polled chart's window moves with the clock, and
/// the last good one is what it should see while Redis is away).
std::string job_key(const std::string& site, const query::DayRange& range,
                    const std::optional<query::TimeseriesRequest>& series) {
    if (!series)
        return "d " + site + " " + std::to_string(range.first) + " " + std::to_string(range.last);
    return "s " + site + " " + series->event_name + " " + std::to_string(series->bucket_ms) + " " +
           std::to_string(static_cast<int>(series->aggregation)) + " " +
           std::to_string(series->to_ms - series->from_ms);
}

}  // namespace

void FleetReader::serve(Job& job) {
    std::optional<query::Dashboard> dashboard;
    std::optional<std::vector<query::Point>> points;
    std::string error;
    bool connection_failed = false;
    if (circuit_open_.load(std::memory_order_relaxed))
        error = "circuit open after " + std::to_string(failures_in_a_row_) +
                " failed reads (probing in the background): " + problem();
    else
        error = read_from_redis(job, dashboard, points, connection_failed);
    const std::string key = job_key(job.site, job.range, job.series);
    std::optional<std::int64_t> stale_seconds;
    if (dashboard || points) {
        failures_in_a_row_ = 0;
        keep(key, dashboard, points);
    } else {
        count_failure(connection_failed);
        errors_.fetch_add(1, std::memory_order_relaxed);
        stale_seconds = recall(key, dashboard, points);
        if (stale_seconds)
            stale_answers_.fetch_add(1, std::memory_order_relaxed);
    }
    last_served_ = Clock::now();
    reads_.fetch_add(1, std::memory_order_relaxed);
    if (job.series) {
        std::optional<Series> series;
        if (points)
            series = Series{std::move(*points), stale_seconds};
        job.series_done(std::move(series), std::move(error));
    } else {
        if (dashboard)
            dashboard->stale_seconds = stale_seconds;
        job.done(std::move(dashboard), std::move(error));
    }
}

std::string FleetReader::read_from_redis(Job& job, std::optional<query::Dashboard>& dashboard,
                                         std::optional<std::vector<query::Point>>& points,
                                         bool& connection_failed) {
    if (!connect()) {
        connection_failed = true;
        return problem();
    }
    try {
        if (job.series)
            points = read_series(job);
        else
            dashboard = read(job);
        return {};
    } catch (const ReadFailure& failure) {
        if (failure.connection_lost) {
            disconnect(failure.what());
            connection_failed = true;
        }
        return failure.what();
    } catch (const std::exception& e) {
        // Memory ran out, say: where the replies stopped is unknown, so the connection goes
        // too.
        disconnect(e.what());
        connection_failed = true;
        return e.what();
    }
}

void FleetReader::keep(const std::string& key, const std::optional<query::Dashboard>& dashboard,
                       const std::optional<std::vector<query::Point>>& points) {
    if (kept_.size() >= options_.kept_answers && !kept_.contains(key)) {
        // Full: the oldest answer goes (a linear pass over a few hundred entries, only when
        // a new key arrives at a full table).
        auto oldest = std::min_element(
            kept_.begin(), kept_.end(),
            [](const auto& a, const auto& b) { return a.second.at < b.second.at; });
        kept_.erase(oldest);
    }
    kept_[key] = Kept{dashboard, points, Clock::now()};
}

std::optional<std::int64_t> FleetReader::recall(
    const std::string& key, std::optional<query::Dashboard>& dashboard,
    std::optional<std::vector<query::Point>>& points) const {
    const auto it = kept_.find(key);
    if (it == kept_.end())
        return std::nullopt;
    const auto age = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - it->second.at);
    if (age > options_.stale_max)
        return std::nullopt;
    dashboard = it->second.dashboard;
    points = it->second.points;
    return age.count();
}

void FleetReader::count_failure(bool connection_failed) {
    if (!connection_failed || circuit_open_.load(std::memory_order_relaxed))
        return;
    if (++failures_in_a_row_ < options_.failures_to_open)
        return;
    circuit_open_.store(true, std::memory_order_relaxed);
    probe_backoff_ = options_.min_backoff;
    next_probe_ = Clock::now() + probe_backoff_;
    spdlog::warn(
        "redis reader: circuit open after {} failed reads; answering from the last "
        "good figures (up to {} s old) and probing Redis in the background",
        failures_in_a_row_, options_.stale_max.count());
}

void FleetReader::probe() {
    const auto now = Clock::now();
    if (now < next_probe_)
        return;
    next_attempt_ = now;  // the probe's back-off is the circuit's, not connect()'s
    check_health();
    if (up()) {
        circuit_open_.store(false, std::memory_order_relaxed);
        failures_in_a_row_ = 0;
        spdlog::info("redis reader: circuit closed, Redis answers again");
        return;
    }
    probe_backoff_ = std::min(probe_backoff_ * 2, options_.max_backoff);
    next_probe_ = now + probe_backoff_;
}

std::vector<query::Point> FleetReader::read_series(const Job& job) {
    const auto [first_bucket_day, last_bucket_day] = query::timeseries_days(*job.series);
    // Redis holds no day older than the retention (the mirror's TTL) nor after tomorrow
    // (events may come 5 minutes early): only those days are asked for. Their counters tell
    // which of them hold page views; only those are read by minute.
    const std::int64_t today = day_of(now_ms());
    const std::int64_t first_day = std::max(first_bucket_day, today - options_.retention_days - 1);
    const std::int64_t last_day = std::min(last_bucket_day, today + 1);
    std::vector<DayKeys> days;
    std::vector<Command> totals;
    for (std::int64_t day = first_day; day <= last_day; ++day) {
        days.emplace_back(job.site, format_day(day));
        totals.push_back({"GET", days.back().pageviews});
    }
    const std::vector<Reply> counted =
        totals.empty() ? std::vector<Reply>{} : round_trip(context_.get(), totals);
    std::vector<Command> minutes;
    std::vector<std::int64_t> read_days;
    for (std::size_t i = 0; i < days.size(); ++i) {
        if (count_of(counted[i].get()) == 0)
            continue;
        Command mget{"MGET"};
        mget.reserve(store::kMinutesPerDay + 1);
        for (int m = 0; m < store::kMinutesPerDay; ++m)
            mget.push_back(days[i].minute(m));
        minutes.push_back(std::move(mget));
        read_days.push_back(first_day + static_cast<std::int64_t>(i));
    }
    query::DayMinutes gathered;
    if (!minutes.empty()) {
        const std::vector<Reply> replies = round_trip(context_.get(), minutes);
        for (std::size_t i = 0; i < replies.size(); ++i) {
            const redisReply* values = array_of(replies[i].get());
            if (values->elements != store::kMinutesPerDay)
                throw ReadFailure("unexpected reply to MGET", false);
            store::MinuteCounts& day = gathered[read_days[i]];
            for (std::size_t m = 0; m < values->elements; ++m)
                day[m] = static_cast<std::uint32_t>(count_of(values->element[m]));
        }
    }
    return query::timeseries(gathered, *job.series);
}

void FleetReader::check_health() {
    if (!context_) {
        connect();
        return;
    }
    try {
        const Reply pong = std::move(round_trip(context_.get(), {{"PING"}})[0]);
        if (text_of(checked(pong.get())) != "PONG")
            throw ReadFailure("unexpected reply to PING", true);
    } catch (const ReadFailure& failure) {
        // Whatever went wrong, a connection that cannot PING is not trusted again.
        disconnect(failure.what());
    }
}

bool FleetReader::connect() {
    if (context_)
        return true;
    const auto now = Clock::now();
    if (now < next_attempt_)
        return false;  // problem_ still says why
    std::string error;
    redis::Context context =
        redis::open(options_.address, options_.timeout, options_.timeout, error);
    const std::string where = options_.address.host + ":" + std::to_string(options_.address.port);
    if (!context) {
        next_attempt_ = now + backoff_;
        const std::string why = "cannot connect to " + where + ": " + error + " (next try in " +
                                std::to_string(backoff_.count()) + " ms)";
        backoff_ = std::min(backoff_ * 2, options_.max_backoff);
        up_.store(false, std::memory_order_relaxed);
        if (!warned_) {  // once per outage
            spdlog::warn("redis reader: {}", why);
            warned_ = true;
        }
        std::lock_guard lock(mutex_);
        problem_ = why;
        return false;
    }
    context_ = std::move(context);
    backoff_ = options_.min_backoff;
    warned_ = false;
    up_.store(true, std::memory_order_relaxed);
    spdlog::info("redis reader: connected to {}", where);
    std::lock_guard lock(mutex_);
    problem_.clear();
    return true;
}

void FleetReader::disconnect(std::string why) {
    context_.reset();
    // The next read tries again at once; the back-off starts if that fails too.
    next_attempt_ = Clock::now();
    up_.store(false, std::memory_order_relaxed);
    spdlog::warn("redis reader: connection lost: {}", why);
    warned_ = true;
    std::lock_guard lock(mutex_);
    problem_ = std::move(why);
}

query::Dashboard FleetReader::read(const Job& job) {
    const query::DayRange& range = job.range;
    if (range.last < range.first || range.last - range.first > 366)
        throw ReadFailure("a dashboard range is one day to one year", false);
    // Like the local dashboard, real_time_users only for a range that holds today.
    const std::int64_t today = day_of(now_ms());
    const std::vector<std::string>* instances = nullptr;
    if (range.first <= today && today <= range.last)
        instances = &instance_keys(job.site);

    DashboardRead dashboard(job.site, range, instances, options_.union_chunk);
    // 1. Everything but the ties, in one transaction.
    const Reply exec = transaction(context_.get(), dashboard.first_commands());
    dashboard.take_first(exec->element);
    // 2. One day: the members tied at the 10th place.
    dashboard.fill_ties(context_.get());
    // 2'. Several days: the rest of the threshold algorithm.
    return dashboard.finish(context_.get());
}

const std::vector<std::string>& FleetReader::instance_keys(const std::string& site) {
    const auto now = Clock::now();
    auto it = instance_keys_.find(site);
    // Finding none is kept for a second at most: a fleet that has just started (or a
    // quiet site that wakes up) is counted at once rather than a refresh later.
    if (it != instance_keys_.end()) {
        const auto kept = it->second.keys.empty()
                              ? std::min<Clock::duration>(options_.instances_refresh, kEmptyKept)
                              : Clock::duration(options_.instances_refresh);
        if (now - it->second.found < kept)
            return it->second.keys;
    }
    std::vector<std::string> keys = instance_active_keys(context_.get(), site);
    if (it == instance_keys_.end()) {
        if (instance_keys_.size() >= kMaxCachedSites)
            instance_keys_.clear();
        it = instance_keys_.emplace(site, InstanceKeys{}).first;
    }
    it->second = {std::move(keys), now};
    return it->second.keys;
}

}  // namespace tally::query
