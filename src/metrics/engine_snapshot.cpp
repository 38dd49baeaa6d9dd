#include "tally/metrics/engine_snapshot.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "tally/durability/crc32c.hpp"
#include "tally/durability/files.hpp"
#include "tally/metrics/derive.hpp"

namespace tally::metrics {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kMagic = "TALLYMET";
constexpr std::uint32_t kVersion = 1;

class Writer {
  public:
    std::string bytes;
    void u8(std::uint8_t v) { bytes.push_back(static_cast<char>(v)); }
    // Little-endian, one append per number: a snapshot is millions of them, written while
    // a shard's lock is held, and a capacity check per byte doubled the time.
    void u32(std::uint32_t v) { little_endian<4>(v); }
    void u64(std::uint64_t v) { little_endian<8>(v); }
    void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v)); }
    void f64(double v) {
        std::uint64_t bits = 0;
        std::memcpy(&bits, &v, sizeof bits);
        u64(bits);
    }
    void str(std::string_view s) {
        u32(static_cast<std::uint32_t>(s.size()));
        bytes.append(s);
    }

  private:
    template <int Width>
    void little_endian(std::uint64_t v) {
        char b[Width];
        for (int i = 0; i < Width; ++i)
            b[i] = static_cast<char>(v >> (8 * i));
        bytes.append(b, Width);
    }
};

/// Bounds-checked reads; the first failure sticks and every later read returns zero.
class Reader {
  public:
    explicit Reader(std::string_view bytes) : bytes_(bytes) {}
    bool ok() const { return ok_; }
    bool done() const { return pos_ == bytes_.size(); }
    std::uint64_t uint(int width) {
        if (!ok_ || bytes_.size() - pos_ < static_cast<std::size_t>(width)) {
            ok_ = false;
            return 0;
        }
        std::uint64_t v = 0;
        for (int i = width - 1; i >= 0; --i)
            v = (v << 8) | static_cast<unsigned char>(bytes_[pos_ + static_cast<std::size_t>(i)]);
        pos_ += static_cast<std::size_t>(width);
        return v;
    }
    std::uint8_t u8() { return static_cast<std::uint8_t>(uint(1)); }
    std::uint32_t u32() { return static_cast<std::uint32_t>(uint(4)); }
    std::uint64_t u64() { return uint(8); }
    std::int64_t i64() { return static_cast<std::int64_t>(uint(8)); }
    double f64() {
        const std::uint64_t bits = uint(8);
        double v = 0;
        std::memcpy(&v, &bits, sizeof v);
        return v;
    }
    std::string_view str() {
        const std::uint32_t length = u32();
        if (!ok_ || bytes_.size() - pos_ < length) {
            ok_ = false;
            return {};
        }
        const std::string_view out = bytes_.substr(pos_, length);
        pos_ += length;
        return out;
    }
    /// A count of items each at least `min_bytes` long: more than the bytes left is damage.
    std::uint32_t count(std::size_t min_bytes) {
        const std::uint32_t n = u32();
        if (ok_ && static_cast<std::uint64_t>(n) * min_bytes > bytes_.size() - pos_)
            ok_ = false;
        return ok_ ? n : 0;
    }
    void fail() { ok_ = false; }

  private:
    std::string_view bytes_;
    std::size_t pos_ = 0;
    bool ok_ = true;
};

void put_bucket(Writer& out, const CounterBucket& b) {
    out.f64(b.sum);
    out.f64(b.count);
}
void put_bucket(Writer& out, const GaugeBucket& b) {
    for (double v : {b.count, b.sum, b.min, b.max, b.last})
        out.f64(v);
    out.i64(b.last_ms);
}
void put_bucket(Writer& out, const DistributionBucket& b) {
    std::string encoded;
    b.sketch.encode(encoded);
    out.str(encoded);
}
void put_bucket(Writer& out, const SetBucket& b) {
    out.f64(b.points);
    std::string encoded;
    b.set.encode(encoded);
    out.str(encoded);
}

