#include "tally/mirror/mirror.hpp"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "tally/base/time.hpp"
#include "tally/redis/keys.hpp"
#include "tally/redis/pipeline.hpp"
#include "tally/telemetry/metrics.hpp"

namespace tally::mirror {

using json = nlohmann::json;

namespace {

using redis::active_key;
using redis::checkpoint_key;
using redis::DayKeys;
using redis::instances_key;
using redis::realtime_channel;
using redis::Reply;
using redis::scratch_key;

/// The time a day's keys expire: the end of the day plus the retention, in Unix seconds.
std::int64_t expire_at(std::int64_t day, int retention_days) {
    return (day + 1 + retention_days) * 86'400;
}

/// A checkpoint hash as HGETALL returns it. Fields it cannot read are logged, and so
/// shipped again.
Shipped checkpoint_of(const redisReply& reply, const std::string& site, std::int64_t day) {
    std::vector<std::pair<std::string, std::string>> fields;
    for (std::size_t i = 0; i + 1 < reply.elements; i += 2) {
        const redisReply* f = reply.element[i];
        const redisReply* v = reply.element[i + 1];
        fields.emplace_back(std::string(f->str, f->len), std::string(v->str, v->len));
    }
    std::size_t bad = 0;
    Shipped shipped = parse_checkpoint(fields, &bad);
    if (bad > 0)
        spdlog::warn(
            "redis mirror: {} unreadable field(s) in {}'s checkpoint of {}; "
            "they are shipped again",
            bad, site, format_day(day));
    return shipped;
}

/// Queues one day's part of a site's transaction and notes it in the day's part of the
/// PUBLISH message. Every key written gets its EXPIREAT at the end (expire()).
class DayCommands {
  public:
    DayCommands(redis::Pipeline& pipeline, const std::string& site, const std::string& date,
                json& message)
        : pipeline_(pipeline), keys_(site, date), message_(message) {}

    /// The day's page views, its hours' and its minutes'.
    void page_views(const DayDelta& delta) {
        const std::int64_t views = delta.page_views();
        if (views == 0 && delta.minutes.empty())
            return;
        pipeline_.append({"INCRBY", keys_.pageviews, std::to_string(views)});
        written_.push_back(keys_.pageviews);
        for (const auto& [hour, change] : delta.hours()) {
            std::string key = keys_.hour(hour);
            pipeline_.append({"INCRBY", key, std::to_string(change)});
            written_.push_back(std::move(key));
        }
        json& minutes_message = message_["minutes"];
        for (const auto& [minute, change] : delta.minutes) {
            std::string key = keys_.minute(minute);
            pipeline_.append({"INCRBY", key, std::to_string(change)});
            minutes_message[key.substr(keys_.pageviews.size() + 1)] = change;
            written_.push_back(std::move(key));
        }
        message_["page_views"] = views;
    }

    /// Views per device and custom events per name.
    void hashes(const DayDelta& delta) {
        bool devices_changed = false;
        for (std::size_t d = 0; d < delta.devices.size(); ++d) {
            if (delta.devices[d] == 0)
                continue;
            const char* name = device_name(static_cast<Device>(d));
            pipeline_.append({"HINCRBY", keys_.devices, name, std::to_string(delta.devices[d])});
            message_["devices"][name] = delta.devices[d];
            devices_changed = true;
        }
        if (devices_changed)
            written_.push_back(keys_.devices);
        for (const auto& [name, change] : delta.events) {
            pipeline_.append({"HINCRBY", keys_.events, name, std::to_string(change)});
            message_["events"][std::string(name)] = change;
        }
        if (!delta.events.empty())
            written_.push_back(keys_.events);
    }

    /// The three top lists.
    void top_lists(const DayDelta& delta) {
        members(keys_.pages, "pages", delta.pages);
        members(keys_.referrers, "referrers", delta.referrers);
        members(keys_.countries, "countries", delta.countries);
    }

    /// The HyperLogLogs whose registers changed, through `scratch`: SET then PFMERGE rather
    /// than SET on the key itself, since other instances' registers are in it. True when
    /// `scratch` was written.
    bool uniques(const DayDelta& delta, const DayImage& image, const std::string& scratch) {
        if (delta.visitors)
            merge(keys_.visitors, image.visitors, scratch);
        if (delta.sessions)
            merge(keys_.sessions, image.sessions, scratch);
        if (delta.visitors || delta.sessions)
            message_["uniques_merged"] = true;
        return delta.visitors || delta.sessions;
    }

