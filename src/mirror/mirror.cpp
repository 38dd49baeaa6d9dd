#include "tally/mirror/mirror.hpp"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <vector>

#include "tally/base/time.hpp"
#include "tally/redis/keys.hpp"
#include "tally/redis/pipeline.hpp"

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
    thread_ = std::thread([this] { run(); });
}

void Mirror::stop() {
    {
        std::lock_guard lock(wake_mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable())
        thread_.join();
}

MirrorStatus Mirror::status() const {
    std::lock_guard lock(status_mutex_);
    MirrorStatus status = status_;
    status.lag_seconds = static_cast<double>(now_ms() - caught_up_ms_) / 1000.0;
    return status;
}

void Mirror::run() {
    for (;;) {
        {
            std::unique_lock lock(wake_mutex_);
            if (wake_.wait_for(lock, options_.flush_interval, [this] { return stopping_; }))
                break;
        }
        if (!context_ && std::chrono::steady_clock::now() >= next_connect_)
            connect();
        guarded_flush();
    }
    // The last flush of a clean stop: ship what the store holds now (one connection
    // attempt if Redis is away; the checkpoint makes the next start ship the rest).
    if (!context_)
        connect();
    if (context_ && guarded_flush())
        spdlog::info("redis mirror: final flush done");
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

bool Mirror::flush_site(const std::string& site, SiteMirror& mirror, std::uint64_t& pending) {
    const std::int64_t now = now_ms();

    // 1. Which days changed: the versions, summed over shards (a short walk per shard).
    std::map<std::int64_t, std::uint64_t> versions;
    store_.visit_site(site, [&](const store::SiteShard& part) {
        for (const auto& [day, state] : part.days)
            versions[day] += state.version;
    });
    std::erase_if(mirror.days, [&](const auto& entry) { return !versions.contains(entry.first); });
    if (!context_) {
        // Redis is away: only count what is pending, re-reading a day only when it changed.
        std::vector<std::int64_t> changed;
        for (const auto& [day, version] : versions) {
            const DayMirror& day_mirror = mirror.days[day];
            if (day_mirror.counted_version != version)
                changed.push_back(day);
        }
        for (const auto& [day, image] : images_of(site, changed)) {
            DayMirror& day_mirror = mirror.days[day];
            day_mirror.pending_fields = diff(image, day_mirror.shipped).fields();
            day_mirror.counted_version = versions[day];
        }
        for (const auto& [day, day_mirror] : mirror.days)
            pending += day_mirror.pending_fields;
        return true;
    }
    std::vector<std::int64_t> dirty;
    for (const auto& [day, version] : versions) {
        DayMirror& day_mirror = mirror.days[day];
        if (!day_mirror.loaded || day_mirror.version != version)
            dirty.push_back(day);
    }
    const std::uint64_t active = store_.active_sessions().count(site, now);
    const std::int64_t active_ttl_ms =
        std::max<std::int64_t>(5'000, 4 * options_.flush_interval.count());
    const bool active_due = active != mirror.active_sent ||
                            (active > 0 && now - mirror.active_sent_at_ms >= active_ttl_ms / 2);
    if (dirty.empty() && !active_due)
        return true;

    // 2. The checkpoints of days not read since this connection was made.
    {
        redis::Pipeline pipeline(*context_);
        std::vector<std::int64_t> loading;
        for (std::int64_t day : dirty) {
            if (!mirror.days[day].loaded) {
                loading.push_back(day);
                pipeline.append(
                    {"HGETALL", checkpoint_key(site, options_.instance_id, format_day(day))});
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
            std::vector<std::pair<std::string, std::string>> fields;
            for (std::size_t i = 0; i + 1 < reply->elements; i += 2) {
                const redisReply* f = reply->element[i];
                const redisReply* v = reply->element[i + 1];
                fields.emplace_back(std::string(f->str, f->len), std::string(v->str, v->len));
            }
            std::size_t bad = 0;
            DayMirror& day_mirror = mirror.days[day];
            day_mirror.shipped = parse_checkpoint(fields, &bad);
            day_mirror.loaded = true;
            if (bad > 0)
                spdlog::warn(
                    "redis mirror: {} unreadable field(s) in {}'s checkpoint of {}; "
                    "they are shipped again",
                    bad, site, format_day(day));
        }
    }

    // 3. The changed days as the store holds them now, and what Redis lacks of them.
    const std::map<std::int64_t, DayImage> images = images_of(site, dirty);
    std::map<std::int64_t, DayDelta> deltas;
    std::uint64_t fields = 0;
    for (const auto& [day, image] : images) {
        DayDelta delta = diff(image, mirror.days[day].shipped);
        fields += delta.fields();
        deltas.emplace(day, std::move(delta));
    }
    if (fields == 0 && !active_due) {
        for (std::int64_t day : dirty) {
            mirror.days[day].version = versions[day];
            mirror.days[day].pending_fields = 0;
        }
        return true;
    }

    // 4. One transaction: the increments, the merges, the checkpoints, the TTLs.
    redis::Pipeline redis(*context_);
    const std::string scratch = scratch_key(site, options_.instance_id);
    json message = {{"instance", options_.instance_id},
                    {"site", site},
                    {"time", now},
                    {"real_time_users", active}};
    json& days_message = message["days"] = json::object();
    bool scratch_used = false;
    redis.multi();
    for (const auto& [day, delta] : deltas) {
        if (delta.empty())
            continue;
        const std::string date = format_day(day);
        const DayKeys keys(site, date);
        const DayImage& image = images.at(day);
        const Shipped& shipped = mirror.days[day].shipped;
        const std::string expires = std::to_string(expire_at(day, options_.retention_days));
        std::vector<std::string> written;  // keys that get an EXPIREAT
        json& day_message = days_message[date];

        if (std::int64_t views = delta.page_views(); views != 0 || !delta.minutes.empty()) {
            redis.append({"INCRBY", keys.pageviews, std::to_string(views)});
            written.push_back(keys.pageviews);
            for (const auto& [hour, change] : delta.hours()) {
                std::string key = keys.hour(hour);
                redis.append({"INCRBY", key, std::to_string(change)});
                written.push_back(std::move(key));
            }
            json& minutes_message = day_message["minutes"];
            for (const auto& [minute, change] : delta.minutes) {
                std::string key = keys.minute(minute);
                redis.append({"INCRBY", key, std::to_string(change)});
                minutes_message[key.substr(keys.pageviews.size() + 1)] = change;
                written.push_back(std::move(key));
            }
            day_message["page_views"] = views;
        }
        bool devices_changed = false;
        for (std::size_t d = 0; d < delta.devices.size(); ++d) {
            if (delta.devices[d] == 0)
                continue;
            const char* name = device_name(static_cast<Device>(d));
            redis.append({"HINCRBY", keys.devices, name, std::to_string(delta.devices[d])});
            day_message["devices"][name] = delta.devices[d];
            devices_changed = true;
        }
        if (devices_changed)
            written.push_back(keys.devices);
        for (const auto& [name, change] : delta.events) {
            redis.append({"HINCRBY", keys.events, name, std::to_string(change)});
            day_message["events"][std::string(name)] = change;
        }
        if (!delta.events.empty())
            written.push_back(keys.events);
        auto members = [&](const std::string& key, const char* label, const auto& changes) {
            if (changes.empty())
                return;
            for (const auto& [member, change] : changes)
                redis.append({"ZINCRBY", key, std::to_string(change), member});
            // The message names the largest changes only: a reconnection can ship
            // thousands of members at once, and subscribers want the gist.
            constexpr std::size_t kMaxMembersInMessage = 20;
            auto sorted = changes;
            std::sort(sorted.begin(), sorted.end(),
                      [](const auto& a, const auto& b) { return a.second > b.second; });
            json& list = day_message[label];
            for (std::size_t i = 0; i < sorted.size() && i < kMaxMembersInMessage; ++i)
                list[std::string(sorted[i].first)] = sorted[i].second;
            written.push_back(key);
        };
        members(keys.pages, "pages", delta.pages);
        members(keys.referrers, "referrers", delta.referrers);
        members(keys.countries, "countries", delta.countries);
        auto merge = [&](const std::string& key, const sketch::HyperLogLog& registers) {
            // SET then PFMERGE rather than SET on the key itself: other instances' registers
            // are in it. dense_bytes() writes a valid cached count, which PFMERGE ignores
            // for its sources and invalidates on its destination.
            const std::string bytes = registers.dense_bytes();
            redis.append({"SET", scratch, bytes});
            redis.append({"PFMERGE", key, scratch});
            written.push_back(key);
            scratch_used = true;
        };
        if (delta.visitors)
            merge(keys.visitors, image.visitors);
        if (delta.sessions)
            merge(keys.sessions, image.sessions);
        if (delta.visitors || delta.sessions)
            day_message["uniques_merged"] = true;

        // The checkpoint: the shipped totals of every field this transaction changes.
        const std::string checkpoint = checkpoint_key(site, options_.instance_id, date);
        std::vector<std::string> checkpoint_args{"HSET", checkpoint};
        for_each_checkpoint_field(shipped, delta,
                                  [&](const std::string& field, std::uint64_t value) {
                                      checkpoint_args.push_back(field);
                                      checkpoint_args.push_back(std::to_string(value));
                                  });
        if (checkpoint_args.size() > 2) {
            redis.append(checkpoint_args);
            written.push_back(checkpoint);
        }
        for (const std::string& key : written)
            redis.append({"EXPIREAT", key, expires});
    }
    if (scratch_used)
        redis.append({"DEL", scratch});
    // The site's index of instances, kept for as long as the day keys (a reader finds the
    // active:I keys there), refreshed by every transaction.
    const std::string instances = instances_key(site);
    redis.append({"SADD", instances, options_.instance_id});
    redis.append({"EXPIRE", instances, std::to_string((options_.retention_days + 1) * 86'400)});
    if (active_due) {
        const std::string key = active_key(site, options_.instance_id);
        if (active > 0)
            redis.append({"SET", key, std::to_string(active), "PX", std::to_string(active_ttl_ms)});
        else
            redis.append({"DEL", key});
    }
    if (fields > 0)
        redis.append({"PUBLISH", realtime_channel(site),
                      message.dump(-1, ' ', false, json::error_handler_t::replace)});
    const redis::Transaction transaction = redis.exec();

    // 5. The replies: +OK, +QUEUED..., then EXEC's array.
    for (const std::string& refusal : transaction.refused)
        spdlog::error("redis mirror: {} refused a command: {}", site, refusal);
    if (!transaction.exec) {
        pending += fields;
        disconnect("flushing " + site + ": " + redis.error());
        return false;
    }
    const redisReply* exec = transaction.exec.get();
    if (!transaction.ran()) {
        // EXECABORT: a command was refused while queuing, so nothing ran. Try again next
        // flush; the error above says why.
        pending += fields;
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
    for (auto& [day, delta] : deltas) {
        DayMirror& day_mirror = mirror.days[day];
        record_shipped(day_mirror.shipped, images.at(day), delta);
        day_mirror.version = versions[day];
        day_mirror.counted_version = versions[day];
        day_mirror.pending_fields = 0;
    }
    if (active_due) {
        mirror.active_sent = active;
        mirror.active_sent_at_ms = now;
    }
    std::lock_guard lock(status_mutex_);
    ++status_.flushes;
    status_.commands += transaction.commands;
    return true;
}

}  // namespace tally::mirror