bool get_bucket(Reader& in, CounterBucket& b) {
    b.sum = in.f64();
    b.count = in.f64();
    return in.ok();
}
bool get_bucket(Reader& in, GaugeBucket& b) {
    for (double* v : {&b.count, &b.sum, &b.min, &b.max, &b.last})
        *v = in.f64();
    b.last_ms = in.i64();
    return in.ok();
}
bool get_bucket(Reader& in, DistributionBucket& b) {
    auto sketch = sketch::DDSketch::decode(in.str());
    // Every bucket of the engine has the default configuration; a sketch of another one
    // cannot be merged into it, so a file that holds one is refused as corrupt.
    if (!in.ok() || !sketch ||
        sketch->relative_accuracy() != sketch::DDSketch::kDefaultRelativeAccuracy ||
        sketch->max_bins() != sketch::DDSketch::kDefaultMaxBins)
        return false;
    b.sketch = std::move(*sketch);
    return true;
}
bool get_bucket(Reader& in, SetBucket& b) {
    b.points = in.f64();
    auto set = sketch::DistinctSet::decode(in.str());
    if (!in.ok() || !set)
        return false;
    b.set = std::move(*set);
    return true;
}

void put_state(Writer& out, SeriesId id, const SeriesState& state) {
    out.u32(id);
    out.u8(static_cast<std::uint8_t>(state.kind()));
    out.f64(state.total_count);
    out.f64(state.total_sum);
    out.f64(state.last);
    out.i64(state.last_ms);
    std::visit(
        [&](const auto& tiers) {
            for (const auto& tier : tiers.tier) {
                out.u32(static_cast<std::uint32_t>(tier.entries().size()));
                for (const auto& [number, bucket] : tier.entries()) {
                    out.i64(number);
                    put_bucket(out, bucket);
                }
            }
        },
        state.tiers);
}

/// Reads one series state and merges it into `shard`.
bool merge_state(Reader& in, Shard& shard, const Engine& engine) {
    const SeriesId id = in.u32();
    const std::uint8_t kind = in.u8();
    if (!in.ok() || kind > static_cast<std::uint8_t>(MetricKind::set) ||
        id >= engine.registry().series_count()) {
        return false;
    }
    // The state's kind must be its name's: queries read it as that kind.
    const auto info = engine.registry().series({id});
    const auto name = engine.registry().names_by_id({info.at(0).name});
    if (name.empty() || kind_of(name[0].type) != static_cast<MetricKind>(kind))
        return false;
    if (shard.series.size() <= id)
        shard.series.resize(id + 1);
    auto& state = shard.series[id];
    if (!state)
        state = std::make_unique<SeriesState>(static_cast<MetricKind>(kind));
    if (state->kind() != static_cast<MetricKind>(kind))
        return false;
    state->total_count += in.f64();
    state->total_sum += in.f64();
    const double last = in.f64();
    const std::int64_t last_ms = in.i64();
    if (last_ms >= state->last_ms) {
        state->last = last;
        state->last_ms = last_ms;
    }
    bool ok = in.ok();
    std::visit(
        [&](auto& tiers) {
            for (std::size_t t = 0; t < kTierCount; ++t) {
                auto& tier = tiers.tier[t];
                const std::uint32_t n = in.count(9);
                for (std::uint32_t i = 0; i < n && ok; ++i) {
                    const std::int64_t number = in.i64();
                    typename std::remove_reference_t<decltype(tier)>::Entry::second_type bucket;
                    ok = get_bucket(in, bucket);
                    if (ok)
                        tier.at(number, engine.span_buckets(t)).merge(bucket);
                }
            }
        },
        state->tiers);
    return ok && in.ok();
}