    /// The checkpoint `key`: the shipped totals of every field this transaction changes.
    void checkpoint(const std::string& key, const Shipped& shipped, const DayDelta& delta) {
        std::vector<std::string> args{"HSET", key};
        for_each_checkpoint_field(shipped, delta,
                                  [&](const std::string& field, std::uint64_t value) {
                                      args.push_back(field);
                                      args.push_back(std::to_string(value));
                                  });
        if (args.size() > 2) {
            pipeline_.append(args);
            written_.push_back(key);
        }
    }

    /// EXPIREAT `expires` (Unix seconds) on every key written.
    void expire(const std::string& expires) {
        for (const std::string& key : written_)
            pipeline_.append({"EXPIREAT", key, expires});
    }

  private:
    using Changes = std::vector<std::pair<std::string_view, std::uint64_t>>;

    void members(const std::string& key, const char* label, const Changes& changes) {
        if (changes.empty())
            return;
        for (const auto& [member, change] : changes)
            pipeline_.append({"ZINCRBY", key, std::to_string(change), member});
        // The message names the largest changes only: a reconnection can ship thousands of
        // members at once, and subscribers want the gist.
        constexpr std::size_t kMaxMembersInMessage = 20;
        Changes sorted = changes;
        std::sort(sorted.begin(), sorted.end(),
                  [](const auto& a, const auto& b) { return a.second > b.second; });
        json& list = message_[label];
        for (std::size_t i = 0; i < sorted.size() && i < kMaxMembersInMessage; ++i)
            list[std::string(sorted[i].first)] = sorted[i].second;
        written_.push_back(key);
    }

    void merge(const std::string& key, const sketch::HyperLogLog& registers,
               const std::string& scratch) {
        // dense_bytes() writes a valid cached count, which PFMERGE ignores for its sources
        // and invalidates on its destination.
        const std::string bytes = registers.dense_bytes();
        pipeline_.append({"SET", scratch, bytes});
        pipeline_.append({"PFMERGE", key, scratch});
        written_.push_back(key);
    }

