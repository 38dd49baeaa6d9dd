// The Prometheus text exposition of every series (query.hpp: export_prometheus).

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "tally/metrics/query.hpp"

namespace tally::metrics {

namespace {

/// What the export needs of one series, merged over the shards.
struct SeriesFigures {
    double total_count = 0;
    double total_sum = 0;
    double last = 0;
    std::int64_t last_ms = INT64_MIN;
    std::optional<Accumulator> recent;  // distributions and sets: the last minute
};

std::string number(double value) {
    if (std::isnan(value))
        return "NaN";
    if (std::isinf(value))
        return value > 0 ? "+Inf" : "-Inf";
    std::array<char, 32> text{};
    const auto [end, ec] = std::to_chars(text.data(), text.data() + text.size(), value);
    return std::string(text.data(), ec == std::errc() ? end : text.data());
}

/// [a-zA-Z_][a-zA-Z0-9_]*: every other character becomes '_'. Colons are legal in the
/// format but reserved for recording rules (promtool check metrics flags them), so they go
/// too.
std::string metric_name(const std::string& name) {
    std::string out;
    if (!name.empty() && name[0] >= '0' && name[0] <= '9')
        out.push_back('_');
    for (char c : name) {
        const bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        out.push_back(ok ? c : '_');
    }
    return out;
}

/// [a-zA-Z_][a-zA-Z0-9_]*, never starting with the reserved "__".
std::string label_name(const std::string& key) {
    std::string out = key.rfind("__", 0) == 0 ? "tag" : "";
    for (char c : key) {
        const bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        out.push_back(ok ? c : '_');
    }
    return out;
}

void append_escaped(std::string& out, const std::string& value) {
    for (char c : value) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out.push_back(c);
    }
}

/// `{k="v",...}` with an extra label (quantile) when given. Label names are unique, as
/// Prometheus requires (a duplicate fails the whole scrape): a tag whose label name is taken
/// (by `workspace`, by `quantile` in a summary, or by an earlier tag that sanitises to the
/// same name, e.g. `a.b` and `a_b`) gets a `tag_` prefix until it is free. `summary` is the
/// same for every line of a series, so its label names are too.
std::string labels(const std::string& workspace, const std::string* tally_name,
                   const std::vector<MetricTag>& tags, bool summary,
                   const char* extra_name = nullptr, const std::string& extra_value = {}) {
    std::string out;
    std::vector<std::string> used;
    if (!workspace.empty())
        used.emplace_back("workspace");
    if (tally_name != nullptr)
        used.emplace_back("tally_name");
    if (summary)
        used.emplace_back("quantile");
    auto add = [&](const std::string& name, const std::string& value) {
        out += out.empty() ? "{" : ",";
        out += name;
        out += "=\"";
        append_escaped(out, value);
        out += '"';
    };
    if (!workspace.empty())
        add("workspace", workspace);
    if (tally_name != nullptr)
        add("tally_name", *tally_name);
    for (const MetricTag& tag : tags) {
        std::string name = label_name(tag.key);
        while (std::find(used.begin(), used.end(), name) != used.end())
            name.insert(0, "tag_");
        add(name, tag.value);
        used.push_back(std::move(name));
    }
    if (extra_name != nullptr)
        add(extra_name, extra_value);
    if (!out.empty())
        out += '}';
    return out;
}

std::vector<SeriesFigures> gather(const Engine& engine, const std::vector<NameInfo>& names,
                                  const std::vector<SeriesInfo>& series, std::int64_t now_ms) {
    std::vector<SeriesFigures> figures(series.size());
    const std::int64_t width = kTierWidthMs[0];
    const std::int64_t last = now_ms / width + 1;
    const std::int64_t first = last - 60'000 / width;
    for (std::size_t s = 0; s < engine.shard_count(); ++s) {
        const Shard& shard = engine.shard(s);
        std::lock_guard lock(shard.mutex);
        for (std::size_t id = 0; id < shard.series.size() && id < series.size(); ++id) {
            const SeriesState* state = shard.series[id].get();
            if (state == nullptr)
                continue;
            SeriesFigures& out = figures[id];
            out.total_count += state->total_count;
            out.total_sum += state->total_sum;
            if (state->last_ms >= out.last_ms) {
                out.last = state->last;
                out.last_ms = state->last_ms;
            }
            const MetricKind kind = kind_of(names[series[id].name].type);
            if (kind != MetricKind::distribution && kind != MetricKind::set)
                continue;
            if (!out.recent)
                out.recent.emplace(kind);
            std::visit(
                [&](const auto& tiers) {
                    tiers.tier[0].visit(first, last, [&](std::int64_t, const auto& bucket) {
                        out.recent->add(bucket);
                    });
                },
                state->tiers);
        }
    }
    return figures;
}

/// One exposition family: its name, its Prometheus type and the Tally names it holds.
struct Family {
    std::string name;
    MetricKind kind = MetricKind::gauge;
    std::vector<NameId> members;
    bool many_names = false;  // members with different Tally names: a tally_name label tells
                              // their series apart
};

std::string family_name(const NameInfo& name) {
    std::string family = metric_name(name.name);
    if (kind_of(name.type) == MetricKind::counter)
        family += "_total";
    return family;
}

/// Different Tally names can sanitise to one Prometheus name ("api.calls", "api_calls"; the
/// same name in two workspaces), and a gauge "x.count" can meet the "x_count" line of a
/// distribution "x". The exposition must declare each family once and never repeat a sample
/// name in two families, or Prometheus refuses the scrape (or silently keeps one sample).
/// So names of one kind that meet share a family, their series told apart by a tally_name
/// label; a name that meets a family of another kind, or a summary's _sum/_count line, is
/// numbered: "<name>_2" (a counter "<name>_2_total"), then _3 and on until one is free; its
/// HELP line names the Tally metric. (Not "<name>_gauge": promtool flags a type's name
/// inside a metric's name.) The order
/// of the names decides who keeps the plain name, and it is the sorted order, so the
/// exposition is stable between scrapes.
std::vector<Family> plan_families(const std::vector<NameInfo>& names) {
    std::vector<NameId> order(names.size());
    for (std::size_t i = 0; i < order.size(); ++i)
        order[i] = static_cast<NameId>(i);
    std::vector<std::string> bases(names.size());
    for (std::size_t i = 0; i < names.size(); ++i)
        bases[i] = family_name(names[i]);
    std::sort(order.begin(), order.end(), [&](NameId a, NameId b) {
        return std::tie(bases[a], names[a].name, names[a].workspace) <
               std::tie(bases[b], names[b].name, names[b].workspace);
    });
    std::vector<Family> families;
    // (base name, kind) -> its family: names that meet join the family their first took,
    // renamed or not.
    std::map<std::pair<std::string, MetricKind>, std::size_t> joined;
    std::set<std::string, std::less<>> taken;  // every sample name a family writes
    auto claim = [&](const std::string& family, MetricKind kind) {
        if (taken.contains(family))
            return false;
        if (kind == MetricKind::distribution &&
            (taken.contains(family + "_sum") || taken.contains(family + "_count")))
            return false;
        taken.insert(family);
        if (kind == MetricKind::distribution) {
            taken.insert(family + "_sum");
            taken.insert(family + "_count");
        }
        return true;
    };
    for (NameId id : order) {
        const MetricKind kind = kind_of(names[id].type);
        const std::string& base = bases[id];
        if (auto it = joined.find({base, kind}); it != joined.end()) {
            Family& family = families[it->second];
            family.many_names |= names[family.members.front()].name != names[id].name;
            family.members.push_back(id);
            continue;
        }
        std::string name = base;
        for (int n = 2; !claim(name, kind); ++n) {
            name = metric_name(names[id].name) + "_" + std::to_string(n);
            if (kind == MetricKind::counter)
                name += "_total";
        }
        joined.emplace(std::pair{base, kind}, families.size());
        families.push_back(Family{name, kind, {id}, false});
    }
    return families;
}

void render_series(std::string& out, const Family& family, const NameInfo& name,
                   const SeriesInfo& series, const SeriesFigures& figures) {
    using Op = Aggregation::Op;
    const std::string* tally_name = family.many_names ? &name.name : nullptr;
    auto series_labels = [&](bool summary, const char* extra_name = nullptr,
                             const std::string& extra_value = {}) {
        return labels(name.workspace, tally_name, series.tags, summary, extra_name, extra_value);
    };
    const std::string& f = family.name;
    if (family.kind == MetricKind::counter) {
        out += f + series_labels(false) + " " + number(figures.total_sum) + "\n";
    } else if (family.kind == MetricKind::gauge) {
        out += f + series_labels(false) + " " + number(figures.last) + "\n";
    } else if (family.kind == MetricKind::set) {
        const auto unique = figures.recent ? figures.recent->value({Op::unique, 0}, 60) : 0.0;
        out += f + series_labels(false) + " " + number(unique.value_or(0)) + "\n";
    } else {
        for (const char* q : {"0.5", "0.9", "0.95", "0.99"}) {
            std::optional<double> value;
            if (figures.recent)
                value = figures.recent->value({Op::percentile, std::stod(q)}, 60);
            out += f + series_labels(true, "quantile", q) + " " +
                   number(value.value_or(std::nan(""))) + "\n";
        }
        out += f + "_sum" + series_labels(true) + " " + number(figures.total_sum) + "\n";
        out += f + "_count" + series_labels(true) + " " + number(figures.total_count) + "\n";
    }
}

}  // namespace

std::string export_prometheus(const Engine& engine, std::int64_t now_ms,
                              const std::string* workspace) {
    std::vector<NameInfo> names;
    std::vector<SeriesInfo> series;
    engine.registry().copy_all(names, series);
    const std::vector<SeriesFigures> figures = gather(engine, names, series, now_ms);
    std::string out;
    static constexpr std::array<const char*, 4> kTypes = {"counter", "gauge", "summary", "gauge"};
    for (Family& family : plan_families(names)) {
        if (workspace != nullptr) {
            std::erase_if(family.members,
                          [&](NameId id) { return names[id].workspace != *workspace; });
            if (family.members.empty())
                continue;
        }
        const NameInfo& first = names[family.members.front()];
        out += "# HELP " + family.name + " Tally metric " + first.name;
        if (family.many_names)
            out += " and others (see the tally_name label)";
        out += " (" + std::string(metric_type_name(first.type)) + ").\n";
        out += "# TYPE " + family.name + " " + kTypes[static_cast<std::size_t>(family.kind)] + "\n";
        for (NameId member : family.members) {
            for (SeriesId id : names[member].series)
                render_series(out, family, names[member], series[id], figures[id]);
        }
    }
    return out;
}

}  // namespace tally::metrics