void put_registry(Writer& out, const Engine& engine) {
    std::vector<NameInfo> names;
    std::vector<SeriesInfo> series;
    engine.registry().copy_all(names, series);
    out.u32(static_cast<std::uint32_t>(names.size()));
    for (const NameInfo& name : names) {
        out.str(name.workspace);
        out.str(name.name);
        out.u8(static_cast<std::uint8_t>(name.type));
        out.u8(static_cast<std::uint8_t>(name.window));
    }
    out.u32(static_cast<std::uint32_t>(series.size()));
    for (std::size_t id = 0; id < series.size(); ++id) {
        out.u32(series[id].name);
        out.u8(static_cast<std::uint8_t>(series[id].tags.size()));
        for (const MetricTag& tag : series[id].tags) {
            out.str(tag.key);
            out.str(tag.value);
        }
        out.f64(engine.registry().gauge_value(static_cast<SeriesId>(id)));
    }
}

bool get_registry(Reader& in, Engine& into) {
    std::vector<MetricPoint> names(in.count(10));
    for (MetricPoint& name : names) {
        name.workspace = in.str();
        name.name = in.str();
        const std::uint8_t type = in.u8();
        const std::uint8_t window = in.u8();
        if (!in.ok() || type >= kMetricTypeCount || window > 5)
            return false;
        name.type = static_cast<MetricType>(type);
        name.window = static_cast<MetricWindow>(window);
    }
    const std::uint32_t series = in.count(13);
    std::string key;
    for (std::uint32_t id = 0; id < series; ++id) {
        const std::uint32_t name = in.u32();
        const std::uint8_t tags = in.u8();
        if (!in.ok() || name >= names.size() || tags > kMaxMetricTags)
            return false;
        MetricPoint point = names[name];
        for (std::uint8_t t = 0; t < tags; ++t) {
            MetricTag tag{std::string(in.str()), std::string(in.str())};
            point.tags.push_back(std::move(tag));
        }
        const double gauge_last = in.f64();
        if (!in.ok())
            return false;
        SeriesRegistry::series_key(point, key);
        const auto found = into.registry_mutable().find_or_add(point, key, true);
        if (found.admission != SeriesRegistry::Admission::ok || found.id != id)
            return false;
        into.registry_mutable().update_gauge(found.id, gauge_last, false);
        for (std::size_t s = 0; s < into.shard_count(); ++s)
            into.note_series_name(s, found.id, found.name);
    }
    return in.ok();
}

struct ShardSize {
    std::uint32_t held = 0;  // series with a state
    std::size_t estimated_bytes = 0;
};

// What a shard's encoding will take, roughly, so that the buffer is made once rather than
// regrown (and copied) a dozen times while the shard's lock is held: 49 bytes a series and
// about 64 a bucket (a sketch's bins make some longer; then the buffer grows, rarely).
ShardSize shard_size(const Shard& shard) {
    ShardSize size;
    for (const auto& state : shard.series) {
        if (!state)
            continue;
        ++size.held;
        size.estimated_bytes += 49;
        std::visit(
            [&](const auto& tiers) {
                for (const auto& tier : tiers.tier)
                    size.estimated_bytes += 64 * tier.entries().size();
            },
            state->tiers);
    }
    return size;
}

}  // namespace

std::string encode_engine(const Engine& engine, std::int64_t created_ms,
                          const std::vector<store::LogPosition>& extra_positions) {
    Writer shards;
    shards.u32(static_cast<std::uint32_t>(engine.shard_count()));
    for (std::size_t s = 0; s < engine.shard_count(); ++s) {
        const Shard& shard = engine.shard(s);
        std::lock_guard lock(shard.mutex);
        shards.u64(shard.position.segment);
        shards.u64(shard.position.offset);
        const ShardSize size = shard_size(shard);
        shards.bytes.reserve(shards.bytes.size() + size.estimated_bytes);
        shards.u32(size.held);
        for (std::size_t id = 0; id < shard.series.size(); ++id) {
            if (shard.series[id])
                put_state(shards, static_cast<SeriesId>(id), *shard.series[id]);
        }
    }
    Writer out;
    out.bytes.append(kMagic);
    out.u32(kVersion);
    out.i64(created_ms);
    put_registry(out, engine);  // after the shards: it holds every series they hold
    out.bytes.reserve(out.bytes.size() + shards.bytes.size() + 8 + 16 * extra_positions.size());
    out.bytes.append(shards.bytes);
    out.u32(static_cast<std::uint32_t>(extra_positions.size()));
    for (const store::LogPosition& position : extra_positions) {
        out.u64(position.segment);
        out.u64(position.offset);
    }
    out.u32(durability::crc32c(out.bytes));
    return std::move(out.bytes);
}