    redis::Pipeline& pipeline_;
    const DayKeys keys_;
    json& message_;
    std::vector<std::string> written_;  // the keys that get an EXPIREAT
};

}  // namespace

Mirror::Mirror(MirrorOptions options, const store::Store& store)
    : options_(std::move(options)),
      store_(store),
      backoff_(options_.min_backoff),
      next_connect_(std::chrono::steady_clock::now()),
      caught_up_ms_(now_ms()) {
    status_.problem = "not connected yet";
}

Mirror::~Mirror() {
    stop();
}

void Mirror::start() {
    started_ = true;
    loop_.start(
        options_.flush_interval, [this] { step(); }, /*first_step_after_interval=*/true);
}

void Mirror::stop() {
    if (!std::exchange(started_, false))
        return;
    loop_.stop();
    // The last flush of a clean stop, on the caller's thread now that the loop's is gone:
    // ship what the store holds now (one connection attempt if Redis is away; the
    // checkpoint makes the next start ship the rest).
    if (!context_)
        connect();
    if (context_ && guarded_flush())
        spdlog::info("redis mirror: final flush done");
}

MirrorStatus Mirror::status() const {
    std::lock_guard lock(status_mutex_);
    MirrorStatus status = status_;
    status.lag_seconds = static_cast<double>(now_ms() - caught_up_ms_) / 1000.0;
    return status;
}

void Mirror::register_metrics(telemetry::Metrics& metrics) const {
    auto status = [this] { return this->status(); };
    metrics.add_callback("tally_redis_up", "1 while the Redis mirror is connected.", "gauge",
                         [status] { return status().up ? 1.0 : 0.0; });
    metrics.add_callback(
        "tally_redis_pending_keys",
        "Redis fields (counters, hash fields, set members, HyperLogLogs) behind the store.",
        "gauge", [status] { return static_cast<double>(status().pending_fields); });
    metrics.add_callback("tally_redis_lag_seconds",
                         "Time since the mirror last had nothing pending.", "gauge",
                         [status] { return status().lag_seconds; });
    metrics.add_callback("tally_redis_flushes_total", "Mirror transactions that succeeded.",
                         "counter", [status] { return static_cast<double>(status().flushes); });
    metrics.add_callback("tally_redis_failures_total",
                         "Mirror flushes lost to Redis errors or disconnections.", "counter",
                         [status] { return static_cast<double>(status().failures); });
    metrics.add_callback("tally_redis_commands_total", "Commands sent to Redis by the mirror.",
                         "counter", [status] { return static_cast<double>(status().commands); });
}

void Mirror::step() {
    if (!context_ && std::chrono::steady_clock::now() >= next_connect_)
        connect();
    guarded_flush();
}

bool Mirror::guarded_flush() {
    try {
        return flush_all();
    } catch (const std::exception& e) {
        // Nothing here should throw but memory running out; the thread must not take the
        // daemon down with it. The checkpoints make the next connection exact.
        disconnect(std::string("flush failed: ") + e.what());
        return false;
    }
}

std::map<std::int64_t, DayImage> Mirror::images_of(const std::string& site,
                                                   const std::vector<std::int64_t>& days) const {
    std::map<std::int64_t, DayImage> images;
    for (std::int64_t day : days)
        images[day];
    store_.visit_site(site, [&](const store::SiteShard& part) {
        for (auto& [day, image] : images) {
            auto state = part.days.find(day);
            if (state != part.days.end())
                image.add(state->second);
        }
    });
    return images;
}

bool Mirror::connect() {
    std::string error;
    context_ =
        redis::open(options_.address, options_.connect_timeout, options_.command_timeout, error);
    if (!context_) {
        const auto now = std::chrono::steady_clock::now();
        next_connect_ = now + backoff_;
        bool first_failure = false;
        {
            std::lock_guard lock(status_mutex_);
            first_failure = status_.up || status_.connects == 0;
            status_.up = false;
            status_.problem = "cannot connect to redis://" + options_.address.host + ":" +
                              std::to_string(options_.address.port) + ": " + error;
        }
        // One line per outage, then one per back-off step at debug.
        if (first_failure && backoff_ == options_.min_backoff)
            spdlog::warn("redis mirror: {}; retrying with back-off up to {} s", error,
                         options_.max_backoff.count() / 1000);
        else
            spdlog::debug("redis mirror: {} (next try in {} ms)", error, backoff_.count());
        backoff_ = std::min(backoff_ * 2, options_.max_backoff);
        return false;
    }
    backoff_ = options_.min_backoff;
    // Whatever was in flight when the last connection went, its fate is in the checkpoints:
    // read them again before shipping anything.
    for (auto& [site, mirror] : sites_) {
        for (auto& [day, day_mirror] : mirror.days)
            day_mirror.loaded = false;
        mirror.active_sent = 0;
    }
    {
        std::lock_guard lock(status_mutex_);
        status_.up = true;
        status_.problem.clear();
        ++status_.connects;
    }
    spdlog::info("redis mirror: connected to {}:{} as instance {}", options_.address.host,
                 options_.address.port, options_.instance_id);
    return true;
}

void Mirror::disconnect(std::string problem) {
    context_.reset();
    for (auto& [site, mirror] : sites_) {
        for (auto& [day, day_mirror] : mirror.days)
            day_mirror.counted_version = kNotCounted;
    }
    next_connect_ = std::chrono::steady_clock::now() + backoff_;
    {
        std::lock_guard lock(status_mutex_);
        status_.up = false;
        status_.problem = problem;
        ++status_.failures;
    }
    spdlog::warn("redis mirror: {}; ingest goes on, Redis catches up on reconnection", problem);
}

bool Mirror::flush_all() {
    const std::int64_t started = now_ms();
    std::uint64_t pending = 0;
    bool connected = context_ != nullptr;
    const std::vector<std::string> sites = store_.sites();
    for (const std::string& site : sites) {
        auto it = sites_.find(site);
        if (it == sites_.end())
            it = sites_.emplace(site, SiteMirror{}).first;
        if (!flush_site(site, it->second, pending))
            connected = false;
    }
    std::lock_guard lock(status_mutex_);
    status_.pending_fields = pending;
    if (connected && pending == 0)
        caught_up_ms_ = started;
    return connected;
}

/// One site's flush as flush_site() assembles it, step by step.
struct Mirror::SiteFlush {
    SiteFlush(const std::string& flushed_site, std::int64_t at) : site(flushed_site), now(at) {}

