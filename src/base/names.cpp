#include "tally/base/names.hpp"

namespace tally {

namespace {

bool is_alnum(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

template <typename Allowed>
bool all_of_1_to_64(std::string_view text, Allowed allowed) {
    if (text.empty() || text.size() > 64)
        return false;
    for (char c : text) {
        if (!allowed(c))
            return false;
    }
    return true;
}

}  // namespace

bool valid_site(std::string_view site) {
    return all_of_1_to_64(site,
                          [](char c) { return is_alnum(c) || c == '.' || c == '_' || c == '-'; });
}

bool valid_event_name(std::string_view name) {
    return all_of_1_to_64(
        name, [](char c) { return is_alnum(c) || c == '_' || c == '.' || c == ':' || c == '-'; });
}

}  // namespace tally