std::optional<std::vector<store::LogPosition>> decode_engine(std::string_view bytes, Engine& into,
                                                             std::string& error) {
    if (bytes.size() < kMagic.size() + 16 || !bytes.starts_with(kMagic)) {
        error = "not a metrics snapshot";
        return std::nullopt;
    }
    Reader trailer(bytes.substr(bytes.size() - 4));
    if (durability::crc32c(bytes.substr(0, bytes.size() - 4)) != trailer.u32()) {
        error = "checksum mismatch";
        return std::nullopt;
    }
    Reader in(bytes.substr(kMagic.size(), bytes.size() - kMagic.size() - 4));
    if (in.u32() != kVersion) {
        error = "unknown version";
        return std::nullopt;
    }
    (void)in.i64();  // created_ms: for people reading the file
    std::vector<store::LogPosition> positions;
    bool ok = get_registry(in, into);
    const std::uint32_t shards = ok ? in.count(20) : 0;
    for (std::uint32_t s = 0; s < shards && ok; ++s) {
        store::LogPosition position{in.u64(), in.u64()};
        positions.push_back(position);
        Shard& shard = into.shard(s % into.shard_count());
        shard.position = std::max(shard.position, position);
        const std::uint32_t n = in.count(45);
        for (std::uint32_t i = 0; i < n && ok; ++i)
            ok = merge_state(in, shard, into);
    }
    const std::uint32_t extra = ok ? in.count(16) : 0;
    for (std::uint32_t i = 0; i < extra; ++i)
        positions.push_back({in.u64(), in.u64()});
    if (!ok || !in.ok() || !in.done()) {
        error = "malformed contents";
        return std::nullopt;
    }
    return positions;
}

namespace {

constexpr std::string_view kFilePrefix = "metrics-";
constexpr std::string_view kFileSuffix = ".snap";

bool is_engine_snapshot(const std::string& name) {
    return name.size() > kFilePrefix.size() + kFileSuffix.size() && name.starts_with(kFilePrefix) &&
           name.ends_with(kFileSuffix);
}

}  // namespace

std::vector<fs::path> list_engine_snapshots(const fs::path& dir) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        if (is_engine_snapshot(it->path().filename().string()))
            out.push_back(it->path());
    }
    // The names sort by creation (a fixed-width time, then a sequence): newest first.
    std::sort(out.begin(), out.end(), std::greater<>());
    return out;
}

std::vector<store::LogPosition> EngineState::load(const fs::path& dir) {
    for (const fs::path& path : list_engine_snapshots(dir)) {
        std::string bytes;
        std::string error;
        // Checked in a scratch engine first: a damaged file must leave nothing behind.
        Engine scratch(engine_.options());
        if (durability::read_file(path, bytes, error) && decode_engine(bytes, scratch, error)) {
            auto positions = decode_engine(bytes, engine_, error);
            kept_positions_[path] = *positions;
            spdlog::info("metrics: loaded {} ({} series)", path.filename().string(),
                         engine_.registry().series_count());
            return *positions;
        }
        fs::path aside = path;
        aside += ".damaged";
        std::error_code ec;
        fs::rename(path, aside, ec);
        spdlog::error("metrics snapshot {} is damaged ({}); moved to {}, trying an older one",
                      path.string(), error, aside.filename().string());
    }
    return {};
}

void EngineState::replay(std::size_t writer, const Event& event, std::int64_t now_ms) {
    std::vector<MetricPoint> points;
    derivations_.points_of(event, points);
    for (MetricPoint& point : points)
        engine_.record_unlogged(writer, point, now_ms);
}

void EngineState::replay(std::size_t writer, MetricPoint& point, std::int64_t now_ms) {
    engine_.apply_replayed(writer, point, now_ms);
}

