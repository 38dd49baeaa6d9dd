#include <charconv>

#include "tally/base/time.hpp"
#include "tally/query/query.hpp"

namespace tally::query {

namespace {

bool parse_digits(std::string_view text, int& out) {
    if (text.empty())
        return false;
    for (char c : text) {
        if (c < '0' || c > '9')
            return false;
    }
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && p == text.data() + text.size();
}

/// Monday of ISO week 1 of `year`: the week that holds January 4th.
std::int64_t iso_week1_monday(int year) {
    const std::int64_t jan4 = days_from_civil(year, 1, 4);
    // Day 0 (1970-01-01) was a Thursday; with Monday = 0 its weekday is 3.
    const std::int64_t weekday = ((jan4 + 3) % 7 + 7) % 7;
    return jan4 - weekday;
}

}  // namespace

std::optional<DayRange> parse_range(std::string_view text, std::int64_t now_ms) {
    if (text == "today") {
        const std::int64_t day = day_of(now_ms);
        return DayRange{day, day, format_day(day)};
    }
    if (auto day = parse_day(text))
        return DayRange{*day, *day, std::string(text)};

    int year = 0;
    int number = 0;
    if (text.size() == 8 && text[4] == '-' && (text[5] == 'W' || text[5] == 'w') &&
        parse_digits(text.substr(0, 4), year) && parse_digits(text.substr(6, 2), number)) {
        if (number < 1 || number > 53)
            return std::nullopt;
        const std::int64_t first = iso_week1_monday(year) + std::int64_t{number - 1} * 7;
        // Week 53 exists only when it still starts before the next year's week 1.
        if (first >= iso_week1_monday(year + 1))
            return std::nullopt;
        std::string label(text);
        label[5] = 'W';
        return DayRange{first, first + 6, label, store::Period::week};
    }
    if (text.size() == 7 && text[4] == '-' && parse_digits(text.substr(0, 4), year) &&
        parse_digits(text.substr(5, 2), number)) {
        if (number < 1 || number > 12)
            return std::nullopt;
        const std::int64_t first = days_from_civil(year, static_cast<unsigned>(number), 1);
        const std::int64_t next = number == 12
                                      ? days_from_civil(year + 1, 1, 1)
                                      : days_from_civil(year, static_cast<unsigned>(number + 1), 1);
        return DayRange{first, next - 1, std::string(text), store::Period::month};
    }
    return std::nullopt;
}

}  // namespace tally::query
