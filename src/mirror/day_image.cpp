#include "tally/mirror/day_image.hpp"

#include <charconv>

namespace tally::mirror {

namespace {

void add_members(Counts& into, const sketch::SpaceSaving& list) {
    list.for_each([&](std::string_view member, std::uint64_t count, std::uint64_t) {
        auto it = into.find(member);
        if (it == into.end())
            into.emplace(std::string(member), count);
        else
            it->second += count;
    });
}

std::uint64_t value_in(const Counts& counts, std::string_view key) {
    auto it = counts.find(key);
    return it == counts.end() ? 0 : it->second;
}

/// Counters: every difference, either sign (see the essay).
void diff_counts(const Counts& now, const Counts& shipped,
                 std::vector<std::pair<std::string_view, std::int64_t>>& out) {
    for (const auto& [name, value] : now) {
        const std::uint64_t before = value_in(shipped, name);
        if (value != before)
            out.emplace_back(name, static_cast<std::int64_t>(value - before));
    }
}

/// Top lists: only growth (see the essay).
void diff_members(const Counts& now, const Counts& shipped,
                  std::vector<std::pair<std::string_view, std::uint64_t>>& out) {
    for (const auto& [member, value] : now) {
        const std::uint64_t before = value_in(shipped, member);
        if (value > before)
            out.emplace_back(member, value - before);
    }
}

template <typename Delta>
void apply_to(Counts& shipped, const std::vector<std::pair<std::string_view, Delta>>& changes) {
    for (const auto& [name, change] : changes) {
        auto it = shipped.find(name);
        if (it == shipped.end())
            shipped.emplace(std::string(name), static_cast<std::uint64_t>(change));
        else
            it->second += static_cast<std::uint64_t>(change);
    }
}

template <typename Delta>
void fields_of(const Counts& shipped, const char* prefix,
               const std::vector<std::pair<std::string_view, Delta>>& changes,
               const std::function<void(const std::string&, std::uint64_t)>& fn) {
    std::string field;
    for (const auto& [name, change] : changes) {
        field.assign(prefix);
        field.append(name);
        fn(field, value_in(shipped, name) + static_cast<std::uint64_t>(change));
    }
}

bool parse_u64(std::string_view text, std::uint64_t& out) {
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, out);
    return ec == std::errc() && ptr == end && !text.empty();
}

}  // namespace

void DayImage::add(const store::DayState& part) {
    for (std::size_t m = 0; m < minutes.size(); ++m)
        minutes[m] += part.pageviews_per_minute[m];
    for (std::size_t d = 0; d < devices.size(); ++d)
        devices[d] += part.devices[d];
    for (const auto& [name, series] : part.events)
        events[name] += series.total;
    add_members(pages, part.pages);
    add_members(referrers, part.referrers);
    add_members(countries, part.countries);
    visitors.merge(part.visitors);
    sessions.merge(part.sessions);
}

bool DayDelta::empty() const {
    return fields() == 0;
}

std::size_t DayDelta::fields() const {
    std::size_t n = minutes.size() + events.size() + pages.size() + referrers.size() +
                    countries.size() + (visitors ? 1 : 0) + (sessions ? 1 : 0);
    for (std::int64_t change : devices)
        n += change != 0 ? 1 : 0;
    return n;
}

std::int64_t DayDelta::page_views() const {
    std::int64_t sum = 0;
    for (const auto& [minute, change] : minutes)
        sum += change;
    return sum;
}

std::vector<std::pair<int, std::int64_t>> DayDelta::hours() const {
    std::array<std::int64_t, 24> per_hour{};
    std::array<bool, 24> touched{};
    for (const auto& [minute, change] : minutes) {
        per_hour[static_cast<std::size_t>(minute / 60)] += change;
        touched[static_cast<std::size_t>(minute / 60)] = true;
    }
    std::vector<std::pair<int, std::int64_t>> result;
    for (int h = 0; h < 24; ++h) {
        // A minute of +3 and another of -3 in one hour leave the hour's counter alone.
        if (touched[static_cast<std::size_t>(h)] && per_hour[static_cast<std::size_t>(h)] != 0)
            result.emplace_back(h, per_hour[static_cast<std::size_t>(h)]);
    }
    return result;
}