void EngineState::recovered(const std::vector<store::LogPosition>& ends) {
    for (std::size_t w = 0; w < ends.size(); ++w) {
        if (w < engine_.shard_count()) {
            Shard& shard = engine_.shard(w);
            std::lock_guard lock(shard.mutex);
            shard.position = ends[w];
        } else {
            extra_positions_.push_back(ends[w]);
        }
    }
    // The registry's gauge values (what a StatsD "+N" changes) were set in replay order,
    // one writer's log after another (or in parallel), so a gauge fed by several writers
    // ended on whichever was replayed last. Make each the latest value by timestamp, the
    // value /current answers, so the next change applies to it.
    std::vector<std::pair<std::int64_t, double>> latest;  // by SeriesId: (last_ms, last)
    for (std::size_t s = 0; s < engine_.shard_count(); ++s) {
        const Shard& shard = engine_.shard(s);
        std::lock_guard lock(shard.mutex);
        if (latest.size() < shard.series.size())
            latest.resize(shard.series.size(), {INT64_MIN, 0.0});
        for (std::size_t id = 0; id < shard.series.size(); ++id) {
            const SeriesState* state = shard.series[id].get();
            if (state != nullptr && state->kind() == MetricKind::gauge &&
                state->last_ms != INT64_MIN && state->last_ms >= latest[id].first) {
                latest[id] = {state->last_ms, state->last};
            }
        }
    }
    for (std::size_t id = 0; id < latest.size(); ++id) {
        if (latest[id].first != INT64_MIN)
            engine_.registry_mutable().update_gauge(static_cast<SeriesId>(id), latest[id].second,
                                                    false);
    }
}

bool EngineState::save(const fs::path& dir, std::size_t kept, std::int64_t now_ms) {
    try {
        std::vector<store::LogPosition> positions;
        for (std::size_t s = 0; s < engine_.shard_count(); ++s) {
            std::lock_guard lock(engine_.shard(s).mutex);
            positions.push_back(engine_.shard(s).position);
        }
        positions.insert(positions.end(), extra_positions_.begin(), extra_positions_.end());
        // Read before encoding: the positions encode_engine() saves (each under the lock
        // its shard's state is copied under) can only be later, so retention, which
        // trusts these, keeps at least the log recovery will need.
        const std::string bytes = encode_engine(engine_, now_ms, extra_positions_);
        char name[80];
        std::snprintf(name, sizeof name, "metrics-%015lld-%08llu.snap",
                      static_cast<long long>(now_ms), static_cast<unsigned long long>(++sequence_));
        const fs::path path = dir / name;
        fs::create_directories(dir);
        fs::path tmp = path;
        tmp += ".tmp";
        durability::write_file_synced(tmp, bytes);
        fs::rename(tmp, path);
        durability::sync_directory(dir);
        kept_positions_[path] = positions;
        const std::vector<fs::path> all = list_engine_snapshots(dir);
        for (std::size_t i = std::max<std::size_t>(kept, 1); i < all.size(); ++i) {
            std::error_code ec;
            fs::remove(all[i], ec);
            kept_positions_.erase(all[i]);
        }
        return true;
    } catch (const std::exception& e) {
        spdlog::error("metrics snapshot failed: {}", e.what());
        return false;
    }
}

std::vector<store::LogPosition> EngineState::needed_from(const fs::path& dir) {
    std::vector<store::LogPosition> needed;
    bool first = true;
    for (const fs::path& path : list_engine_snapshots(dir)) {
        const auto it = kept_positions_.find(path);
        if (it == kept_positions_.end())
            return {};  // a snapshot this run did not write or load: keep every segment
        if (first) {
            needed = it->second;
            first = false;
            continue;
        }
        needed.resize(std::min(needed.size(), it->second.size()));
        for (std::size_t w = 0; w < needed.size(); ++w)
            needed[w] = std::min(needed[w], it->second[w]);
    }
    return needed;
}

}  // namespace tally::metrics