    const std::string& site;
    const std::int64_t now;
    std::map<std::int64_t, std::uint64_t> versions;  // each day's, summed over shards
    std::vector<std::int64_t> dirty;  // the days to ship: changed, or checkpoint not read
    std::uint64_t active = 0;         // real-time users now
    std::int64_t active_ttl_ms = 0;
    bool active_due = false;                  // active is to be written
    std::map<std::int64_t, DayImage> images;  // the dirty days as the store holds them
    std::map<std::int64_t, DayDelta> deltas;  // what Redis lacks of them (views into images)
    std::uint64_t fields = 0;                 // Redis fields the deltas change
};

bool Mirror::flush_site(const std::string& site, SiteMirror& mirror, std::uint64_t& pending) {
    SiteFlush flush(site, now_ms());

    // 1. Which days changed: the versions, summed over shards (a short walk per shard).
    flush.versions = versions_of(site);
    std::erase_if(mirror.days,
                  [&](const auto& entry) { return !flush.versions.contains(entry.first); });
    if (!context_) {
        // Redis is away: only count what is pending, re-reading a day only when it changed.
        pending += count_pending(flush, mirror);
        return true;
    }
    if (!plan(flush, mirror))
        return true;

    // 2. The checkpoints of days not read since this connection was made.
    if (!load_checkpoints(flush, mirror))
        return false;

    // 3. The changed days as the store holds them now, and what Redis lacks of them.
    diff_days(flush, mirror);
    if (flush.fields == 0 && !flush.active_due) {
        for (std::int64_t day : flush.dirty) {
            mirror.days[day].version = flush.versions[day];
            mirror.days[day].pending_fields = 0;
        }
        return true;
    }

    // 4. One transaction: the increments, the merges, the checkpoints, the TTLs.
    redis::Pipeline pipeline(*context_);
    queue_transaction(pipeline, flush, mirror);

    // 5. The replies: +OK, +QUEUED..., then EXEC's array.
    return take_replies(pipeline, flush, mirror, pending);
}

std::map<std::int64_t, std::uint64_t> Mirror::versions_of(const std::string& site) const {
    std::map<std::int64_t, std::uint64_t> versions;
    store_.visit_site(site, [&](const store::SiteShard& part) {
        for (const auto& [day, state] : part.days)
            versions[day] += state.version;
    });
    return versions;
}

std::uint64_t Mirror::count_pending(SiteFlush& flush, SiteMirror& mirror) const {
    std::vector<std::int64_t> changed;
    for (const auto& [day, version] : flush.versions) {
        const DayMirror& day_mirror = mirror.days[day];
        if (day_mirror.counted_version != version)
            changed.push_back(day);
    }
    for (const auto& [day, image] : images_of(flush.site, changed)) {
        DayMirror& day_mirror = mirror.days[day];
        day_mirror.pending_fields = diff(image, day_mirror.shipped).fields();
        day_mirror.counted_version = flush.versions[day];
    }
    std::uint64_t pending = 0;
    for (const auto& [day, day_mirror] : mirror.days)
        pending += day_mirror.pending_fields;
    return pending;
}

bool Mirror::plan(SiteFlush& flush, SiteMirror& mirror) const {
    for (const auto& [day, version] : flush.versions) {
        DayMirror& day_mirror = mirror.days[day];
        if (!day_mirror.loaded || day_mirror.version != version)
            flush.dirty.push_back(day);
    }
    // The real-time users' key expires a few flushes after its last write, so it is written
    // when the figure changes, and again before it would expire.
    flush.active = store_.active_sessions().count(flush.site, flush.now);
    flush.active_ttl_ms = std::max<std::int64_t>(5'000, 4 * options_.flush_interval.count());
    flush.active_due =
        flush.active != mirror.active_sent ||
        (flush.active > 0 && flush.now - mirror.active_sent_at_ms >= flush.active_ttl_ms / 2);
    return !flush.dirty.empty() || flush.active_due;
}

bool Mirror::load_checkpoints(const SiteFlush& flush, SiteMirror& mirror) {
    redis::Pipeline pipeline(*context_);
    std::vector<std::int64_t> loading;
    for (std::int64_t day : flush.dirty) {
        if (!mirror.days[day].loaded) {
            loading.push_back(day);
            pipeline.append(
                {"HGETALL", checkpoint_key(flush.site, options_.instance_id, format_day(day))});
        }
    }
    for (std::int64_t day : loading) {
        Reply reply = pipeline.read();
        if (!reply) {
            disconnect("reading checkpoints: " + pipeline.error());
            return false;
        }
        if (reply->type != REDIS_REPLY_ARRAY) {
            disconnect("reading checkpoints: unexpected reply");
            return false;
        }
        DayMirror& day_mirror = mirror.days[day];
        day_mirror.shipped = checkpoint_of(*reply, flush.site, day);
        day_mirror.loaded = true;
    }
    return true;
}

void Mirror::diff_days(SiteFlush& flush, SiteMirror& mirror) const {
    flush.images = images_of(flush.site, flush.dirty);
    for (const auto& [day, image] : flush.images) {
        DayDelta delta = diff(image, mirror.days[day].shipped);
        flush.fields += delta.fields();
        flush.deltas.emplace(day, std::move(delta));
    }
}

void Mirror::queue_transaction(redis::Pipeline& pipeline, const SiteFlush& flush,
                               const SiteMirror& mirror) const {
    const std::string& site = flush.site;
    const std::string scratch = scratch_key(site, options_.instance_id);
    json message = {{"instance", options_.instance_id},
                    {"site", site},
                    {"time", flush.now},
                    {"real_time_users", flush.active}};
    json& days_message = message["days"] = json::object();
    bool scratch_used = false;
    pipeline.multi();
    for (const auto& [day, delta] : flush.deltas) {
        if (delta.empty())
            continue;
        const std::string date = format_day(day);
        DayCommands commands(pipeline, site, date, days_message[date]);
        commands.page_views(delta);
        commands.hashes(delta);
        commands.top_lists(delta);
        scratch_used = commands.uniques(delta, flush.images.at(day), scratch) || scratch_used;
        commands.checkpoint(checkpoint_key(site, options_.instance_id, date),
                            mirror.days.at(day).shipped, delta);
        commands.expire(std::to_string(expire_at(day, options_.retention_days)));
    }
    if (scratch_used)
        pipeline.append({"DEL", scratch});
    // The site's index of instances, kept for as long as the day keys (a reader finds the
    // active:I keys there), refreshed by every transaction.
    const std::string instances = instances_key(site);
    pipeline.append({"SADD", instances, options_.instance_id});
    pipeline.append({"EXPIRE", instances, std::to_string((options_.retention_days + 1) * 86'400)});
    if (flush.active_due) {
        const std::string key = active_key(site, options_.instance_id);
        if (flush.active > 0)
            pipeline.append({"SET", key, std::to_string(flush.active), "PX",
                             std::to_string(flush.active_ttl_ms)});
        else
            pipeline.append({"DEL", key});
    }
    if (flush.fields > 0)
        pipeline.append({"PUBLISH", realtime_channel(site),
                         message.dump(-1, ' ', false, json::error_handler_t::replace)});
}

bool Mirror::take_replies(redis::Pipeline& pipeline, const SiteFlush& flush, SiteMirror& mirror,
                          std::uint64_t& pending) {
    const std::string& site = flush.site;
    const redis::Transaction transaction = pipeline.exec();
    for (const std::string& refusal : transaction.refused)
        spdlog::error("redis mirror: {} refused a command: {}", site, refusal);
    if (!transaction.exec) {
        pending += flush.fields;
        disconnect("flushing " + site + ": " + pipeline.error());
        return false;
    }
    const redisReply* exec = transaction.exec.get();
    if (!transaction.ran()) {
        // EXECABORT: a command was refused while queuing, so nothing ran. Try again next
        // flush; the error above says why.
        pending += flush.fields;
        std::lock_guard lock(status_mutex_);
        ++status_.failures;
        status_.commands += transaction.commands;
        status_.problem = "a flush of " + site + " was refused: " +
                          (exec->type == REDIS_REPLY_ERROR ? std::string(exec->str, exec->len)
                                                           : std::string("no reply"));
        return true;
    }
    for (std::size_t i = 0; i < exec->elements; ++i) {
        // A command that failed inside the transaction (say, a user's key of another type
        // under our name) does not undo the others, the checkpoint included.
        if (exec->element[i]->type == REDIS_REPLY_ERROR)
            spdlog::error("redis mirror: a command of {}'s flush failed: {}", site,
                          std::string_view(exec->element[i]->str, exec->element[i]->len));
    }
    for (const auto& [day, delta] : flush.deltas) {
        DayMirror& day_mirror = mirror.days[day];
        record_shipped(day_mirror.shipped, flush.images.at(day), delta);
        day_mirror.version = flush.versions.at(day);
        day_mirror.counted_version = day_mirror.version;
        day_mirror.pending_fields = 0;
    }
    if (flush.active_due) {
        mirror.active_sent = flush.active;
        mirror.active_sent_at_ms = flush.now;
    }
    std::lock_guard lock(status_mutex_);
    ++status_.flushes;
    status_.commands += transaction.commands;
    return true;
}

}  // namespace tally::mirror
