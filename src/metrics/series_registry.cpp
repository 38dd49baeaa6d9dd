#include "tally/metrics/series_registry.hpp"

#include <mutex>

namespace tally::metrics {

namespace {

std::string name_key(std::string_view workspace, std::string_view name) {
    std::string key;
    key.reserve(workspace.size() + name.size() + 1);
    key.append(workspace);
    key.push_back('\0');
    key.append(name);
    return key;
}

}  // namespace

void SeriesRegistry::series_key(const MetricPoint& point, std::string& out) {
    out.clear();
    out.append(point.workspace);
    out.push_back('\0');
    out.append(point.name);
    for (const MetricTag& tag : point.tags) {
        out.push_back('\0');
        out.append(tag.key);
        out.push_back('\0');
        out.append(tag.value);
    }
}

SeriesRegistry::Found SeriesRegistry::find_or_add(const MetricPoint& point, std::string_view key,
                                                  bool ignore_caps) {
    const MetricKind kind = kind_of(point.type);
    {
        std::shared_lock lock(mutex_);
        if (auto it = by_key_.find(std::string(key)); it != by_key_.end()) {
            const NameId name_id = series_[it->second].name;
            const MetricKind known = kind_of(names_[name_id].type);
            const Admission admission = known == kind ? Admission::ok : Admission::type_conflict;
            return {admission, it->second, known, name_id, &series_[it->second].gauge_last};
        }
    }
    std::unique_lock lock(mutex_);
    if (auto it = by_key_.find(std::string(key)); it != by_key_.end()) {
        const NameId name_id = series_[it->second].name;
        const MetricKind known = kind_of(names_[name_id].type);
        const Admission admission = known == kind ? Admission::ok : Admission::type_conflict;
        return {admission, it->second, known, name_id, &series_[it->second].gauge_last};
    }
    const std::string nkey = name_key(point.workspace, point.name);
    auto name_it = names_by_key_.find(nkey);
    if (name_it != names_by_key_.end()) {
        const NameInfo& name = names_[name_it->second];
        if (kind_of(name.type) != kind)
            return {Admission::type_conflict, 0, kind_of(name.type)};
        if (!ignore_caps && name.series.size() >= limits_.max_series_per_name)
            return {Admission::too_many_series_for_name, 0, kind};
    }
    if (!ignore_caps && series_.size() >= limits_.max_series)
        return {Admission::too_many_series, 0, kind};
    if (name_it == names_by_key_.end()) {
        names_.push_back({point.workspace, point.name, point.type, point.window, {}});
        name_it = names_by_key_.emplace(nkey, static_cast<NameId>(names_.size() - 1)).first;
    }
    const auto id = static_cast<SeriesId>(series_.size());
    Series& series = series_.emplace_back();
    series.name = name_it->second;
    series.tags = point.tags;
    names_[name_it->second].series.push_back(id);
    by_key_.emplace(std::string(key), id);
    return {Admission::ok, id, kind, name_it->second, &series.gauge_last};
}

double SeriesRegistry::update_gauge(SeriesId id, double value, bool delta) {
    std::shared_lock lock(mutex_);
    return update_gauge(series_[id].gauge_last, value, delta);
}

double SeriesRegistry::update_gauge(std::atomic<double>& last, double value, bool delta) {
    if (!delta) {
        last.store(value, std::memory_order_relaxed);
        return value;
    }
    double seen = last.load(std::memory_order_relaxed);
    while (!last.compare_exchange_weak(seen, seen + value, std::memory_order_relaxed)) {
    }
    return seen + value;
}

double SeriesRegistry::gauge_value(SeriesId id) const {
    std::shared_lock lock(mutex_);
    return id < series_.size() ? series_[id].gauge_last.load(std::memory_order_relaxed) : 0.0;
}

std::size_t SeriesRegistry::series_count() const {
    std::shared_lock lock(mutex_);
    return series_.size();
}

std::size_t SeriesRegistry::name_count() const {
    std::shared_lock lock(mutex_);
    return names_.size();
}

std::vector<NameInfo> SeriesRegistry::names(std::string_view workspace) const {
    std::shared_lock lock(mutex_);
    std::vector<NameInfo> out;
    for (const NameInfo& name : names_) {
        if (name.workspace == workspace)
            out.push_back(name);
    }
    return out;
}

std::optional<NameInfo> SeriesRegistry::name(std::string_view workspace,
                                             std::string_view name) const {
    std::shared_lock lock(mutex_);
    const auto it = names_by_key_.find(name_key(workspace, name));
    if (it == names_by_key_.end())
        return std::nullopt;
    return names_[it->second];
}

std::vector<NameInfo> SeriesRegistry::names_by_id(const std::vector<NameId>& ids) const {
    std::shared_lock lock(mutex_);
    std::vector<NameInfo> out;
    out.reserve(ids.size());
    for (NameId id : ids) {
        if (id < names_.size()) {
            const NameInfo& name = names_[id];
            out.push_back({name.workspace, name.name, name.type, name.window, {}});
        }
    }
    return out;
}

std::vector<SeriesInfo> SeriesRegistry::series(const std::vector<SeriesId>& ids) const {
    std::shared_lock lock(mutex_);
    std::vector<SeriesInfo> out;
    out.reserve(ids.size());
    for (SeriesId id : ids) {
        if (id < series_.size())
            out.push_back({series_[id].name, series_[id].tags});
    }
    return out;
}

void SeriesRegistry::copy_all(std::vector<NameInfo>& names, std::vector<SeriesInfo>& series) const {
    std::shared_lock lock(mutex_);
    names = names_;
    series.clear();
    series.reserve(series_.size());
    for (const Series& s : series_)
        series.push_back({s.name, s.tags});
}

}  // namespace tally::metrics