DayDelta diff(const DayImage& image, const Shipped& shipped) {
    DayDelta delta;
    for (std::size_t m = 0; m < image.minutes.size(); ++m) {
        if (image.minutes[m] != shipped.minutes[m])
            delta.minutes.emplace_back(
                static_cast<int>(m),
                static_cast<std::int64_t>(image.minutes[m] - shipped.minutes[m]));
    }
    for (std::size_t d = 0; d < image.devices.size(); ++d)
        delta.devices[d] = static_cast<std::int64_t>(image.devices[d] - shipped.devices[d]);
    diff_counts(image.events, shipped.events, delta.events);
    diff_members(image.pages, shipped.pages, delta.pages);
    diff_members(image.referrers, shipped.referrers, delta.referrers);
    diff_members(image.countries, shipped.countries, delta.countries);
    delta.visitors =
        !image.visitors.empty() && !(shipped.visitors && *shipped.visitors == image.visitors);
    delta.sessions =
        !image.sessions.empty() && !(shipped.sessions && *shipped.sessions == image.sessions);
    return delta;
}

void record_shipped(Shipped& shipped, const DayImage& image, const DayDelta& delta) {
    for (const auto& [minute, change] : delta.minutes)
        shipped.minutes[static_cast<std::size_t>(minute)] += static_cast<std::uint64_t>(change);
    for (std::size_t d = 0; d < shipped.devices.size(); ++d)
        shipped.devices[d] += static_cast<std::uint64_t>(delta.devices[d]);
    apply_to(shipped.events, delta.events);
    apply_to(shipped.pages, delta.pages);
    apply_to(shipped.referrers, delta.referrers);
    apply_to(shipped.countries, delta.countries);
    if (delta.visitors)
        shipped.visitors = image.visitors;
    if (delta.sessions)
        shipped.sessions = image.sessions;
}

void for_each_checkpoint_field(const Shipped& shipped, const DayDelta& delta,
                               const std::function<void(const std::string&, std::uint64_t)>& fn) {
    std::string field;
    for (const auto& [minute, change] : delta.minutes) {
        field = "m:" + std::to_string(minute);
        fn(field,
           shipped.minutes[static_cast<std::size_t>(minute)] + static_cast<std::uint64_t>(change));
    }
    for (std::size_t d = 0; d < shipped.devices.size(); ++d) {
        if (delta.devices[d] == 0)
            continue;
        field = std::string("d:") + device_name(static_cast<Device>(d));
        fn(field, shipped.devices[d] + static_cast<std::uint64_t>(delta.devices[d]));
    }
    fields_of(shipped.events, "e:", delta.events, fn);
    fields_of(shipped.pages, "p:", delta.pages, fn);
    fields_of(shipped.referrers, "r:", delta.referrers, fn);
    fields_of(shipped.countries, "c:", delta.countries, fn);
}

Shipped parse_checkpoint(const std::vector<std::pair<std::string, std::string>>& fields,
                         std::size_t* bad) {
    Shipped shipped;
    std::size_t rejected = 0;
    for (const auto& [field, text] : fields) {
        std::uint64_t value = 0;
        if (field.size() < 2 || field[1] != ':' || !parse_u64(text, value)) {
            ++rejected;
            continue;
        }
        const std::string_view name = std::string_view(field).substr(2);
        bool known = true;
        switch (field[0]) {
            case 'm': {
                std::uint64_t minute = 0;
                known = parse_u64(name, minute) && minute < shipped.minutes.size();
                if (known)
                    shipped.minutes[minute] = value;
                break;
            }
            case 'd': {
                known = false;
                for (std::size_t d = 0; d < shipped.devices.size(); ++d) {
                    if (name == device_name(static_cast<Device>(d))) {
                        shipped.devices[d] = value;
                        known = true;
                    }
                }
                break;
            }
            case 'e':
                shipped.events[std::string(name)] = value;
                break;
            case 'p':
                shipped.pages[std::string(name)] = value;
                break;
            case 'r':
                shipped.referrers[std::string(name)] = value;
                break;
            case 'c':
                shipped.countries[std::string(name)] = value;
                break;
            default:
                known = false;
        }
        if (!known)
            ++rejected;
    }
    if (bad != nullptr)
        *bad = rejected;
    return shipped;
}

}  // namespace tally::mirror
